// MoeLayer: one Mixture-of-Experts FFN layer, Router -> Dispatcher -> Experts -> Combine.
//
// Forward, for x: [T, d] f32 local tokens:
//   1. route: the Router picks top-k logical experts and gates per token;
//   2. layout: each route (t, j) gets a bucket (its expert) or is dropped by the
//      capacity rule; routes are sorted into rows grouped by bucket (stable);
//   3. dispatch: rows are gathered from x and handed to the Dispatcher, which delivers
//      them to the expert slots that process them;
//   4. experts: each local slot runs its FFN on its rows;
//   5. combine: results come back and y[t] = sum_j gate[t, j] * out[(t, j)] in j order.
// Backward replays the same layout and DispatchHandle in reverse and adds the router's
// auxiliary-loss gradients (aux_loss_coef * aux + z_loss_coef * z_loss is this layer's
// contribution to the training loss; see AuxLossTerm()).
//
// Capacity: capacity_factor = 0 is dropless. With capacity_factor c > 0 each expert
// takes at most ceil(c * T * k / E) rows, T the group's total token count; when more
// routes chose it, routes are kept in priority order (j, global t) — every token's first
// choice before any second choice, then tokens in global order (rank by rank) — and the
// rest are dropped (they contribute zero to y). Ranks learn where their routes stand in
// that order from one Allgather of per-(j, expert) counts, so P ranks drop exactly the
// routes one rank holding all tokens would: a pure, deterministic function of routing.
//
// Distribution: the Router is replicated; auxiliary losses are over the group's tokens
// (see router.h). Experts live where the Dispatcher's plan puts them; their weight
// gradients stay where they were computed (a replica's are summed into its home by
// ExpertSync::ReduceReplicaGradients, which the trainer calls). A layer over P ranks
// computes, for the same global
// tokens, the same outputs and gradients as one rank (up to summation order), with
// replicated-parameter gradients summed over ranks.
//
// Ownership: the layer owns its Router, Experts and all workspaces (reused every step:
// after the first step of a given size, Forward and Backward allocate no tensors). It
// borrows the OpsContext and the Dispatcher, which must outlive it. The caller keeps x
// alive from Forward to Backward. Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/trace.h"
#include "runtime/moe/dispatcher.h"
#include "runtime/moe/expert_sync.h"
#include "runtime/moe/experts.h"
#include "runtime/moe/ffn.h"
#include "runtime/moe/router.h"

namespace mpimoe::moe {

// What a layer is made of: its experts' shape and its router's hyperparameters. Like
// RoutingOptions, no numeric defaults: configs/mpimoe.proto is their one home
// (train::MoeLayerOptionsOf builds these from a config's model section).
struct MoeLayerOptions {
  FfnDims expert;                // d_model, d_ffn, activation of every expert
  RoutingOptions routing;        // num_experts, top_k, gates, auxiliary losses
  double capacity_factor = 0.0;  // 0 = dropless
  uint64_t seed = 0;
  // Parameter name prefix: "<name>.router.weight", "<name>.experts.<id>.w1", ...
  std::string name = "moe";
};

// InvalidArgument naming the offending field, or OK.
Status ValidateMoeLayerOptions(const MoeLayerOptions& options);

// What the last Forward routed.
struct MoeStepStats {
  RouterLosses losses;
  std::vector<int64_t> routes_per_expert;  // [E] local routes that chose each expert
  std::vector<int64_t> rows_per_expert;    // [E] local rows kept after the capacity rule
  std::vector<int64_t> global_counts;      // [P * E] kept routes of each rank per expert
  int64_t dropped_routes = 0;
  // Wall time of the last Forward's phases: routing (router + its Allreduce), dispatch
  // (layout, count exchange, rows to experts), experts, combine (rows back, weighted
  // sum).
  double router_ms = 0.0;
  double dispatch_ms = 0.0;
  double experts_ms = 0.0;
  double combine_ms = 0.0;
  // Bytes this rank sends to other ranks in the last Forward and the Backward that
  // replays it (rows out and back, twice).
  int64_t a2a_bytes_sent = 0;
  // Rows this rank's expert slots computed in the last Forward (kept even if a re-plan
  // replaces the slots afterwards).
  int64_t rows_computed = 0;
};

class MoeLayer {
 public:
  // `comm` is the expert-parallel group (the ranks whose tokens share these experts);
  // `dispatcher` moves rows within it and decides which experts are local. `ctx`,
  // `comm` and `dispatcher` must outlive the layer.
  static StatusOr<std::unique_ptr<MoeLayer>> Create(const MoeLayerOptions& options,
                                                    ops::OpsContext* ctx,
                                                    parallel::Communicator* comm,
                                                    Dispatcher* dispatcher);

