// MpiCommunicator: a Communicator over an MPI communicator.
//
// It owns a duplicate of the communicator it is built from (so its messages never
// collide with anyone else's), installs MPI_ERRORS_RETURN on it, and converts every
// MPI return code into a Status "MPI_<Call> failed on rank R of P: <MPI error string>".
// It is move-only; the duplicate is freed in the destructor. MPI stays behind a pimpl
// so this header does not include <mpi.h>.
//
// Counts are 64-bit. Where a count or displacement does not fit in an MPI int, the call
// is split at the MPI edge: Allreduce/Bcast/Send/Recv in chunks, Allgatherv as one
// broadcast per rank, Alltoall(v) as a pairwise exchange. This class is the transport:
// the pairwise exchange algorithm (which messages, in which order, chunked how) lives in
// pairwise_exchange.h, which plans a schedule that this class posts and waits for;
// ExchangeBlocks goes the same way.
//
// Topology: World() finds each rank's node (MPI_Comm_split_type SHARED) and keeps a node
// communicator and, on each node's first rank, a communicator of node leaders; the
// two-level algorithms (AllreduceAlgorithm::kHierarchical, AlltoallAlgorithm::
// kHierarchical) run over them.
// WithEmulatedNodes() groups consecutive ranks into pretend nodes instead, so tests on
// one host exercise the same code paths as a cluster.
//
// Threading: see communicator.h (MPI_THREAD_FUNNELED, the owning thread only).
#pragma once

#include <cstdint>
#include <memory>

#include "parallel/communicator.h"

namespace mpimoe::parallel {

class MpiEnvironment;
struct ExchangeSchedule;

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MpiCommunicator&&) noexcept;
  MpiCommunicator& operator=(MpiCommunicator&&) noexcept;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override;

  // A communicator over all processes (a dup of MPI_COMM_WORLD).
  static StatusOr<MpiCommunicator> World(const MpiEnvironment& env);

  // A communicator over all processes whose nodes are groups of `ranks_per_node`
  // consecutive ranks (the last may be smaller), wherever the ranks really run (tests).
  static StatusOr<MpiCommunicator> WithEmulatedNodes(const MpiEnvironment& env,
                                                     int ranks_per_node);

  // Splits this communicator: ranks with the same color form a group, ordered by key.
  // The group's nodes are found again (shared memory).
  StatusOr<MpiCommunicator> Split(int color, int key) const;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const Topology& topology() const override { return topology_; }

  // Largest element count one MPI call moves; larger transfers are chunked. Tests lower
  // it to exercise the chunked paths with small buffers. Default: INT32_MAX.
  void set_max_chunk_elements(int64_t n);
  int64_t max_chunk_elements() const { return max_chunk_elements_; }

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
  Status StartAllreduce(const void* send, void* recv, int64_t count, CollDType dtype,
                        ReduceOp op, Request* request) override;
  Status Reduce(const void* send, void* recv, int64_t count, CollDType dtype, ReduceOp op,
                int root) override;
  Status Allgather(const void* send, int64_t count, void* recv, CollDType dtype) override;
  Status Allgatherv(const void* send, int64_t count, void* recv,
                    const int64_t* recv_counts, const int64_t* recv_displs,
                    CollDType dtype) override;
  Status Bcast(void* data, int64_t count, CollDType dtype, int root) override;
  Status Barrier() override;
  Status Send(const void* data, int64_t count, CollDType dtype, int dest,
              int tag) override;
  Status Recv(void* data, int64_t count, CollDType dtype, int source, int tag) override;

  struct Handle;  // holds the MPI_Comm; defined in mpi_communicator.cc

 private:
  explicit MpiCommunicator(std::unique_ptr<Handle> handle);
  // A dup of MPI_COMM_WORLD with its node groups (BuildNodeGroups(node_color)).
  static StatusOr<MpiCommunicator> DupWorld(const MpiEnvironment& env, int node_color);
  // Finds the nodes (node_color < 0: shared memory; else the caller's node label) and
  // builds node_ and leaders_.
  Status BuildNodeGroups(int node_color);
  // Whether Allreduce goes through HierarchicalAllreduce (options_ and topology_).
  bool HierarchicalAllreduceChosen() const;
  // Whether ExchangeBlocks goes through HierarchicalExchangeBlocks.
  bool HierarchicalExchangeChosen() const;
  // ExchangeBlocks as one direct exchange of point-to-point messages.
  Status DirectExchangeBlocks(const void* send, const BlockTransfer* sends,
                              int64_t num_sends, void* recv, const BlockTransfer* recvs,
                              int64_t num_recvs, CollDType dtype);
  Status Check(int code, const char* call) const;
  // The MPI calls that errors of a schedule run are reported under.
  struct ScheduleCalls {
    const char* irecv;
    const char* isend;
    const char* waitall;
  };
  // Posts every receive of `schedule`, does its copies, posts every send (all on `tag`)
  // and waits for all of them.
  Status RunSchedule(const ExchangeSchedule& schedule, int tag,
                     const ScheduleCalls& calls, const void* send, void* recv,
                     CollDType dtype);
  // Alltoall(v) beyond the chunk limit: a pairwise exchange (pairwise_exchange.h).
  Status ChunkedPairwise(const void* send, const int64_t* send_counts,
                         const int64_t* send_displs, void* recv,
                         const int64_t* recv_counts, const int64_t* recv_displs,
                         CollDType dtype, const char* call);

  std::unique_ptr<Handle> handle_;
  int rank_ = 0;
  int size_ = 1;
  int64_t max_chunk_elements_;
  Topology topology_;
  // This rank's node and the node leaders (null off node rank 0); both null in the
  // node and leader groups themselves.
  std::unique_ptr<MpiCommunicator> node_;
  std::unique_ptr<MpiCommunicator> leaders_;
};

}  // namespace mpimoe::parallel
