// Row-wise top-k selection, used by the router.
//
// For each row, the k largest values in descending order with their column indices.
// Ties are broken deterministically: of equal values, the lower column index ranks
// first. NaN is treated as smaller than every number.
//
// Thread-safety: pure function, OpenMP-parallel over rows.
#pragma once

#include <cstdint>

namespace mpimoe::ops {

//   x:       [rows, cols] f32
//   indices: [rows, k] int32 (out), columns of the k largest, best first
//   values:  [rows, k] f32 (out), x at those columns
// Requires 1 <= k <= cols.
void TopK(const float* x, int64_t rows, int64_t cols, int64_t k, int32_t* indices,
          float* values);

}  // namespace mpimoe::ops