  //   x: [T, d] f32 local tokens (kept alive until Backward); y: [T, d] f32 (out).
  //   Collective over the group (T may differ between ranks, including 0).
  Status Forward(const TensorView& x, const TensorView& y);
  //   dy: [T, d] f32; dx: [T, d] f32 (out, overwritten). Accumulates parameter grads.
  //   Collective.
  Status Backward(const TensorView& dy, const TensorView& dx);

  // How each step's routes of an expert are split among its copies (replicas), from the
  // all-gathered kept-route counts [P * E], written into `quotas` (the layer's table,
  // reused step to step, so a function may keep its vectors); unset = everything to the
  // home. Must give every rank the same table (it is called on every rank with the same
  // inputs).
  using QuotaFunction =
      std::function<void(const parallel::Plan& plan, const std::vector<int64_t>& counts,
                         parallel::QuotaTable* quotas)>;
  void SetQuotaFunction(QuotaFunction fn) { quota_function_ = std::move(fn); }

  // Switches to `plan` between steps (right after an optimizer step): experts move with
  // their weights and optimizer state, replicas are created from their homes (see
  // expert_sync.h). Collective over the group.
  Status ApplyPlan(const parallel::Plan& plan, ExpertSync* sync);
  Dispatcher& dispatcher() { return *dispatcher_; }

  // aux_loss_coef * aux + z_loss_coef * z_loss of the last Forward.
  float AuxLossTerm() const;
  const MoeStepStats& stats() const { return stats_; }
  // Records the layer's phases (router, dispatch, experts, combine) and its
  // communication (alltoall, alltoallv, allgather, the router's allreduce) on `trace`
  // from now on; null stops.
  // Borrowed: must outlive the layer or be reset.
  void SetTrace(TraceRecorder* trace) {
    trace_ = trace;
    router_.SetTrace(trace);
  }

  Router& router() { return router_; }
  Experts& experts() { return experts_; }
  const MoeLayerOptions& options() const { return options_; }
  // Router weight first, then the local experts' weights in slot order.
  std::vector<Parameter*> Parameters();

 private:
  MoeLayer(const MoeLayerOptions& options, ops::OpsContext* ctx,
           parallel::Communicator* comm, Dispatcher* dispatcher);
  // Capacity rule: kept expert of each route (or -1) into bucket_of_route_.
  Status KeepRoutes();
  // Kept routes -> buckets of expert copies, by the quotas.
  Status AssignBuckets();

  MoeLayerOptions options_;
  ops::OpsContext* ctx_;
  parallel::Communicator* comm_;
  Dispatcher* dispatcher_;
  Router router_;
  Experts experts_;
  MoeStepStats stats_;

  // Layout of the last Forward.
  int64_t num_tokens_ = 0;
  int64_t num_rows_ = 0;
  Tensor bucket_of_route_;               // [T*k] int32, -1 = dropped
  Tensor row_route_;                     // [T*k] int32
  Tensor route_row_;                     // [T*k] int32
  std::vector<int64_t> bucket_offsets_;  // [num_buckets + 1]
  // Capacity bookkeeping: local and all-gathered routes per (choice rank j, expert).
  std::vector<int64_t> choice_counts_;      // [k * E]
  std::vector<int64_t> all_choice_counts_;  // [P * k * E]
  std::vector<int64_t> expert_fill_;        // [E] rows ahead of this rank's next route
  // Quotas: local kept routes per expert, the table, and the copy being filled.
  std::vector<int64_t> local_counts_;  // [E]
  std::vector<int32_t> copy_cursor_;   // [E]
  std::vector<int64_t> copy_left_;     // [E]
  parallel::QuotaTable quotas_;
  QuotaFunction quota_function_;
  DispatchHandle handle_;
  TraceRecorder* trace_ = nullptr;

  // Row workspaces: send side [num_send_rows, d], expert side [num_recv_rows, d].
  Tensor send_in_, recv_in_, recv_out_, send_out_;
  Tensor dsend_out_, drecv_out_, drecv_in_, dsend_in_;
  Tensor dgates_;  // [T, k]
};

}  // namespace mpimoe::moe
