// Optimizer: AdamW with linear warm-up and cosine decay, and global-norm clipping.
//
// LearningRate(step), step 1-based: lr * step / warmup_steps during warm-up, then a
// cosine from lr down to lr * min_lr_ratio at the last step. Weight decay applies to
// matrices (rank-2 parameters) only, not to layernorm gains and biases.
//
// Every rank runs the optimizer on the parameters it holds: replicated parameters (the
// same gradients everywhere after the all-reduce, so they stay identical) and its home
// experts (never replicas). The moments and step count live in each Parameter, so an
// expert that moves to another rank keeps them; the optimizer itself holds only its
// options and schedule.
//
// Thread-safety: one host thread (the update is OpenMP-parallel).
#pragma once

#include <cstdint>
#include <vector>

#include "ops/adamw.h"
#include "runtime/core/parameter.h"
#include "runtime/core/tensor.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

class AdamWOptimizer {
 public:
  AdamWOptimizer(const OptimizerSection& options, int64_t total_steps);

  float LearningRate(int64_t step) const;

  // Updates `params` with training step `step`'s learning rate (1-based) on their
  // gradients scaled by grad_scale (clipping; 1 = none; the stored gradients are not
  // modified). Bias correction uses each parameter's own step count.
  void Step(int64_t step, float grad_scale, const std::vector<Parameter*>& params);

  // The clip factor for a global gradient norm: min(1, grad_clip / norm) (1 when
  // clipping is off or the norm is not positive).
  float ClipScale(double global_norm) const;

 private:
  OptimizerSection options_;
  int64_t total_steps_;
};

}  // namespace mpimoe::train
