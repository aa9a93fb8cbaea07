// Row-wise softmax and log-sum-exp, forward and backward (numerically stable: the row
// max is subtracted first).
//
// Thread-safety: pure functions, OpenMP-parallel over rows.
#pragma once

#include <cstdint>

namespace mpimoe::ops {

// y[r, :] = softmax(x[r, :]).          x, y: [rows, cols] f32 (may alias)
void SoftmaxForward(const float* x, float* y, int64_t rows, int64_t cols);

// dx = y * (dy - sum(dy * y)).         y, dy, dx: [rows, cols] f32 (dx may alias dy)
void SoftmaxBackward(const float* y, const float* dy, float* dx, int64_t rows,
                     int64_t cols);

// lse[r] = log(sum_c exp(x[r, c])).    x: [rows, cols] f32, lse: [rows] f32
void LogSumExpRows(const float* x, float* lse, int64_t rows, int64_t cols);

}  // namespace mpimoe::ops
