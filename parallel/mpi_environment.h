// MpiEnvironment: MPI's lifetime in a process, as an object.
//
// Init() calls MPI_Init_thread asking for MPI_THREAD_FUNNELED (only the main thread
// calls MPI; OpenMP workers never do) and fails if the library provides less. It finds
// the node-local rank and size (MPI_Comm_split_type SHARED), labels log lines and check
// failures with "rank R", and sets the default OpenMP threads per rank: cores on the
// node / ranks on the node (at least 1, at most the cores this process may run on),
// unless OMP_NUM_THREADS is set. The destructor calls MPI_Finalize.
//
// There is one MpiEnvironment per process, created first in main and passed (by
// reference) to whatever builds communicators. Abort() ends the whole job: use it when a
// rank cannot go on, so that no other rank waits forever in a collective.
//
// Thread-safety: create, use and destroy on the main thread.
#pragma once

#include <memory>

#include "runtime/core/status.h"

namespace mpimoe::parallel {

class MpiEnvironment {
 public:
  static StatusOr<std::unique_ptr<MpiEnvironment>> Init(int* argc, char*** argv);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  // OpenMP threads each rank uses (set by Init as described above).
  int threads_per_rank() const { return threads_per_rank_; }

  // Prints `message` (if any) and ends every process of the job with `exit_code`.
  [[noreturn]] void Abort(int exit_code, const std::string& message) const;

 private:
  MpiEnvironment() = default;

  int world_rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int threads_per_rank_ = 1;
};

}  // namespace mpimoe::parallel
