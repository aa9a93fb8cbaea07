// Parameter: a named trainable tensor with its gradient and its optimizer state.
//
// Layers own their Parameters and expose pointers to them (for the optimizer, gradient
// sync, checkpoints and gradient checks). Backward passes *accumulate* into `grad`
// (+=); whoever runs the step zeroes gradients first (ZeroGrad). The optimizer state
// (AdamW's two moments, allocated on the first step, and the number of steps taken)
// lives here too, so that moving an expert to another rank moves its whole training
// state with it. All tensors are f32 with the same shape.
//
// Thread-safety: none; owned by one layer.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/random.h"
#include "runtime/core/tensor.h"

namespace mpimoe {

struct Parameter {
  Parameter() = default;
  Parameter(std::string name_in, std::vector<int64_t> shape)
      : name(std::move(name_in)),
        value(DType::kF32, shape),
        grad(Tensor::Zeros(DType::kF32, shape)) {}

  // value ~ Normal(0, stddev^2) from a stream seeded by `seed`.
  void InitNormal(uint64_t seed, float stddev) {
    Rng rng(seed);
    float* p = value.data<float>();
    for (int64_t i = 0; i < value.numel(); ++i) p[i] = stddev * rng.Normal();
  }

  std::string name;
  Tensor value;
  Tensor grad;
  Tensor moment1;               // AdamW m (empty until the first optimizer step)
  Tensor moment2;               // AdamW v
  int64_t optimizer_steps = 0;  // optimizer steps applied to this parameter
};

inline void ZeroGrad(const std::vector<Parameter*>& params) {
  for (Parameter* p : params) p->grad.SetZero();
}

}  // namespace mpimoe
