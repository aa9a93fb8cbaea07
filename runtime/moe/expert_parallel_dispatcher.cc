#include "runtime/moe/expert_parallel_dispatcher.h"

#include "ops/bf16_convert.h"
#include "parallel/collectives.h"

namespace mpimoe::moe {

StatusOr<std::unique_ptr<ExpertParallelDispatcher>> ExpertParallelDispatcher::Create(
    parallel::Communicator* comm, const parallel::Plan& plan, WireDType wire) {
  MPIMOE_RETURN_IF_ERROR(plan.Validate());
  if (plan.world_size != comm->size()) {
    return InvalidArgumentError("plan is for " + std::to_string(plan.world_size) +
                                " ranks, the communicator has " +
                                std::to_string(comm->size()));
  }
  return std::unique_ptr<ExpertParallelDispatcher>(
      new ExpertParallelDispatcher(comm, plan, wire));
}

ExpertParallelDispatcher::ExpertParallelDispatcher(parallel::Communicator* comm,
                                                   const parallel::Plan& plan,
                                                   WireDType wire)
    : comm_(comm), wire_(wire) {
  SetPlan(plan).IgnoreError();  // validated by Create
}

Status ExpertParallelDispatcher::SetPlan(const parallel::Plan& plan) {
  MPIMOE_RETURN_IF_ERROR(plan.Validate());
  if (plan.world_size != comm_->size()) {
    return InvalidArgumentError("plan is for " + std::to_string(plan.world_size) +
                                " ranks, the communicator has " +
                                std::to_string(comm_->size()));
  }
  plan_ = plan;
  max_slots_ = plan.max_slots_per_rank();
  bucket_begins_ = plan.BucketBegins();
  local_slot_experts_ = plan.rank_slots[static_cast<size_t>(comm_->rank())];
  expert_buckets_ = plan.HomeBuckets();
  expert_copies_ = plan.ExpertCopies();
  const size_t ranks = static_cast<size_t>(comm_->size());
  send_slot_rows_.assign(ranks * static_cast<size_t>(max_slots_), 0);
  recv_slot_rows_.assign(ranks * static_cast<size_t>(max_slots_), 0);
  return Status::Ok();
}

Status ExpertParallelDispatcher::Prepare(const int64_t* send_bucket_offsets,
                                         DispatchHandle* handle) {
  const int ranks = comm_->size();
  const int64_t slots = max_slots_;
  // Rows for each (destination rank, slot), padded to max_slots per rank.
  std::fill(send_slot_rows_.begin(), send_slot_rows_.end(), 0);
  for (int r = 0; r < ranks; ++r) {
    for (int64_t s = 0; s < plan_.num_slots(r); ++s) {
      const int64_t bucket = bucket_begins_[static_cast<size_t>(r)] + s;
      send_slot_rows_[static_cast<size_t>(r * slots + s)] =
          send_bucket_offsets[bucket + 1] - send_bucket_offsets[bucket];
    }
  }
  MPIMOE_RETURN_IF_ERROR(parallel::Alltoall(*comm_,
                                            std::span<const int64_t>(send_slot_rows_),
                                            std::span<int64_t>(recv_slot_rows_))
                             .WithContext("dispatch count exchange"));

  // Send blocks: bucket b of rank r is (r, slot b - begin[r]), already contiguous.
  handle->send_rank_rows.assign(static_cast<size_t>(ranks), 0);
  handle->recv_rank_rows.assign(static_cast<size_t>(ranks), 0);
  handle->send_blocks.clear();
  for (int r = 0; r < ranks; ++r) {
    for (int64_t s = 0; s < plan_.num_slots(r); ++s) {
      const int64_t bucket = bucket_begins_[static_cast<size_t>(r)] + s;
      const int64_t rows = send_slot_rows_[static_cast<size_t>(r * slots + s)];
      handle->send_rank_rows[static_cast<size_t>(r)] += rows;
      if (rows > 0) handle->send_blocks.push_back({r, send_bucket_offsets[bucket], rows});
    }
  }
  handle->num_send_rows = send_bucket_offsets[bucket_begins_.back()];

  // Receive side, slot order: slot s holds the rows of every source rank, in rank order.
  const int64_t local_slots = num_local_slots();
  handle->recv_slot_offsets.assign(static_cast<size_t>(local_slots) + 1, 0);
  for (int64_t s = 0; s < local_slots; ++s) {
    int64_t rows = 0;
    for (int r = 0; r < ranks; ++r)
      rows += recv_slot_rows_[static_cast<size_t>(r * slots + s)];
    handle->recv_slot_offsets[static_cast<size_t>(s) + 1] =
        handle->recv_slot_offsets[static_cast<size_t>(s)] + rows;
  }
  handle->num_recv_rows = handle->recv_slot_offsets.back();
  // Receive blocks, listed per source in slot order (the order that source sends them).
  slot_cursor_.assign(handle->recv_slot_offsets.begin(),
                      handle->recv_slot_offsets.end() - 1);
  handle->recv_blocks.clear();
  for (int r = 0; r < ranks; ++r) {
    for (int64_t s = 0; s < local_slots; ++s) {
      const int64_t rows = recv_slot_rows_[static_cast<size_t>(r * slots + s)];
      handle->recv_rank_rows[static_cast<size_t>(r)] += rows;
      if (rows == 0) continue;
      handle->recv_blocks.push_back({r, slot_cursor_[static_cast<size_t>(s)], rows});
      slot_cursor_[static_cast<size_t>(s)] += rows;
    }
  }
  return Status::Ok();
}

void ExpertParallelDispatcher::ScaleBlocks(
    const std::vector<parallel::BlockTransfer>& blocks, int64_t d,
    std::vector<parallel::BlockTransfer>* out) {
  out->resize(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    (*out)[i] = {blocks[i].peer, blocks[i].offset * d, blocks[i].count * d};
  }
}

Status ExpertParallelDispatcher::Exchange(
    const float* send, const std::vector<parallel::BlockTransfer>& send_blocks,
    int64_t num_send_rows, float* recv,
    const std::vector<parallel::BlockTransfer>& recv_blocks, int64_t num_recv_rows,
    int64_t d) {
  ScaleBlocks(send_blocks, d, &send_elements_);
  ScaleBlocks(recv_blocks, d, &recv_elements_);
  const int64_t num_sends = static_cast<int64_t>(send_elements_.size());
  const int64_t num_recvs = static_cast<int64_t>(recv_elements_.size());
  if (wire_ == WireDType::kF32) {
    return comm_->ExchangeBlocks(send, send_elements_.data(), num_sends, recv,
                                 recv_elements_.data(), num_recvs,
                                 parallel::CollDType::kFloat32);
  }
  if (send_wire_.size() < static_cast<size_t>(num_send_rows * d))
    send_wire_.resize(static_cast<size_t>(num_send_rows * d));
  if (recv_wire_.size() < static_cast<size_t>(num_recv_rows * d))
    recv_wire_.resize(static_cast<size_t>(num_recv_rows * d));
  ops::F32ToBf16(send, send_wire_.data(), num_send_rows * d);
  MPIMOE_RETURN_IF_ERROR(comm_->ExchangeBlocks(
      send_wire_.data(), send_elements_.data(), num_sends, recv_wire_.data(),
      recv_elements_.data(), num_recvs, parallel::CollDType::kBFloat16));
  ops::Bf16ToF32(recv_wire_.data(), recv, num_recv_rows * d);
  return Status::Ok();
}

Status ExpertParallelDispatcher::ToExperts(const DispatchHandle& handle,
                                           const float* send, float* recv, int64_t d) {
  return Exchange(send, handle.send_blocks, handle.num_send_rows, recv,
                  handle.recv_blocks, handle.num_recv_rows, d);
}

Status ExpertParallelDispatcher::FromExperts(const DispatchHandle& handle,
                                             const float* recv, float* send, int64_t d) {
  // The reverse: each received block goes back to where it came from.
  return Exchange(recv, handle.recv_blocks, handle.num_recv_rows, send,
                  handle.send_blocks, handle.num_send_rows, d);
}

}  // namespace mpimoe::moe
