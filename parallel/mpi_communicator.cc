#include "parallel/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "parallel/hierarchical_allreduce.h"
#include "parallel/hierarchical_exchange.h"
#include "parallel/mpi_environment.h"
#include "parallel/pairwise_exchange.h"

namespace mpimoe::parallel {
namespace {

// Tags of the messages of chunked collectives and block exchanges. Our communicators
// are private dups, so only user Send/Recv could collide; they must use tags below these.
constexpr int kChunkTag = 30000;
constexpr int kBlockTag = 30001;

MPI_Datatype ToMpi(CollDType dtype) {
  switch (dtype) {
    case CollDType::kByte:
      return MPI_BYTE;
    case CollDType::kInt32:
      return MPI_INT32_T;
    case CollDType::kInt64:
      return MPI_INT64_T;
    case CollDType::kFloat32:
      return MPI_FLOAT;
    case CollDType::kFloat64:
      return MPI_DOUBLE;
    case CollDType::kBFloat16:
      return MPI_UINT16_T;
  }
  return MPI_BYTE;
}

MPI_Op ToMpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

const char* At(const void* base, int64_t elements, CollDType dtype) {
  return static_cast<const char*>(base) + elements * CollDTypeSizeBytes(dtype);
}
char* At(void* base, int64_t elements, CollDType dtype) {
  return static_cast<char*>(base) + elements * CollDTypeSizeBytes(dtype);
}

// bf16 travels as raw 16-bit words; MPI has no bf16 arithmetic.
Status CheckReducible(CollDType dtype, const char* call) {
  if (dtype != CollDType::kBFloat16) return Status::Ok();
  return InvalidArgumentError(std::string(call) + ": bf16 values cannot be reduced");
}

std::string ErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

class MpiRequestImpl final : public Request::Impl {
 public:
  MpiRequestImpl(std::vector<MPI_Request> requests, Communicator* comm)
      : requests_(std::move(requests)),
        comm_(comm),
        rank_(comm->rank()),
        size_(comm->size()) {}
  Status Wait() override {
    Communicator::BusyScope busy(comm_);
    const int code = MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(),
                                 MPI_STATUSES_IGNORE);
    if (code == MPI_SUCCESS) return Status::Ok();
    return InternalError("MPI_Waitall (MPI_Iallreduce) failed on rank " +
                         std::to_string(rank_) + " of " + std::to_string(size_) + ": " +
                         ErrorString(code));
  }

 private:
  std::vector<MPI_Request> requests_;
  Communicator* comm_;
  int rank_;
  int size_;
};

// A request whose work runs when it is waited for.
class DeferredRequestImpl final : public Request::Impl {
 public:
  explicit DeferredRequestImpl(std::function<Status()> work) : work_(std::move(work)) {}
  Status Wait() override { return work_(); }

 private:
  std::function<Status()> work_;
};

}  // namespace

struct MpiCommunicator::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
  // Reused int arrays for the MPI-edge counts and displacements.
  std::vector<int> send_counts, send_displs, recv_counts, recv_displs;
  // The plan and the requests of pairwise exchanges, reused across calls.
  ExchangeSchedule schedule;
  HierarchicalExchangeBuffers hierarchical;
  std::vector<MPI_Request> requests;
};

MpiCommunicator::MpiCommunicator(std::unique_ptr<Handle> handle)
    : handle_(std::move(handle)), max_chunk_elements_(INT_MAX) {
  MPI_Comm_rank(handle_->comm, &rank_);
  MPI_Comm_size(handle_->comm, &size_);
  topology_ = Topology::SingleNode(size_);
}

MpiCommunicator::MpiCommunicator(MpiCommunicator&&) noexcept = default;
MpiCommunicator& MpiCommunicator::operator=(MpiCommunicator&&) noexcept = default;

MpiCommunicator::~MpiCommunicator() {
  if (handle_ != nullptr && handle_->comm != MPI_COMM_NULL) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&handle_->comm);
  }
}

