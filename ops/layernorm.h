// Layer normalisation over the last dimension, forward and backward.
//
// y = (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps), var biased.
// The forward saves mean and rstd per row for the backward. Parameter gradients are
// reduced over rows in a fixed order (independent of the thread count), so results are
// bitwise reproducible.
//
// Thread-safety: pure functions, OpenMP-parallel.
#pragma once

#include <cstdint>

namespace mpimoe::ops {

//   x, y: [rows, d] f32; gamma, beta: [d] f32; mean, rstd: [rows] f32 (out)
void LayerNormForward(const float* x, const float* gamma, const float* beta, int64_t rows,
                      int64_t d, float eps, float* y, float* mean, float* rstd);

//   dy, x: [rows, d] f32; gamma: [d]; mean, rstd: [rows] from the forward
//   dx: [rows, d] f32 (out, overwritten); dgamma, dbeta: [d] f32 (out, accumulated +=)
void LayerNormBackward(const float* dy, const float* x, const float* gamma,
                       const float* mean, const float* rstd, int64_t rows, int64_t d,
                       float* dx, float* dgamma, float* dbeta);

}  // namespace mpimoe::ops
