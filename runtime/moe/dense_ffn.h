// DenseFfn: the FFN of an MoE expert without routing, applied to every row. It is the
// reference the MoE layer is measured against (benchmarks) and checked against (with
// E = 1, k = 1 an MoE layer computes exactly this), and the dense layer of models whose
// config puts a dense FFN on some layers.
//
// Parameters are named "<name>.w1|w2|w3" and initialised like an expert's.
// Ownership: owns weights, gradients and activation workspaces; the caller keeps x
// alive from Forward to Backward. Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/moe/ffn.h"

namespace mpimoe::moe {

class DenseFfn {
 public:
  DenseFfn(const FfnDims& dims, uint64_t seed, ops::OpsContext* ctx,
           const std::string& name = "dense");

  //   x: [N, d] f32; y: [N, d] f32 (out)
  Status Forward(const TensorView& x, const TensorView& y);
  //   dy: [N, d] f32; dx: [N, d] f32 (out). Accumulates weight gradients.
  Status Backward(const TensorView& dy, const TensorView& dx);

  Parameter& w1() { return w1_; }
  Parameter& w2() { return w2_; }
  Parameter* w3() { return dims_.activation == Activation::kSwiglu ? &w3_ : nullptr; }
  std::vector<Parameter*> Parameters();
  const FfnDims& dims() const { return dims_; }

 private:
  FfnWeights Weights() const;

  FfnDims dims_;
  ops::OpsContext* ctx_;
  Parameter w1_, w2_, w3_;
  TensorView x_;
  Tensor h1_, h3_, a_, da_, dh1_, dh3_;  // [N, f] each
};

}  // namespace mpimoe::moe
