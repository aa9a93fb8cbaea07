#include "ops/activation.h"

#include <algorithm>

#include "ops/vector_math.h"

namespace mpimoe::ops {
namespace {

using internal::FastSigmoid;

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;
// Elements per OpenMP task: large enough to amortise scheduling, small enough to split
// an expert's activations over the threads.
constexpr int64_t kChunk = 16384;

// gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
MPIMOE_VECTOR_CLONES void GeluForwardKernel(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
    y[i] = v * FastSigmoid(2.0f * u);
  }
}

// d/dx = s + 2 x s (1 - s) u', s = sigmoid(2u), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
MPIMOE_VECTOR_CLONES void GeluBackwardKernel(const float* x, const float* dy, float* dx,
                                             int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    const float s = FastSigmoid(2.0f * u);
    dx[i] = dy[i] * (s + 2.0f * v * s * (1.0f - s) * du);
  }
}

MPIMOE_VECTOR_CLONES void SwigluForwardKernel(const float* gate, const float* up, float* y,
                                              int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    y[i] = g * FastSigmoid(g) * up[i];
  }
}

MPIMOE_VECTOR_CLONES void SwigluBackwardKernel(const float* gate, const float* up,
                                               const float* dy, float* dgate, float* dup,
                                               int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float s = FastSigmoid(g);
    const float silu = g * s;
    const float dsilu = s * (1.0f + g * (1.0f - s));
    dgate[i] = dy[i] * up[i] * dsilu;
    dup[i] = dy[i] * silu;
  }
}

// Runs kernel(begin, count) over [0, n) in chunks, in parallel.
template <typename Kernel>
void ParallelChunks(int64_t n, Kernel kernel) {
  const int64_t num_chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (num_chunks > 1)
  for (int64_t c = 0; c < num_chunks; ++c) {
    const int64_t begin = c * kChunk;
    kernel(begin, std::min(kChunk, n - begin));
  }
}

}  // namespace

void GeluForward(const float* x, float* y, int64_t n) {
  ParallelChunks(n, [&](int64_t b, int64_t m) { GeluForwardKernel(x + b, y + b, m); });
}

void GeluBackward(const float* x, const float* dy, float* dx, int64_t n) {
  ParallelChunks(n, [&](int64_t b, int64_t m) { GeluBackwardKernel(x + b, dy + b, dx + b, m); });
}

void SwigluForward(const float* gate, const float* up, float* y, int64_t n) {
  ParallelChunks(n,
                 [&](int64_t b, int64_t m) { SwigluForwardKernel(gate + b, up + b, y + b, m); });
}

void SwigluBackward(const float* gate, const float* up, const float* dy, float* dgate,
                    float* dup, int64_t n) {
  ParallelChunks(n, [&](int64_t b, int64_t m) {
    SwigluBackwardKernel(gate + b, up + b, dy + b, dgate + b, dup + b, m);
  });
}

}  // namespace mpimoe::ops
