// PhaseTimes: where a training step's wall time goes, by phase, in milliseconds.
//
// The forward is split as a user reads a profile (attention = layernorm + QKV
// projection + attention + output projection; router, dispatch, experts, combine =
// the MoE layer's phases; dense_ffn = dense FFN layers; embed_head = embeddings, final
// layernorm, LM head and loss), then the whole backward, the gradient all-reduce
// (grad_sync, with replica gradients summed into their homes), the optimizer (gradient
// norm, clipping, AdamW) and the balancer (replica refresh from the homes, the plan
// controller, applying a new plan: expert migration). Times include waiting for other
// ranks inside the phase (e.g. dispatch waits for the slowest rank's count exchange).
// comm_wait is not a phase: it is the time of the step this rank spent inside
// communication calls, spread over the phases above (which it overlaps).
//
// Thread-safety: a value.
#pragma once

#include <array>
#include <string_view>

namespace mpimoe::train {

enum class Phase {
  kAttention = 0,
  kRouter,
  kDispatch,
  kExperts,
  kCombine,
  kDenseFfn,
  kEmbedHead,
  kBackward,
  kGradSync,
  kOptimizer,
  kBalancer,
  // Not a phase of its own: the part of all the phases above this rank spent blocked
  // inside communication calls (Communicator::busy_seconds), so it overlaps them.
  kCommWait,
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(Phase::kCount)>
    kPhaseNames = {"attention", "router",    "dispatch",   "experts",
                   "combine",   "dense_ffn", "embed_head", "backward",
                   "grad_sync", "optimizer", "balancer",   "comm_wait"};

struct PhaseTimes {
  std::array<double, static_cast<size_t>(Phase::kCount)> ms{};

  void Add(Phase phase, double milliseconds) {
    ms[static_cast<size_t>(phase)] += milliseconds;
  }
  double Get(Phase phase) const { return ms[static_cast<size_t>(phase)]; }
  void Clear() { ms.fill(0.0); }
};

}  // namespace mpimoe::train
