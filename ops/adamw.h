// AdamW optimizer step with decoupled weight decay (Loshchilov & Hutter), on the
// scaled gradient g = grad_scale * grad (gradient clipping folds into the step):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * p),
// with bias-corrected mhat = m / (1 - b1^step), vhat = v / (1 - b2^step).
// The decay uses p before this step's update and is not scaled by the gradient moments.
//
// Thread-safety: pure function, OpenMP-parallel.
#pragma once

#include <cstdint>

namespace mpimoe::ops {

// No defaults for the hyperparameters (zero-initialised): their one home is the
// `optimizer` section of configs/mpimoe.proto; runtime/train/optimizer.cc sets them all.
struct AdamWOptions {
  float lr = 0.0f;
  float beta1 = 0.0f;
  float beta2 = 0.0f;
  float eps = 0.0f;
  float weight_decay = 0.0f;
  float grad_scale = 1.0f;  // every gradient is multiplied by this first (clipping)
};

//   param, m, v: [n] f32 (in/out); grad: [n] f32; step: 1-based count of steps taken
//   including this one (it sets the bias correction).
void AdamWStep(const AdamWOptions& options, int64_t step, float* param, const float* grad,
               float* m, float* v, int64_t n);

}  // namespace mpimoe::ops
