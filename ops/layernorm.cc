#include "ops/layernorm.h"

#include <algorithm>
#include <cmath>

namespace mpimoe::ops {
namespace {
// Columns per task in the parameter-gradient reduction: one AVX-512 cache line wide,
// so each task streams its rows' slices contiguously.
constexpr int64_t kColumnBlock = 16;
}  // namespace

void LayerNormForward(const float* x, const float* gamma, const float* beta, int64_t rows,
                      int64_t d, float eps, float* y, float* mean, float* rstd) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float sum = 0.0f;
    for (int64_t c = 0; c < d; ++c) sum += xr[c];
    const float mu = sum / static_cast<float>(d);
    float var = 0.0f;
    for (int64_t c = 0; c < d; ++c) {
      const float diff = xr[c] - mu;
      var += diff * diff;
    }
    var /= static_cast<float>(d);
    const float rs = 1.0f / std::sqrt(var + eps);
    float* yr = y + r * d;
    for (int64_t c = 0; c < d; ++c) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

void LayerNormBackward(const float* dy, const float* x, const float* gamma,
                       const float* mean, const float* rstd, int64_t rows, int64_t d,
                       float* dx, float* dgamma, float* dbeta) {
  // dx: per row, with xhat = (x - mean) * rstd and g = dy * gamma:
  //   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * d;
    const float* xr = x + r * d;
    const float mu = mean[r];
    const float rs = rstd[r];
    float sum_g = 0.0f;
    float sum_g_xhat = 0.0f;
    for (int64_t c = 0; c < d; ++c) {
      const float g = dyr[c] * gamma[c];
      sum_g += g;
      sum_g_xhat += g * (xr[c] - mu) * rs;
    }
    const float mean_g = sum_g / static_cast<float>(d);
    const float mean_g_xhat = sum_g_xhat / static_cast<float>(d);
    float* dxr = dx + r * d;
    for (int64_t c = 0; c < d; ++c) {
      const float xhat = (xr[c] - mu) * rs;
      dxr[c] = rs * (dyr[c] * gamma[c] - mean_g - xhat * mean_g_xhat);
    }
  }
  // dgamma, dbeta: column blocks in parallel, rows summed in order.
  const int64_t num_blocks = (d + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < num_blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock;
    const int64_t c1 = std::min(d, c0 + kColumnBlock);
    float acc_gamma[kColumnBlock] = {};
    float acc_beta[kColumnBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const float* dyr = dy + r * d;
      const float* xr = x + r * d;
      const float mu = mean[r];
      const float rs = rstd[r];
      for (int64_t c = c0; c < c1; ++c) {
        acc_gamma[c - c0] += dyr[c] * (xr[c] - mu) * rs;
        acc_beta[c - c0] += dyr[c];
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      dgamma[c] += acc_gamma[c - c0];
      dbeta[c] += acc_beta[c - c0];
    }
  }
}

}  // namespace mpimoe::ops
