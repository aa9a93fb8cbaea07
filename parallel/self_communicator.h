// SelfCommunicator: a communicator of one rank (rank 0 of size 1). Every collective
// copies send to recv; Send/Recv to oneself are an error (they would deadlock in MPI).
// It lets the same expert-parallel code run without MPI, e.g. in single-process tests
// and benchmarks: world size 1 is a case of the distributed path, not a second one.
// Alltoallv and ExchangeBlocks are planned by pairwise_exchange.h as on any world size
// (same checks, same messages), leaving only the copies of the blocks to oneself.
//
// Thread-safety: like every Communicator, used by one thread at a time (it keeps the
// last exchange's schedule, reused so that planning does not allocate).
#pragma once

#include "parallel/communicator.h"
#include "parallel/pairwise_exchange.h"

namespace mpimoe::parallel {

class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const Topology& topology() const override { return topology_; }

  Status Alltoall(const void* send, void* recv, int64_t count_per_rank,
                  CollDType dtype) override;
  Status Alltoallv(const void* send, const int64_t* send_counts,
                   const int64_t* send_displs, void* recv, const int64_t* recv_counts,
                   const int64_t* recv_displs, CollDType dtype) override;
  Status ExchangeBlocks(const void* send, const BlockTransfer* sends, int64_t num_sends,
                        void* recv, const BlockTransfer* recvs, int64_t num_recvs,
                        CollDType dtype) override;
  Status Allreduce(const void* send, void* recv, int64_t count, CollDType dtype,
                   ReduceOp op) override;
  Status Reduce(const void* send, void* recv, int64_t count, CollDType dtype, ReduceOp op,
                int root) override;
  Status StartAllreduce(const void* send, void* recv, int64_t count, CollDType dtype,
                        ReduceOp op, Request* request) override;
  Status Allgather(const void* send, int64_t count, void* recv, CollDType dtype) override;
  Status Allgatherv(const void* send, int64_t count, void* recv,
                    const int64_t* recv_counts, const int64_t* recv_displs,
                    CollDType dtype) override;
  Status Bcast(void* data, int64_t count, CollDType dtype, int root) override;
  Status Barrier() override { return Status::Ok(); }
  Status Send(const void* data, int64_t count, CollDType dtype, int dest,
              int tag) override;
  Status Recv(void* data, int64_t count, CollDType dtype, int source, int tag) override;

 private:
  ExchangeSchedule schedule_;
  Topology topology_ = Topology::SingleNode(1);
};

}  // namespace mpimoe::parallel
