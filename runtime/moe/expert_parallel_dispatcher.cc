#include "runtime/moe/expert_parallel_dispatcher.h"

#include <cstring>

#include "parallel/collectives.h"

namespace mpimoe::moe {
namespace {

void CopyRows(const float* src, float* dst, int64_t num_rows, int64_t d) {
  if (num_rows > 0)
    std::memcpy(dst, src, static_cast<size_t>(num_rows * d) * sizeof(float));
}

}  // namespace

StatusOr<std::unique_ptr<ExpertParallelDispatcher>> ExpertParallelDispatcher::Create(
    parallel::Communicator* comm, const parallel::Plan& plan) {
  MPIMOE_RETURN_IF_ERROR(plan.Validate());
  if (plan.world_size != comm->size()) {
    return InvalidArgumentError("plan is for " + std::to_string(plan.world_size) +
                                " ranks, the communicator has " +
                                std::to_string(comm->size()));
  }
  return std::unique_ptr<ExpertParallelDispatcher>(
      new ExpertParallelDispatcher(comm, plan));
}

ExpertParallelDispatcher::ExpertParallelDispatcher(parallel::Communicator* comm,
                                                   const parallel::Plan& plan)
    : comm_(comm),
      plan_(plan),
      max_slots_(plan.max_slots_per_rank()),
      bucket_begins_(plan.BucketBegins()),
      local_slot_experts_(plan.rank_slots[static_cast<size_t>(comm->rank())]),
      expert_buckets_(plan.HomeBuckets()) {
  const size_t ranks = static_cast<size_t>(comm->size());
  send_slot_rows_.resize(ranks * static_cast<size_t>(max_slots_));
  recv_slot_rows_.resize(ranks * static_cast<size_t>(max_slots_));
  send_counts_.resize(ranks);
  send_displs_.resize(ranks);
  recv_counts_.resize(ranks);
  recv_displs_.resize(ranks);
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
                                            std::span<int64_t>(recv_slot_rows_)));

  handle->send_rank_rows.resize(static_cast<size_t>(ranks));
  handle->send_rank_offsets.resize(static_cast<size_t>(ranks));
  handle->recv_rank_rows.resize(static_cast<size_t>(ranks));
  handle->recv_rank_offsets.resize(static_cast<size_t>(ranks));
  int64_t recv_total = 0;
  for (int r = 0; r < ranks; ++r) {
    const size_t ru = static_cast<size_t>(r);
    handle->send_rank_offsets[ru] = send_bucket_offsets[bucket_begins_[ru]];
    handle->send_rank_rows[ru] = send_bucket_offsets[bucket_begins_[ru + 1]] -
                                 send_bucket_offsets[bucket_begins_[ru]];
    int64_t from_r = 0;
    for (int64_t s = 0; s < slots; ++s)
      from_r += recv_slot_rows_[static_cast<size_t>(r * slots + s)];
    handle->recv_rank_rows[ru] = from_r;
    handle->recv_rank_offsets[ru] = recv_total;
    recv_total += from_r;
  }
  handle->num_send_rows = send_bucket_offsets[bucket_begins_.back()];
  handle->num_recv_rows = recv_total;

  // Slot order: slot s holds the rows of every source rank, in rank order.
  const int64_t local_slots = num_local_slots();
  handle->recv_slot_offsets.assign(static_cast<size_t>(local_slots) + 1, 0);
  for (int64_t s = 0; s < local_slots; ++s) {
    int64_t rows = 0;
    for (int r = 0; r < ranks; ++r)
      rows += recv_slot_rows_[static_cast<size_t>(r * slots + s)];
    handle->recv_slot_offsets[static_cast<size_t>(s) + 1] =
        handle->recv_slot_offsets[static_cast<size_t>(s)] + rows;
  }
  handle->blocks.clear();
  int sources_with_rows = 0;
  for (int r = 0; r < ranks; ++r)
    sources_with_rows += handle->recv_rank_rows[static_cast<size_t>(r)] > 0;
  handle->staging_is_slot_order = sources_with_rows <= 1 || local_slots <= 1;
  if (!handle->staging_is_slot_order) {
    std::vector<int64_t>& cursor = slot_cursor_;
    cursor.assign(handle->recv_slot_offsets.begin(), handle->recv_slot_offsets.end() - 1);
    for (int r = 0; r < ranks; ++r) {
      int64_t staging_row = handle->recv_rank_offsets[static_cast<size_t>(r)];
      for (int64_t s = 0; s < local_slots; ++s) {
        const int64_t rows = recv_slot_rows_[static_cast<size_t>(r * slots + s)];
        if (rows == 0) continue;
        handle->blocks.push_back({staging_row, cursor[static_cast<size_t>(s)], rows});
        cursor[static_cast<size_t>(s)] += rows;
        staging_row += rows;
      }
    }
  }
  return Status::Ok();
}

void ExpertParallelDispatcher::ScaleCounts(const std::vector<int64_t>& rows, int64_t d,
                                           std::vector<int64_t>* out) {
  out->resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) (*out)[i] = rows[i] * d;
}

Status ExpertParallelDispatcher::ToExperts(const DispatchHandle& handle,
                                           const float* send, float* recv, int64_t d) {
  float* target = recv;
  if (!handle.staging_is_slot_order) {
    staging_.Resize(DType::kF32, {handle.num_recv_rows, d});
    target = staging_.data<float>();
  }
  ScaleCounts(handle.send_rank_rows, d, &send_counts_);
  ScaleCounts(handle.send_rank_offsets, d, &send_displs_);
  ScaleCounts(handle.recv_rank_rows, d, &recv_counts_);
  ScaleCounts(handle.recv_rank_offsets, d, &recv_displs_);
  MPIMOE_RETURN_IF_ERROR(comm_->Alltoallv(
      send, send_counts_.data(), send_displs_.data(), target, recv_counts_.data(),
      recv_displs_.data(), parallel::CollDType::kFloat32));
  for (const DispatchHandle::Block& b : handle.blocks) {
    CopyRows(target + b.staging_row * d, recv + b.slot_row * d, b.num_rows, d);
  }
  return Status::Ok();
}

Status ExpertParallelDispatcher::FromExperts(const DispatchHandle& handle,
                                             const float* recv, float* send, int64_t d) {
  const float* source = recv;
  if (!handle.staging_is_slot_order) {
    staging_.Resize(DType::kF32, {handle.num_recv_rows, d});
    for (const DispatchHandle::Block& b : handle.blocks) {
      CopyRows(recv + b.slot_row * d, staging_.data<float>() + b.staging_row * d,
               b.num_rows, d);
    }
    source = staging_.data<float>();
  }
  // The reverse direction: what arrived from rank r goes back to rank r.
  ScaleCounts(handle.recv_rank_rows, d, &send_counts_);
  ScaleCounts(handle.recv_rank_offsets, d, &send_displs_);
  ScaleCounts(handle.send_rank_rows, d, &recv_counts_);
  ScaleCounts(handle.send_rank_offsets, d, &recv_displs_);
  return comm_->Alltoallv(source, send_counts_.data(), send_displs_.data(), send,
                          recv_counts_.data(), recv_displs_.data(),
                          parallel::CollDType::kFloat32);
}

}  // namespace mpimoe::moe
