// ExpertSync: moves expert state between the ranks of an expert-parallel group, for the
// load balancer's replicas and re-placements (see parallel/plan.h).
//
// - ReduceReplicaGradients: after the backward, every replica's weight gradients are
//   added into its home's gradients (the home sums the replicas in rank order, so the
//   result is deterministic). Replicas never run an optimizer.
// - RefreshReplicas: after the optimizer step, every home's weights are copied into its
//   replicas, which are then bitwise equal to the home.
// - Migrate: from plan `from` to plan `to` (right after an optimizer step): every slot
//   of `to` receives its expert's weights from the expert's old home; a slot that is the
//   expert's new home also receives the AdamW moments and step count, so training goes
//   on exactly as if the expert had never moved.
// Between two ranks, blocks are ordered by expert id on both sides, so every rank
// derives the same exchange from the plans alone. All calls are collective.
//
// Ownership: borrows the communicator; owns the packing buffers (grown, then reused).
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/communicator.h"
#include "parallel/plan.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/moe/experts.h"

namespace mpimoe::moe {

class ExpertSync {
 public:
  explicit ExpertSync(parallel::Communicator* comm) : comm_(comm) {}

  // `experts` holds this rank's slots of `plan`.
  Status ReduceReplicaGradients(const parallel::Plan& plan, Experts& experts);
  Status RefreshReplicas(const parallel::Plan& plan, Experts& experts);
  // `current` holds this rank's slots of `from`; `next` (built for `to`, same dims)
  // receives every slot's state.
  Status Migrate(const parallel::Plan& from, Experts& current, const parallel::Plan& to,
                 Experts& next);

  // Bytes this rank sent to other ranks in the last call.
  int64_t last_bytes_sent() const { return last_bytes_sent_; }

 private:
  // Runs the exchange described by sends_/recvs_ (offsets in floats) over the buffers.
  Status Exchange();
  parallel::Communicator* comm_;
  std::vector<parallel::BlockTransfer> sends_, recvs_;
  Tensor send_buffer_, recv_buffer_;
  int64_t last_bytes_sent_ = 0;
};

}  // namespace mpimoe::moe
