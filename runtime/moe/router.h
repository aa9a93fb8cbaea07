// Router: the gating network of an MoE layer (replicated on every rank).
//
//   logits = x Wr           x: [T, d] f32, Wr: [d, E] f32, logits: [T, E] f32
//   probs  = softmax(logits)
//   (topk_idx, topk_prob) = top-k of probs per token (ties -> lower expert id)
//   gates  = topk_prob, renormalised to sum 1 when normalize_gates and top_k > 1
//            (with top_k = 1 the gate is the raw probability, as in Switch: a
//            renormalised single gate would be constant 1 and cut the router off from
//            the loss).
// Auxiliary losses (their weighted sum is the router's contribution to the loss):
//   aux    = E * sum_e f_e * P_e (Switch Transformer load balancing), where f_e is the
//            fraction of the T*k routes that chose e (not differentiable) and P_e the
//            mean router probability of e over tokens;
//   z_loss = mean_t logsumexp(logits_t)^2 (ST-MoE router z-loss).
// Routing works on logical experts only; it never depends on where experts live.
// Over several ranks, f_e, P_e and the token count are global: Forward all-reduces the
// per-expert sums over the communicator (one small Allreduce), so every rank computes
// the loss of the global batch and the gradient of its own tokens' share of it — the
// same as one rank holding every token.
//
// Ownership: the Router owns Wr, its gradient and the saved activations of the last
// Forward; Backward must follow the Forward it belongs to, and the caller keeps `x`
// alive in between. Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/trace.h"

namespace mpimoe::moe {

// The routing hyperparameters (a config's model.moe section sets them). No defaults
// here: the one home of every default is configs/mpimoe.proto, and code that builds a
// layer by hand starts from train::MoeLayerOptionsOf(train::DefaultTrainConfig().model)
// or sets every field.
struct RoutingOptions {
  int64_t num_experts = 0;       // E logical experts
  int64_t top_k = 0;             // experts per token, 1 <= top_k <= E
  bool normalize_gates = false;  // renormalise the top-k gates to sum 1 (top_k > 1)
  float aux_loss_coef = 0.0f;    // weight of the Switch load-balancing loss
  float z_loss_coef = 0.0f;      // weight of the router z-loss
};

struct RouterOptions {
  int64_t d_model = 0;
  RoutingOptions routing;
  uint64_t seed = 0;
  std::string name = "router";  // parameter name prefix: "<name>.weight"
};

struct RouterLosses {
  float aux = 0.0f;     // unweighted Switch load-balancing loss
  float z_loss = 0.0f;  // unweighted router z-loss
};

class Router {
 public:
  // `comm` is the group whose tokens the auxiliary losses are taken over; it and `ctx`
  // must outlive the router.
  Router(const RouterOptions& options, ops::OpsContext* ctx,
         parallel::Communicator* comm);

  // x: [T, d] f32 local tokens. Fills topk_idx(), gates() and losses(). Collective.
  Status Forward(const TensorView& x);
  // Records the statistics all-reduce on `trace` (borrowed; null = off).
  void SetTrace(TraceRecorder* trace) { trace_ = trace; }

  // dgates: [T, k] f32, the gradient of the loss w.r.t. gates(). Adds the gradients of
  // aux_loss_coef * aux + z_loss_coef * z_loss. Accumulates dWr; dx: [T, d] f32 is
  // accumulated (+=), since the router is one of two paths from x.
  Status Backward(const float* dgates, float* dx);

  const int32_t* topk_idx() const { return topk_idx_.data<int32_t>(); }  // [T, k]
  const float* gates() const { return gates_.data<float>(); }            // [T, k]
  const float* probs() const { return probs_.data<float>(); }            // [T, E]
  const RouterLosses& losses() const { return losses_; }
  // A fixed bias added to every token's logits before the softmax: [E], or empty for
  // none. For load-imbalance experiments only (it changes the model); no gradient.
  void SetLogitBias(std::vector<float> bias) { logit_bias_ = std::move(bias); }
  // [E] number of the local T*k routes that chose each expert in the last Forward.
  const std::vector<int64_t>& routes_per_expert() const { return routes_per_expert_; }
  // [E] the same over all ranks of the group, and the group's token count.
  const std::vector<int64_t>& global_routes_per_expert() const { return global_routes_; }
  int64_t global_num_tokens() const { return global_tokens_; }
  int64_t num_tokens() const { return num_tokens_; }

  Parameter& weight() { return weight_; }
  const RouterOptions& options() const { return options_; }

 private:
  RouterOptions options_;
  ops::OpsContext* ctx_;
  parallel::Communicator* comm_;
  TraceRecorder* trace_ = nullptr;
  Parameter weight_;  // [d, E]

  // Saved by Forward (workspaces, reused across steps).
  TensorView x_;
  int64_t num_tokens_ = 0;
  Tensor logits_;     // [T, E]
  Tensor probs_;      // [T, E]
  Tensor lse_;        // [T]
  Tensor topk_idx_;   // [T, k] int32
  Tensor topk_prob_;  // [T, k]
  Tensor gates_;      // [T, k]
  std::vector<int64_t>
      routes_per_expert_;               // [E] local routes that chose e (before drops)
  std::vector<int64_t> global_routes_;  // [E] over the group
  int64_t global_tokens_ = 0;
  std::vector<double> stats_;      // [2E + 2] all-reduced sums (see Forward)
  std::vector<float> aux_grad_;    // [E] d(weighted aux)/d probs[:, e]
  std::vector<float> logit_bias_;  // [E] or empty
  RouterLosses losses_;
  // Backward scratch.
  Tensor dprobs_;   // [T, E]
  Tensor dlogits_;  // [T, E]
};

}  // namespace mpimoe::moe
