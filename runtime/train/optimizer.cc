#include "runtime/train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace mpimoe::train {

AdamWOptimizer::AdamWOptimizer(const OptimizerSection& options, int64_t total_steps)
    : options_(options), total_steps_(total_steps) {}

float AdamWOptimizer::LearningRate(int64_t step) const {
  const double lr = options_.lr;
  const int64_t warmup = options_.warmup_steps;
  if (warmup > 0 && step <= warmup) return static_cast<float>(lr * step / warmup);
  const double min_lr = lr * options_.min_lr_ratio;
  // The first step after warm-up runs at lr, the last one at lr * min_lr_ratio.
  const int64_t decay_steps = std::max<int64_t>(1, total_steps_ - warmup - 1);
  const double progress = std::clamp(
      static_cast<double>(step - warmup - 1) / static_cast<double>(decay_steps), 0.0,
      1.0);
  return static_cast<float>(min_lr +
                            0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress)));
}

float AdamWOptimizer::ClipScale(double global_norm) const {
  if (options_.grad_clip <= 0.0f || !(global_norm > options_.grad_clip)) return 1.0f;
  return static_cast<float>(options_.grad_clip / global_norm);
}

void AdamWOptimizer::Step(int64_t step, float grad_scale,
                          const std::vector<Parameter*>& params) {
  ops::AdamWOptions adam;
  adam.lr = LearningRate(step);
  adam.beta1 = options_.beta1;
  adam.beta2 = options_.beta2;
  adam.eps = options_.eps;
  adam.grad_scale = grad_scale;
  for (Parameter* p : params) {
    if (p->moment1.numel() != p->value.numel() ||
        p->moment1.shape() != p->value.shape()) {
      p->moment1 = Tensor::Zeros(DType::kF32, p->value.shape());
      p->moment2 = Tensor::Zeros(DType::kF32, p->value.shape());
    }
    adam.weight_decay = p->value.rank() >= 2 ? options_.weight_decay : 0.0f;
    ++p->optimizer_steps;
    ops::AdamWStep(adam, p->optimizer_steps, p->value.data<float>(),
                   p->grad.data<float>(), p->moment1.data<float>(),
                   p->moment2.data<float>(), p->value.numel());
  }
}

}  // namespace mpimoe::train
