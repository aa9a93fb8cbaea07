// ExpertSync: moves expert state between the ranks of an expert-parallel group, for the
// load balancer's replicas and re-placements (see parallel/plan.h).
//
// - ReduceReplicaGradients: after the backward, every replica's weight gradients are
//   added into its home's gradients (the home sums the replicas in rank order, so the
//   result is deterministic). Replicas never run an optimizer.
// - RefreshReplicas: after the optimizer step, every home's weights are copied into its
//   replicas, which are then bitwise equal to the home.
// - Migrate: from plan `from` to plan `to` (right after the optimizer step and the
//   replica refresh): only what moves is sent. A new copy of an expert on a rank
//   receives the weights from the expert's old home; a new home also the AdamW moments
//   and step count, so training goes on exactly as if the expert had never moved. A
//   rank that already holds the expert keeps its state and sends nothing: a copy that
//   keeps its role is copied locally (a home with its moments), a home that becomes a
//   replica keeps its weights, and a replica that becomes the home (its weights equal
//   the home's after the refresh) receives only the AdamW state. Dropped copies are
//   discarded.
// Between two ranks, blocks are ordered by expert id on both sides, so every rank
// derives the same exchange from the plans alone. All calls are collective.
//
// Ownership: borrows the communicator; owns the packing buffers and plan maps (grown,
// then reused: a step with replicas allocates nothing once warm).
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
  std::vector<int32_t> my_slot_;                     // [E] this rank's slot of e or -1
  std::vector<std::vector<int32_t>> replica_ranks_;  // [E] ranks with a replica of e
  Tensor send_buffer_, recv_buffer_;
  int64_t last_bytes_sent_ = 0;
};

}  // namespace mpimoe::moe