StatusOr<MpiCommunicator> MpiCommunicator::DupWorld(const MpiEnvironment& env,
                                                    int node_color) {
  auto handle = std::make_unique<Handle>();
  int code = MPI_Comm_dup(MPI_COMM_WORLD, &handle->comm);
  if (code != MPI_SUCCESS) {
    return InternalError("MPI_Comm_dup failed on rank " +
                         std::to_string(env.world_rank()) + ": " + ErrorString(code));
  }
  MPI_Comm_set_errhandler(handle->comm, MPI_ERRORS_RETURN);
  MpiCommunicator world(std::move(handle));
  MPIMOE_RETURN_IF_ERROR(world.BuildNodeGroups(node_color));
  return world;
}

StatusOr<MpiCommunicator> MpiCommunicator::World(const MpiEnvironment& env) {
  return DupWorld(env, -1);
}

StatusOr<MpiCommunicator> MpiCommunicator::WithEmulatedNodes(const MpiEnvironment& env,
                                                             int ranks_per_node) {
  if (ranks_per_node < 1) {
    return InvalidArgumentError("WithEmulatedNodes: ranks_per_node " +
                                std::to_string(ranks_per_node) + " < 1");
  }
  return DupWorld(env, env.world_rank() / ranks_per_node);
}

StatusOr<MpiCommunicator> MpiCommunicator::Split(int color, int key) const {
  auto handle = std::make_unique<Handle>();
  MPIMOE_RETURN_IF_ERROR(
      Check(MPI_Comm_split(handle_->comm, color, key, &handle->comm), "MPI_Comm_split"));
  MPI_Comm_set_errhandler(handle->comm, MPI_ERRORS_RETURN);
  MpiCommunicator group(std::move(handle));
  MPIMOE_RETURN_IF_ERROR(group.BuildNodeGroups(-1));
  return group;
}

Status MpiCommunicator::BuildNodeGroups(int node_color) {
  auto node = std::make_unique<Handle>();
  if (node_color < 0) {
    MPIMOE_RETURN_IF_ERROR(Check(MPI_Comm_split_type(handle_->comm, MPI_COMM_TYPE_SHARED,
                                                     rank_, MPI_INFO_NULL, &node->comm),
                                 "MPI_Comm_split_type"));
  } else {
    MPIMOE_RETURN_IF_ERROR(
        Check(MPI_Comm_split(handle_->comm, node_color, rank_, &node->comm),
              "MPI_Comm_split (nodes)"));
  }
  MPI_Comm_set_errhandler(node->comm, MPI_ERRORS_RETURN);
  node_.reset(new MpiCommunicator(std::move(node)));
  // A node's label is the rank of its first rank; all-gathered, they number the nodes.
  int32_t label = rank_;
  MPIMOE_RETURN_IF_ERROR(node_->Bcast(&label, 1, CollDType::kInt32, 0));
  std::vector<int32_t> labels(static_cast<size_t>(size_));
  MPIMOE_RETURN_IF_ERROR(Allgather(&label, 1, labels.data(), CollDType::kInt32));
  topology_ = Topology::FromLabels(labels);

  auto leaders = std::make_unique<Handle>();
  const int leader_color = node_->rank() == 0 ? 0 : MPI_UNDEFINED;
  MPIMOE_RETURN_IF_ERROR(
      Check(MPI_Comm_split(handle_->comm, leader_color, rank_, &leaders->comm),
            "MPI_Comm_split (node leaders)"));
  if (leaders->comm != MPI_COMM_NULL) {
    MPI_Comm_set_errhandler(leaders->comm, MPI_ERRORS_RETURN);
    leaders_.reset(new MpiCommunicator(std::move(leaders)));
    std::vector<int32_t> own(static_cast<size_t>(leaders_->size_));
    for (size_t i = 0; i < own.size(); ++i) own[i] = static_cast<int32_t>(i);
    leaders_->topology_ = Topology::FromLabels(own);  // one node per leader
  }
  return Status::Ok();
}

