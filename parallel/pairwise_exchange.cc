#include "parallel/pairwise_exchange.h"

#include <algorithm>
#include <string>

#include "runtime/core/check.h"

namespace mpimoe::parallel {
namespace {

// Cuts a block of `count` elements at `offset` into messages of at most `max_chunk`.
void AppendChunks(int32_t peer, int64_t offset, int64_t count, int64_t max_chunk,
                  std::vector<ExchangeMessage>* messages) {
  for (int64_t done = 0; done < count; done += max_chunk) {
    messages->push_back({peer, offset + done, std::min(max_chunk, count - done)});
  }
}

Status BadBlock(int rank, const char* kind, int64_t i, const BlockTransfer& b) {
  return InvalidArgumentError("ExchangeBlocks on rank " + std::to_string(rank) +
                              ": bad " + kind + " block " + std::to_string(i) +
                              " (peer " + std::to_string(b.peer) + ", " +
                              std::to_string(b.count) + " elements)");
}

Status SelfBlocksDoNotPairUp(int rank) {
  return InvalidArgumentError("ExchangeBlocks on rank " + std::to_string(rank) +
                              ": blocks to itself do not pair up");
}

}  // namespace

Status PlanPairwiseAlltoallv(int rank, int size, const int64_t* send_counts,
                             const int64_t* send_displs, const int64_t* recv_counts,
                             const int64_t* recv_displs, int64_t max_chunk_elements,
                             const char* call, ExchangeSchedule* schedule) {
  MPIMOE_CHECK(max_chunk_elements >= 1);
  schedule->Clear();
  if (send_counts[rank] != recv_counts[rank]) {
    return InvalidArgumentError(std::string(call) + " on rank " + std::to_string(rank) +
                                ": sends " + std::to_string(send_counts[rank]) +
                                " elements to itself but expects " +
                                std::to_string(recv_counts[rank]));
  }
  if (send_counts[rank] > 0) {
    schedule->copies.push_back({send_displs[rank], recv_displs[rank], send_counts[rank]});
  }
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    AppendChunks(r, recv_displs[r], recv_counts[r], max_chunk_elements,
                 &schedule->receives);
  }
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    AppendChunks(r, send_displs[r], send_counts[r], max_chunk_elements, &schedule->sends);
  }
  return Status::Ok();
}

Status PlanBlockExchange(int rank, int size, const BlockTransfer* sends,
                         int64_t num_sends, const BlockTransfer* recvs, int64_t num_recvs,
                         int64_t max_chunk_elements, ExchangeSchedule* schedule) {
  MPIMOE_CHECK(max_chunk_elements >= 1);
  schedule->Clear();
  int64_t self_sends = 0, self_recvs = 0;
  for (int64_t i = 0; i < num_recvs; ++i) {
    const BlockTransfer& b = recvs[i];
    if (b.peer < 0 || b.peer >= size || b.count < 0) {
      return BadBlock(rank, "receive", i, b);
    }
    self_recvs += b.peer == rank ? 1 : 0;
  }
  for (int64_t i = 0; i < num_sends; ++i) {
    const BlockTransfer& b = sends[i];
    if (b.peer < 0 || b.peer >= size || b.count < 0) return BadBlock(rank, "send", i, b);
    self_sends += b.peer == rank ? 1 : 0;
  }
  if (self_sends != self_recvs) return SelfBlocksDoNotPairUp(rank);

  for (int64_t i = 0; i < num_recvs; ++i) {
    const BlockTransfer& b = recvs[i];
    if (b.peer == rank) continue;
    AppendChunks(b.peer, b.offset, b.count, max_chunk_elements, &schedule->receives);
  }
  int64_t self_recv = 0;  // the next receive block that may be a self block
  for (int64_t i = 0; i < num_sends; ++i) {
    const BlockTransfer& b = sends[i];
    if (b.peer != rank) {
      AppendChunks(b.peer, b.offset, b.count, max_chunk_elements, &schedule->sends);
      continue;
    }
    while (recvs[self_recv].peer != rank) ++self_recv;
    if (recvs[self_recv].count != b.count) {
      schedule->Clear();
      return SelfBlocksDoNotPairUp(rank);
    }
    if (b.count > 0)
      schedule->copies.push_back({b.offset, recvs[self_recv].offset, b.count});
    ++self_recv;
  }
  return Status::Ok();
}

}  // namespace mpimoe::parallel
