// StopSignals: turns SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 into a "please stop" flag
// without interrupting anything. The signals are blocked in every thread (call
// BlockStopSignals() first thing in main, before MPI or OpenMP create threads, which
// inherit the mask) and a watcher thread takes them with sigtimedwait. A handler would
// instead run on whatever thread the signal hits and make its system call fail with
// EINTR (an MPI transport's single-copy read, for one), which can corrupt a transfer.
// A second signal ends the process at once (exit code 128 + signal), for a user who
// really means it.
//
// Ownership: a StopSignals object owns the watcher thread (joined by the destructor).
// Thread-safety: requested() may be read from any thread.
#pragma once

#include <atomic>
#include <thread>

namespace mpimoe {

// Blocks the stop signals in the calling thread (and so in threads it creates later).
void BlockStopSignals();

class StopSignals {
 public:
  StopSignals();  // starts the watcher; BlockStopSignals() must have run
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Set once a stop signal has arrived.
  const std::atomic<int>& requested() const { return requested_; }

 private:
  std::atomic<int> requested_{0};
  std::atomic<bool> quit_{false};
  std::thread watcher_;
};

}  // namespace mpimoe