bool MpiCommunicator::HierarchicalAllreduceChosen() const {
  if (node_ == nullptr) return false;
  switch (options_.allreduce) {
    case AllreduceAlgorithm::kFlat:
      return false;
    case AllreduceAlgorithm::kHierarchical:
      return true;
    case AllreduceAlgorithm::kAuto:
      return topology_.is_hierarchical() && !topology_.nodes_contiguous();
  }
  return false;
}

void MpiCommunicator::set_max_chunk_elements(int64_t n) {
  MPIMOE_CHECK(n >= 1 && n <= INT_MAX);
  max_chunk_elements_ = n;
}

Status MpiCommunicator::Check(int code, const char* call) const {
  if (code == MPI_SUCCESS) return Status::Ok();
  return InternalError(std::string(call) + " failed on rank " + std::to_string(rank_) +
                       " of " + std::to_string(size_) + ": " + ErrorString(code));
}

Status MpiCommunicator::Alltoall(const void* send, void* recv, int64_t count_per_rank,
                                 CollDType dtype) {
  BusyScope busy(this);
  if (count_per_rank <= max_chunk_elements_ &&
      count_per_rank * size_ <= max_chunk_elements_) {
    return Check(
        MPI_Alltoall(send, static_cast<int>(count_per_rank), ToMpi(dtype), recv,
                     static_cast<int>(count_per_rank), ToMpi(dtype), handle_->comm),
        "MPI_Alltoall");
  }
  std::vector<int64_t> counts(static_cast<size_t>(size_), count_per_rank);
  std::vector<int64_t> displs(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) displs[static_cast<size_t>(r)] = r * count_per_rank;
  return ChunkedPairwise(send, counts.data(), displs.data(), recv, counts.data(),
                         displs.data(), dtype, "MPI_Alltoall");
}

Status MpiCommunicator::Alltoallv(const void* send, const int64_t* send_counts,
                                  const int64_t* send_displs, void* recv,
                                  const int64_t* recv_counts, const int64_t* recv_displs,
                                  CollDType dtype) {
  BusyScope busy(this);
  bool fits = true;
  for (int r = 0; r < size_; ++r) {
    if (send_counts[r] < 0 || recv_counts[r] < 0) {
      return InvalidArgumentError("Alltoallv on rank " + std::to_string(rank_) +
                                  ": negative count for rank " + std::to_string(r));
    }
    fits = fits && send_counts[r] <= max_chunk_elements_ &&
           send_displs[r] <= max_chunk_elements_ &&
           recv_counts[r] <= max_chunk_elements_ && recv_displs[r] <= max_chunk_elements_;
  }
  if (!fits) {
    return ChunkedPairwise(send, send_counts, send_displs, recv, recv_counts, recv_displs,
                           dtype, "MPI_Alltoallv");
  }
  Handle& h = *handle_;
  h.send_counts.resize(static_cast<size_t>(size_));
  h.send_displs.resize(static_cast<size_t>(size_));
  h.recv_counts.resize(static_cast<size_t>(size_));
  h.recv_displs.resize(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    h.send_counts[static_cast<size_t>(r)] = static_cast<int>(send_counts[r]);
    h.send_displs[static_cast<size_t>(r)] = static_cast<int>(send_displs[r]);
    h.recv_counts[static_cast<size_t>(r)] = static_cast<int>(recv_counts[r]);
    h.recv_displs[static_cast<size_t>(r)] = static_cast<int>(recv_displs[r]);
  }
  return Check(
      MPI_Alltoallv(send, h.send_counts.data(), h.send_displs.data(), ToMpi(dtype), recv,
                    h.recv_counts.data(), h.recv_displs.data(), ToMpi(dtype), h.comm),
      "MPI_Alltoallv");
}

