#include "ops/topk.h"

#include <cmath>

#include "runtime/core/check.h"

namespace mpimoe::ops {
namespace {

// True if (a, ia) ranks before (b, ib): larger value first, lower index on ties.
inline bool RanksBefore(float a, int32_t ia, float b, int32_t ib) {
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if (a_nan != b_nan) return b_nan;
  if (!a_nan && a != b) return a > b;
  return ia < ib;
}

}  // namespace

void TopK(const float* x, int64_t rows, int64_t cols, int64_t k, int32_t* indices,
          float* values) {
  MPIMOE_CHECK(k >= 1 && k <= cols);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    int32_t* idx = indices + r * k;
    float* val = values + r * k;
    int64_t filled = 0;
    // Insertion into a sorted list of length k: k is small (top-1/2/4/8).
    for (int64_t c = 0; c < cols; ++c) {
      const float v = xr[c];
      const int32_t ic = static_cast<int32_t>(c);
      if (filled == k && !RanksBefore(v, ic, val[k - 1], idx[k - 1])) continue;
      int64_t pos = filled < k ? filled++ : k - 1;
      while (pos > 0 && RanksBefore(v, ic, val[pos - 1], idx[pos - 1])) {
        val[pos] = val[pos - 1];
        idx[pos] = idx[pos - 1];
        --pos;
      }
      val[pos] = v;
      idx[pos] = ic;
    }
  }
}

}  // namespace mpimoe::ops
