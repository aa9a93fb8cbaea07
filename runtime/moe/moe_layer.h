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
// takes at most ceil(c * T * k / E) rows; when more routes chose it, routes are kept in
// priority order (j, t) — every token's first choice before any second choice, earlier
// tokens first — and the rest are dropped (they contribute zero to y). The rule is a
// pure function of the routing, so it is deterministic.
//
// Ownership: the layer owns its Router, Experts and all workspaces (reused every step:
// after the first step of a given size, Forward and Backward allocate no tensors). It
// borrows the OpsContext and the Dispatcher, which must outlive it. The caller keeps x
// alive from Forward to Backward. Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ops/ops_context.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/moe/dispatcher.h"
#include "runtime/moe/experts.h"
#include "runtime/moe/ffn.h"
#include "runtime/moe/router.h"

namespace mpimoe::moe {

struct MoeLayerOptions {
  int64_t d_model = 512;
  int64_t d_ffn = 2048;
  int64_t num_experts = 8;
  int64_t top_k = 2;
  Activation activation = Activation::kGelu;
  double capacity_factor = 0.0;  // 0 = dropless
  bool normalize_gates = true;   // renormalise top-k gates to sum 1 (top_k > 1)
  float aux_loss_coef = 0.01f;
  float z_loss_coef = 0.0f;
  uint64_t seed = 1;
};

// InvalidArgument naming the offending field, or OK.
Status ValidateMoeLayerOptions(const MoeLayerOptions& options);

// What the last Forward routed.
struct MoeStepStats {
  RouterLosses losses;
  std::vector<int64_t> routes_per_expert;  // [E] routes that chose each expert
  std::vector<int64_t> rows_per_expert;    // [E] rows kept after the capacity rule
  int64_t dropped_routes = 0;
};

class MoeLayer {
 public:
  // `dispatcher` decides which experts are local; it and `ctx` must outlive the layer.
  static StatusOr<std::unique_ptr<MoeLayer>> Create(const MoeLayerOptions& options,
                                                    ops::OpsContext* ctx,
                                                    Dispatcher* dispatcher);

  //   x: [T, d] f32 (kept alive until Backward); y: [T, d] f32 (out)
  Status Forward(const TensorView& x, const TensorView& y);
  //   dy: [T, d] f32; dx: [T, d] f32 (out, overwritten). Accumulates parameter grads.
  Status Backward(const TensorView& dy, const TensorView& dx);

  // aux_loss_coef * aux + z_loss_coef * z_loss of the last Forward.
  float AuxLossTerm() const;
  const MoeStepStats& stats() const { return stats_; }

  Router& router() { return router_; }
  Experts& experts() { return experts_; }
  const MoeLayerOptions& options() const { return options_; }
  // Router weight first, then the local experts' weights in slot order.
  std::vector<Parameter*> Parameters();

 private:
  MoeLayer(const MoeLayerOptions& options, ops::OpsContext* ctx, Dispatcher* dispatcher);
  void AssignBuckets();

  MoeLayerOptions options_;
  ops::OpsContext* ctx_;
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
  std::vector<int64_t> bucket_fill_;     // [num_buckets] capacity bookkeeping
  DispatchHandle handle_;

  // Row workspaces: send side [num_send_rows, d], expert side [num_recv_rows, d].
  Tensor send_in_, recv_in_, recv_out_, send_out_;
  Tensor dsend_out_, drecv_out_, drecv_in_, dsend_in_;
  Tensor dgates_;  // [T, k]
};

}  // namespace mpimoe::moe
