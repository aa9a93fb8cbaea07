// ExpertParallelDispatcher: the Dispatcher of expert parallelism over a Communicator.
//
// Prepare exchanges the row counts per (destination rank, slot) with one Alltoall of a
// [P, max_slots] matrix and turns them into blocks. ToExperts moves every (rank, slot)
// block of rows with one ExchangeBlocks call: nothing is packed (the layer already
// grouped rows by bucket, i.e. by destination rank and slot) and nothing is unpacked
// (each block lands directly at its slot's rows, sources in rank order). FromExperts is
// the exact reverse. With WireDType::kBF16 the rows are rounded into a bf16 staging
// buffer, exchanged, and widened into place (ops/bf16_convert.h). With world size 1
// (SelfCommunicator) it is the same code, and the exchange is a copy: there is no
// separate single-rank dispatcher.
//
// Ownership: borrows the Communicator (it must outlive the dispatcher), copies the
// Plan, owns the count scratch (grown, then reused every step).
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/communicator.h"
#include "parallel/plan.h"
#include "runtime/moe/dispatcher.h"

namespace mpimoe::moe {

class ExpertParallelDispatcher final : public Dispatcher {
 public:
  // InvalidArgument if the plan is invalid or is for another world size.
  static StatusOr<std::unique_ptr<ExpertParallelDispatcher>> Create(
      parallel::Communicator* comm, const parallel::Plan& plan,
      WireDType wire = WireDType::kF32);

  int64_t num_buckets() const override { return bucket_begins_.back(); }
  int64_t num_local_slots() const override {
    return static_cast<int64_t>(local_slot_experts_.size());
  }
  const std::vector<int32_t>& local_slot_experts() const override {
    return local_slot_experts_;
  }
  const std::vector<int32_t>& expert_buckets() const override { return expert_buckets_; }
  const std::vector<std::vector<int32_t>>& expert_copies() const override {
    return expert_copies_;
  }
  const parallel::Plan& plan() const override { return plan_; }
  WireDType wire_dtype() const override { return wire_; }
  // InvalidArgument if the plan is invalid or for another world size.
  Status SetPlan(const parallel::Plan& plan) override;
  parallel::Communicator& comm() { return *comm_; }

  Status Prepare(const int64_t* send_bucket_offsets, DispatchHandle* handle) override;
  Status ToExperts(const DispatchHandle& handle, const float* send, float* recv,
                   int64_t d) override;
  Status FromExperts(const DispatchHandle& handle, const float* recv, float* send,
                     int64_t d) override;

 private:
  ExpertParallelDispatcher(parallel::Communicator* comm, const parallel::Plan& plan,
                           WireDType wire);
  // Moves rows by `send_blocks`/`recv_blocks` (in rows), in the wire format.
  Status Exchange(const float* send,
                  const std::vector<parallel::BlockTransfer>& send_blocks,
                  int64_t num_send_rows, float* recv,
                  const std::vector<parallel::BlockTransfer>& recv_blocks,
                  int64_t num_recv_rows, int64_t d);
  // Blocks in elements (rows * d), into `out`.
  void ScaleBlocks(const std::vector<parallel::BlockTransfer>& blocks, int64_t d,
                   std::vector<parallel::BlockTransfer>* out);

  parallel::Communicator* comm_;
  parallel::Plan plan_;
  WireDType wire_;
  int32_t max_slots_ = 0;
  std::vector<int64_t> bucket_begins_;  // [P + 1]
  std::vector<int32_t> local_slot_experts_;
  std::vector<int32_t> expert_buckets_;
  std::vector<std::vector<int32_t>> expert_copies_;
  // Scratch reused every step.
  std::vector<int64_t> send_slot_rows_;  // [P * max_slots]
  std::vector<int64_t> recv_slot_rows_;  // [P * max_slots]
  std::vector<int64_t> slot_cursor_;     // [num_local_slots]
  std::vector<parallel::BlockTransfer> send_elements_, recv_elements_;  // blocks * d
  std::vector<BFloat16> send_wire_, recv_wire_;  // kBF16: rows as they travel
};

}  // namespace mpimoe::moe
