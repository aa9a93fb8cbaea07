// Communicator: a group of ranks and the byte-level collectives mpimoe uses.
//
// Two implementations: MpiCommunicator (a dup of an MPI communicator, with
// MPI_ERRORS_RETURN) and SelfCommunicator (world size 1, every collective a copy). Code
// above parallel/ uses the typed front ends in collectives.h, never these virtuals
// directly, and never MPI.
//
// Conventions of every method:
// - counts and displacements are 64-bit and in elements of `dtype` (the MPI
//   implementation chunks at the MPI edge where they exceed int);
// - failures return a Status naming the MPI call, this rank and MPI's error string;
// - every rank of the group must make the same sequence of collective calls.
//
// Threading model: MPI is initialised with MPI_THREAD_FUNNELED. All calls on a
// communicator are made from the thread that owns it (the host thread of the rank);
// OpenMP worker threads never call MPI. Not thread-safe. A pending Request refers to
// its communicator: do not move or destroy a communicator while one is pending.
#pragma once

#include <cstdint>
#include <memory>

#include "parallel/coll_types.h"
#include "parallel/topology.h"
#include "runtime/core/status.h"

namespace mpimoe::parallel {

// A non-blocking operation in flight. Wait() completes it (once). Destroying a pending
// request waits for it and logs a failure rather than throwing or aborting.
class Request {
 public:
  class Impl {
   public:
    virtual ~Impl() = default;
    virtual Status Wait() = 0;
  };

  Request() = default;
  explicit Request(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
  Request(Request&&) noexcept = default;
  Request& operator=(Request&& other) noexcept;
  ~Request();

  bool pending() const { return impl_ != nullptr; }
  Status Wait();
  // Gives up on a pending request without waiting: for a rank that failed while
  // requests were in flight and is about to abort the job (waiting could block forever
  // on ranks stuck elsewhere). MPI may still write to the request's buffers, so their
  // owner must not free them either (GradSync::Abandon). Leaks the request.
  void Abandon() { impl_.release(); }

 private:
  std::unique_ptr<Impl> impl_;
};

// One block of a sparse exchange (Communicator::ExchangeBlocks): `count` elements at
// element `offset` of the buffer, sent to or received from `peer`.
struct BlockTransfer {
  int32_t peer = 0;
  int64_t offset = 0;
  int64_t count = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Which node each rank runs on (parallel/topology.h).
  virtual const Topology& topology() const = 0;

  // Seconds this rank has spent inside this communicator's calls (and waiting for its
  // requests) since it was made: time blocked on communication. Nested calls count
  // once. Callers take differences (e.g. per training step).
  double busy_seconds() const { return busy_seconds_; }
  // Adds the wall time of its scope to busy_seconds(), unless a scope is already open
  // (implementations open one in every call and in their requests' Wait).
  class BusyScope {
   public:
    explicit BusyScope(Communicator* comm);
    ~BusyScope();
    BusyScope(const BusyScope&) = delete;
    BusyScope& operator=(const BusyScope&) = delete;

   private:
    Communicator* comm_;
    bool outermost_;
    int64_t start_ns_ = 0;
  };

  // Algorithm choices (coll_types.h); every rank must set the same ones.
  void set_options(const CollectiveOptions& options) { options_ = options; }
  const CollectiveOptions& options() const { return options_; }

  // Every rank sends `count_per_rank` elements to every rank (send: [size * count],
  // recv: [size * count], blocks in rank order).
  virtual Status Alltoall(const void* send, void* recv, int64_t count_per_rank,
                          CollDType dtype) = 0;
  // Variable all-to-all: to rank r goes send[send_displs[r] .. + send_counts[r]); from
  // rank r arrives recv[recv_displs[r] .. + recv_counts[r]). Arrays are [size].
  virtual Status Alltoallv(const void* send, const int64_t* send_counts,
                           const int64_t* send_displs, void* recv,
                           const int64_t* recv_counts, const int64_t* recv_displs,
                           CollDType dtype) = 0;
  // A sparse all-to-all of blocks: every block in `sends` goes to its peer, every block
  // in `recvs` is filled from its peer. Between two ranks, the i-th send block from A to
  // B fills the i-th receive block on B from A, and their counts must agree (blocks to
  // oneself pair up the same way). Blocks land exactly where they are addressed, so a
  // receiver can scatter rows straight into their final layout without a staging copy.
  virtual Status ExchangeBlocks(const void* send, const BlockTransfer* sends,
                                int64_t num_sends, void* recv, const BlockTransfer* recvs,
                                int64_t num_recvs, CollDType dtype) = 0;
  // recv = op over ranks of send ([count] each); send == recv means in place.
  virtual Status Allreduce(const void* send, void* recv, int64_t count, CollDType dtype,
                           ReduceOp op) = 0;
  // recv (on `root` only; ignored elsewhere) = op over ranks of send ([count] each);
  // send == recv on the root means in place.
  virtual Status Reduce(const void* send, void* recv, int64_t count, CollDType dtype,
                        ReduceOp op, int root) = 0;
  // Non-blocking Allreduce; buffers must stay untouched until request->Wait().
  virtual Status StartAllreduce(const void* send, void* recv, int64_t count,
                                CollDType dtype, ReduceOp op, Request* request) = 0;
  // recv: [size * count], rank r's block at r * count.
  virtual Status Allgather(const void* send, int64_t count, void* recv,
                           CollDType dtype) = 0;
  // Rank r contributes recv_counts[r] elements, placed at recv_displs[r].
  virtual Status Allgatherv(const void* send, int64_t count, void* recv,
                            const int64_t* recv_counts, const int64_t* recv_displs,
                            CollDType dtype) = 0;
  virtual Status Bcast(void* data, int64_t count, CollDType dtype, int root) = 0;
  virtual Status Barrier() = 0;
  virtual Status Send(const void* data, int64_t count, CollDType dtype, int dest,
                      int tag) = 0;
  // Receives exactly `count` elements; a longer message is an error (truncation).
  virtual Status Recv(void* data, int64_t count, CollDType dtype, int source,
                      int tag) = 0;

 protected:
  CollectiveOptions options_;
  double busy_seconds_ = 0.0;
  int busy_depth_ = 0;
};

}  // namespace mpimoe::parallel