Status MpiCommunicator::RunSchedule(const ExchangeSchedule& schedule, int tag,
                                    const ScheduleCalls& calls, const void* send,
                                    void* recv, CollDType dtype) {
  std::vector<MPI_Request>& requests = handle_->requests;
  requests.clear();
  // A post that fails cancels and frees the requests posted before it, so an error
  // leaves nothing in flight on this rank.
  auto abandon = [&requests](Status error) {
    requests.pop_back();  // the request whose post failed was never started
    for (MPI_Request& r : requests) {
      MPI_Cancel(&r);
      MPI_Request_free(&r);
    }
    requests.clear();
    return error;
  };
  const MPI_Datatype type = ToMpi(dtype);
  for (const ExchangeMessage& m : schedule.receives) {
    requests.emplace_back();
    Status posted = Check(MPI_Irecv(At(recv, m.offset, dtype), static_cast<int>(m.count),
                                    type, m.peer, tag, handle_->comm, &requests.back()),
                          calls.irecv);
    if (!posted.ok()) return abandon(std::move(posted));
  }
  for (const ExchangeCopy& c : schedule.copies) {
    std::memmove(At(recv, c.recv_offset, dtype), At(send, c.send_offset, dtype),
                 static_cast<size_t>(c.count * CollDTypeSizeBytes(dtype)));
  }
  for (const ExchangeMessage& m : schedule.sends) {
    requests.emplace_back();
    Status posted = Check(MPI_Isend(At(send, m.offset, dtype), static_cast<int>(m.count),
                                    type, m.peer, tag, handle_->comm, &requests.back()),
                          calls.isend);
    if (!posted.ok()) return abandon(std::move(posted));
  }
  return Check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(),
                           MPI_STATUSES_IGNORE),
               calls.waitall);
}

Status MpiCommunicator::ChunkedPairwise(const void* send, const int64_t* send_counts,
                                        const int64_t* send_displs, void* recv,
                                        const int64_t* recv_counts,
                                        const int64_t* recv_displs, CollDType dtype,
                                        const char* call) {
  ExchangeSchedule& schedule = handle_->schedule;
  MPIMOE_RETURN_IF_ERROR(PlanPairwiseAlltoallv(rank_, size_, send_counts, send_displs,
                                               recv_counts, recv_displs,
                                               max_chunk_elements_, call, &schedule));
  return RunSchedule(schedule, kChunkTag, {call, call, call}, send, recv, dtype);
}

Status MpiCommunicator::ExchangeBlocks(const void* send, const BlockTransfer* sends,
                                       int64_t num_sends, void* recv,
                                       const BlockTransfer* recvs, int64_t num_recvs,
                                       CollDType dtype) {
  BusyScope busy(this);
  if (HierarchicalExchangeChosen()) {
    const DirectExchangeFn direct = [this](const void* s, const BlockTransfer* ss,
                                           int64_t ns, void* r, const BlockTransfer* rs,
                                           int64_t nr, CollDType t) {
      return DirectExchangeBlocks(s, ss, ns, r, rs, nr, t);
    };
    return HierarchicalExchangeBlocks(*this, *node_, direct, send, sends, num_sends, recv,
                                      recvs, num_recvs, dtype, &handle_->hierarchical);
  }
  return DirectExchangeBlocks(send, sends, num_sends, recv, recvs, num_recvs, dtype);
}

Status MpiCommunicator::DirectExchangeBlocks(const void* send, const BlockTransfer* sends,
                                             int64_t num_sends, void* recv,
                                             const BlockTransfer* recvs,
                                             int64_t num_recvs, CollDType dtype) {
  ExchangeSchedule& schedule = handle_->schedule;
  MPIMOE_RETURN_IF_ERROR(PlanBlockExchange(rank_, size_, sends, num_sends, recvs,
                                           num_recvs, max_chunk_elements_, &schedule));
  return RunSchedule(schedule, kBlockTag,
                     {"MPI_Irecv (ExchangeBlocks)", "MPI_Isend (ExchangeBlocks)",
                      "MPI_Waitall (ExchangeBlocks)"},
                     send, recv, dtype);
}

bool MpiCommunicator::HierarchicalExchangeChosen() const {
  if (node_ == nullptr || options_.alltoall != AlltoallAlgorithm::kHierarchical)
    return false;
  return HierarchicalExchangeApplies(topology_);
}

