#include "parallel/self_communicator.h"

#include <cstring>
#include <limits>

namespace mpimoe::parallel {
namespace {

// One rank sends no messages, so a block is never cut.
constexpr int64_t kNoChunkLimit = std::numeric_limits<int64_t>::max();

void Copy(const void* src, void* dst, int64_t count, CollDType dtype) {
  if (src == dst || count == 0) return;
  std::memmove(dst, src, static_cast<size_t>(count * CollDTypeSizeBytes(dtype)));
}

char* At(void* base, int64_t elements, CollDType dtype) {
  return static_cast<char*>(base) + elements * CollDTypeSizeBytes(dtype);
}
const char* At(const void* base, int64_t elements, CollDType dtype) {
  return static_cast<const char*>(base) + elements * CollDTypeSizeBytes(dtype);
}

// The copies of `schedule` (a one-rank schedule has nothing else) from send to recv.
void RunCopies(const ExchangeSchedule& schedule, const void* send, void* recv,
               CollDType dtype) {
  for (const ExchangeCopy& c : schedule.copies) {
    Copy(At(send, c.send_offset, dtype), At(recv, c.recv_offset, dtype), c.count, dtype);
  }
}

}  // namespace

Status SelfCommunicator::Alltoall(const void* send, void* recv, int64_t count_per_rank,
                                  CollDType dtype) {
  Copy(send, recv, count_per_rank, dtype);
  return Status::Ok();
}

Status SelfCommunicator::Alltoallv(const void* send, const int64_t* send_counts,
                                   const int64_t* send_displs, void* recv,
                                   const int64_t* recv_counts, const int64_t* recv_displs,
                                   CollDType dtype) {
  MPIMOE_RETURN_IF_ERROR(PlanPairwiseAlltoallv(0, 1, send_counts, send_displs,
                                               recv_counts, recv_displs, kNoChunkLimit,
                                               "Alltoallv", &schedule_));
  RunCopies(schedule_, send, recv, dtype);
  return Status::Ok();
}

Status SelfCommunicator::ExchangeBlocks(const void* send, const BlockTransfer* sends,
                                        int64_t num_sends, void* recv,
                                        const BlockTransfer* recvs, int64_t num_recvs,
                                        CollDType dtype) {
  MPIMOE_RETURN_IF_ERROR(PlanBlockExchange(0, 1, sends, num_sends, recvs, num_recvs,
                                           kNoChunkLimit, &schedule_));
  RunCopies(schedule_, send, recv, dtype);
  return Status::Ok();
}

Status SelfCommunicator::Allreduce(const void* send, void* recv, int64_t count,
                                   CollDType dtype, ReduceOp op) {
  if (dtype == CollDType::kBFloat16)
    return InvalidArgumentError("Allreduce: bf16 values cannot be reduced");
  Copy(send, recv, count, dtype);
  return Status::Ok();
}

Status SelfCommunicator::Reduce(const void* send, void* recv, int64_t count,
                                CollDType dtype, ReduceOp op, int root) {
  if (root != 0)
    return InvalidArgumentError("Reduce: root " + std::to_string(root) + " of 1 rank");
  return Allreduce(send, recv, count, dtype, op);
}

Status SelfCommunicator::StartAllreduce(const void* send, void* recv, int64_t count,
                                        CollDType dtype, ReduceOp op, Request* request) {
  *request = Request();
  return Allreduce(send, recv, count, dtype, op);
}

Status SelfCommunicator::Allgather(const void* send, int64_t count, void* recv,
                                   CollDType dtype) {
  Copy(send, recv, count, dtype);
  return Status::Ok();
}

Status SelfCommunicator::Allgatherv(const void* send, int64_t count, void* recv,
                                    const int64_t* recv_counts,
                                    const int64_t* recv_displs, CollDType dtype) {
  if (recv_counts[0] != count) {
    return InvalidArgumentError("Allgatherv on rank 0 of 1: count mismatch");
  }
  Copy(send, At(recv, recv_displs[0], dtype), count, dtype);
  return Status::Ok();
}

Status SelfCommunicator::Bcast(void* data, int64_t count, CollDType dtype, int root) {
  if (root != 0)
    return InvalidArgumentError("Bcast root " + std::to_string(root) + " of 1 rank");
  return Status::Ok();
}

Status SelfCommunicator::Send(const void*, int64_t, CollDType, int dest, int) {
  return InvalidArgumentError("Send to rank " + std::to_string(dest) +
                              " on a one-rank communicator would never complete");
}

Status SelfCommunicator::Recv(void*, int64_t, CollDType, int source, int) {
  return InvalidArgumentError("Recv from rank " + std::to_string(source) +
                              " on a one-rank communicator would never complete");
}

}  // namespace mpimoe::parallel
