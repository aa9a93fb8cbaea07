// Experts: the expert FFNs held by this rank, one per local slot, run on a variable
// number of rows each (dropless: whatever the router sent).
//
// Slot s holds logical expert slot_experts[s]; its weights are drawn from a stream
// seeded by (seed, logical expert id), so an expert has the same initial weights on
// whichever rank it lives.
//
// Ownership: Experts owns its weights, their gradients and the activation workspaces
// (grown to the largest row count seen, then reused). Forward saves activations and a
// pointer to its input for Backward; the caller keeps the input alive in between.
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/moe/ffn.h"

namespace mpimoe::moe {

class Experts {
 public:
  // Parameters are named "<name>.<expert id>.w1|w2|w3". slot_is_home[s] says whether
  // slot s is its expert's home (trained here) or a replica (a read-only copy whose
  // gradients go to the home); empty = all homes.
  Experts(const FfnDims& dims, const std::vector<int32_t>& slot_experts, uint64_t seed,
          ops::OpsContext* ctx, const std::string& name = "experts",
          const std::vector<bool>& slot_is_home = {});

  //   x: [N, d] f32, rows grouped by slot; slot_offsets: [num_slots + 1] int64 with
  //   slot_offsets[num_slots] == N; y: [N, d] f32 (out)
  Status Forward(const float* x, const int64_t* slot_offsets, float* y);

  //   dy: [N, d] f32 for the last Forward; dx: [N, d] f32 (out). Accumulates weight
  //   gradients.
  Status Backward(const float* dy, float* dx);

  int64_t num_slots() const { return static_cast<int64_t>(slot_experts_.size()); }
  const std::vector<int32_t>& slot_experts() const { return slot_experts_; }
  const FfnDims& dims() const { return dims_; }
  // Rows each slot processed in the last Forward: [num_slots].
  const std::vector<int64_t>& rows_per_slot() const { return rows_per_slot_; }

  // Weights of slot s (w3 is null for GeLU).
  Parameter& w1(int64_t s) { return *slots_[static_cast<size_t>(s)].w1; }
  Parameter& w2(int64_t s) { return *slots_[static_cast<size_t>(s)].w2; }
  Parameter* w3(int64_t s) { return slots_[static_cast<size_t>(s)].w3.get(); }
  bool is_home(int64_t s) const { return slot_is_home_[static_cast<size_t>(s)]; }
  // Slot s's weights in a fixed order: w1, w3 (SwiGLU), w2.
  std::vector<Parameter*> SlotParameters(int64_t s);
  // Floats of one expert's weights (all of SlotParameters).
  int64_t expert_numel() const;
  // The weights this rank trains: its home slots' (replicas are not included).
  std::vector<Parameter*> Parameters();
  // The replica slots' weights.
  std::vector<Parameter*> ReplicaParameters();

 private:
  struct Slot {
    std::unique_ptr<Parameter> w1, w2, w3;
  };
  FfnWeights WeightsOf(const Slot& slot) const;

  FfnDims dims_;
  std::vector<int32_t> slot_experts_;
  std::vector<bool> slot_is_home_;
  ops::OpsContext* ctx_;
  std::vector<Slot> slots_;

  // Saved by Forward.
  const float* x_ = nullptr;
  std::vector<int64_t> slot_offsets_;   // [num_slots + 1]
  std::vector<int64_t> rows_per_slot_;  // [num_slots]
  Tensor h1_, h3_, a_;                  // [N, f] each
  // Backward scratch.
  Tensor da_, dh1_, dh3_;  // [N, f] each
};

}  // namespace mpimoe::moe
