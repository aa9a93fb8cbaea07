#include "ops/activation.h"

#include <cmath>

namespace mpimoe::ops {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

inline float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void GeluForward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float inner = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
    y[i] = 0.5f * v * (1.0f + std::tanh(inner));
  }
}

void GeluBackward(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float inner = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
    const float t = std::tanh(inner);
    const float dinner = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    const float grad = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner;
    dx[i] = dy[i] * grad;
  }
}

void SwigluForward(const float* gate, const float* up, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    y[i] = g * Sigmoid(g) * up[i];
  }
}

void SwigluBackward(const float* gate, const float* up, const float* dy, float* dgate,
                    float* dup, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float s = Sigmoid(g);
    const float silu = g * s;
    const float dsilu = s * (1.0f + g * (1.0f - s));
    dgate[i] = dy[i] * up[i] * dsilu;
    dup[i] = dy[i] * silu;
  }
}

}  // namespace mpimoe::ops
