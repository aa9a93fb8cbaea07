#include "ops/adamw.h"

#include <algorithm>
#include <cmath>

#include "ops/vector_math.h"
#include "runtime/core/check.h"

namespace mpimoe::ops {
namespace {

// Elements per OpenMP task (see activation.cc).
constexpr int64_t kChunk = 16384;

struct AdamWConstants {
  float beta1, beta2, eps, step_size, inv_sqrt_correction2, decay, grad_scale;
};

MPIMOE_VECTOR_CLONES void AdamWKernel(const AdamWConstants& c, float* param,
                                      const float* grad, float* m, float* v, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * c.grad_scale;
    const float mi = c.beta1 * m[i] + (1.0f - c.beta1) * g;
    const float vi = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * c.inv_sqrt_correction2 + c.eps;
    param[i] -= c.step_size * mi / denom + c.decay * param[i];
  }
}

}  // namespace

void AdamWStep(const AdamWOptions& o, int64_t step, float* param, const float* grad,
               float* m, float* v, int64_t n) {
  MPIMOE_CHECK(step >= 1);
  const float correction1 = 1.0f - std::pow(o.beta1, static_cast<float>(step));
  const float correction2 = 1.0f - std::pow(o.beta2, static_cast<float>(step));
  const AdamWConstants c{o.beta1,
                         o.beta2,
                         o.eps,
                         o.lr / correction1,
                         1.0f / std::sqrt(correction2),
                         o.lr * o.weight_decay,
                         o.grad_scale};
  const int64_t num_chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (num_chunks > 1)
  for (int64_t chunk = 0; chunk < num_chunks; ++chunk) {
    const int64_t begin = chunk * kChunk;
    const int64_t count = std::min(kChunk, n - begin);
    AdamWKernel(c, param + begin, grad + begin, m + begin, v + begin, count);
  }
}

}  // namespace mpimoe::ops