Status MpiCommunicator::Allreduce(const void* send, void* recv, int64_t count,
                                  CollDType dtype, ReduceOp op) {
  BusyScope busy(this);
  MPIMOE_RETURN_IF_ERROR(CheckReducible(dtype, "Allreduce"));
  if (HierarchicalAllreduceChosen()) {
    return HierarchicalAllreduce(*node_, leaders_.get(), send, recv, count, dtype, op)
        .WithContext("hierarchical all-reduce on rank " + std::to_string(rank_));
  }
  for (int64_t done = 0; done < count; done += max_chunk_elements_) {
    const int n = static_cast<int>(std::min(max_chunk_elements_, count - done));
    const void* src = send == recv ? MPI_IN_PLACE : At(send, done, dtype);
    MPIMOE_RETURN_IF_ERROR(Check(MPI_Allreduce(src, At(recv, done, dtype), n,
                                               ToMpi(dtype), ToMpi(op), handle_->comm),
                                 "MPI_Allreduce"));
  }
  return Status::Ok();
}

Status MpiCommunicator::StartAllreduce(const void* send, void* recv, int64_t count,
                                       CollDType dtype, ReduceOp op, Request* request) {
  MPIMOE_RETURN_IF_ERROR(CheckReducible(dtype, "StartAllreduce"));
  if (HierarchicalAllreduceChosen()) {
    // Its three stages run one after another when the request is waited for.
    *request = Request(
        std::make_unique<DeferredRequestImpl>([this, send, recv, count, dtype, op] {
          return Allreduce(send, recv, count, dtype, op);
        }));
    return Status::Ok();
  }
  std::vector<MPI_Request> requests;
  for (int64_t done = 0; done < count; done += max_chunk_elements_) {
    const int n = static_cast<int>(std::min(max_chunk_elements_, count - done));
    const void* src = send == recv ? MPI_IN_PLACE : At(send, done, dtype);
    requests.emplace_back();
    MPIMOE_RETURN_IF_ERROR(
        Check(MPI_Iallreduce(src, At(recv, done, dtype), n, ToMpi(dtype), ToMpi(op),
                             handle_->comm, &requests.back()),
              "MPI_Iallreduce"));
  }
  *request = Request(std::make_unique<MpiRequestImpl>(std::move(requests), this));
  return Status::Ok();
}

Status MpiCommunicator::Reduce(const void* send, void* recv, int64_t count,
                               CollDType dtype, ReduceOp op, int root) {
  BusyScope busy(this);
  MPIMOE_RETURN_IF_ERROR(CheckReducible(dtype, "Reduce"));
  if (root < 0 || root >= size_) {
    return InvalidArgumentError("Reduce root " + std::to_string(root) + " of " +
                                std::to_string(size_) + " ranks");
  }
  for (int64_t done = 0; done < count; done += max_chunk_elements_) {
    const int n = static_cast<int>(std::min(max_chunk_elements_, count - done));
    const void* src =
        send == recv && rank_ == root ? MPI_IN_PLACE : At(send, done, dtype);
    void* dst = rank_ == root ? At(recv, done, dtype) : nullptr;
    MPIMOE_RETURN_IF_ERROR(
        Check(MPI_Reduce(src, dst, n, ToMpi(dtype), ToMpi(op), root, handle_->comm),
              "MPI_Reduce"));
  }
  return Status::Ok();
}

Status MpiCommunicator::Allgather(const void* send, int64_t count, void* recv,
                                  CollDType dtype) {
  BusyScope busy(this);
  if (count * size_ <= max_chunk_elements_) {
    return Check(MPI_Allgather(send, static_cast<int>(count), ToMpi(dtype), recv,
                               static_cast<int>(count), ToMpi(dtype), handle_->comm),
                 "MPI_Allgather");
  }
  std::vector<int64_t> counts(static_cast<size_t>(size_), count);
  std::vector<int64_t> displs(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) displs[static_cast<size_t>(r)] = r * count;
  return Allgatherv(send, count, recv, counts.data(), displs.data(), dtype);
}

