#include "ops/adamw.h"

#include <cmath>

#include "runtime/core/check.h"

namespace mpimoe::ops {

void AdamWStep(const AdamWOptions& o, int64_t step, float* param, const float* grad,
               float* m, float* v, int64_t n) {
  MPIMOE_CHECK(step >= 1);
  const float correction1 = 1.0f - std::pow(o.beta1, static_cast<float>(step));
  const float correction2 = 1.0f - std::pow(o.beta2, static_cast<float>(step));
  const float step_size = o.lr / correction1;
  const float inv_sqrt_correction2 = 1.0f / std::sqrt(correction2);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float mi = o.beta1 * m[i] + (1.0f - o.beta1) * g;
    const float vi = o.beta2 * v[i] + (1.0f - o.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * inv_sqrt_correction2 + o.eps;
    param[i] -= step_size * mi / denom + o.lr * o.weight_decay * param[i];
  }
}

}  // namespace mpimoe::ops