Status MpiCommunicator::Allgatherv(const void* send, int64_t count, void* recv,
                                   const int64_t* recv_counts, const int64_t* recv_displs,
                                   CollDType dtype) {
  BusyScope busy(this);
  if (recv_counts[rank_] != count) {
    return InvalidArgumentError("Allgatherv on rank " + std::to_string(rank_) +
                                ": sends " + std::to_string(count) +
                                " elements but recv_counts says " +
                                std::to_string(recv_counts[rank_]));
  }
  bool fits = true;
  for (int r = 0; r < size_; ++r) {
    fits = fits && recv_counts[r] <= max_chunk_elements_ &&
           recv_displs[r] <= max_chunk_elements_;
  }
  if (fits) {
    Handle& h = *handle_;
    h.recv_counts.resize(static_cast<size_t>(size_));
    h.recv_displs.resize(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      h.recv_counts[static_cast<size_t>(r)] = static_cast<int>(recv_counts[r]);
      h.recv_displs[static_cast<size_t>(r)] = static_cast<int>(recv_displs[r]);
    }
    return Check(
        MPI_Allgatherv(send, static_cast<int>(count), ToMpi(dtype), recv,
                       h.recv_counts.data(), h.recv_displs.data(), ToMpi(dtype), h.comm),
        "MPI_Allgatherv");
  }
  // Large: each rank's block is broadcast from its owner (chunked by Bcast).
  std::memmove(At(recv, recv_displs[rank_], dtype), send,
               static_cast<size_t>(count * CollDTypeSizeBytes(dtype)));
  for (int r = 0; r < size_; ++r) {
    MPIMOE_RETURN_IF_ERROR(
        Bcast(At(recv, recv_displs[r], dtype), recv_counts[r], dtype, r));
  }
  return Status::Ok();
}

Status MpiCommunicator::Bcast(void* data, int64_t count, CollDType dtype, int root) {
  BusyScope busy(this);
  for (int64_t done = 0; done < count; done += max_chunk_elements_) {
    const int n = static_cast<int>(std::min(max_chunk_elements_, count - done));
    MPIMOE_RETURN_IF_ERROR(
        Check(MPI_Bcast(At(data, done, dtype), n, ToMpi(dtype), root, handle_->comm),
              "MPI_Bcast"));
  }
  return Status::Ok();
}

Status MpiCommunicator::Barrier() {
  BusyScope busy(this);
  return Check(MPI_Barrier(handle_->comm), "MPI_Barrier");
}

Status MpiCommunicator::Send(const void* data, int64_t count, CollDType dtype, int dest,
                             int tag) {
  BusyScope busy(this);
  if (tag < 0 || tag >= kChunkTag) {
    return InvalidArgumentError("Send tag " + std::to_string(tag) + " outside [0, " +
                                std::to_string(kChunkTag) + ")");
  }
  int64_t done = 0;
  do {
    const int n = static_cast<int>(std::min(max_chunk_elements_, count - done));
    MPIMOE_RETURN_IF_ERROR(
        Check(MPI_Send(At(data, done, dtype), n, ToMpi(dtype), dest, tag, handle_->comm),
              "MPI_Send"));
    done += n;
  } while (done < count);
  return Status::Ok();
}

Status MpiCommunicator::Recv(void* data, int64_t count, CollDType dtype, int source,
                             int tag) {
  BusyScope busy(this);
  int64_t done = 0;
  do {
    const int n = static_cast<int>(std::min(max_chunk_elements_, count - done));
    MPI_Status status;
    MPIMOE_RETURN_IF_ERROR(Check(MPI_Recv(At(data, done, dtype), n, ToMpi(dtype), source,
                                          tag, handle_->comm, &status),
                                 "MPI_Recv"));
    int received = 0;
    MPI_Get_count(&status, ToMpi(dtype), &received);
    if (received != n) {
      return InternalError("MPI_Recv on rank " + std::to_string(rank_) + " of " +
                           std::to_string(size_) + ": expected " + std::to_string(n) +
                           " elements from rank " + std::to_string(source) + ", got " +
                           std::to_string(received));
    }
    done += n;
  } while (done < count);
  return Status::Ok();
}

}  // namespace mpimoe::parallel
