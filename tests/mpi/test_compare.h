// Comparison helpers shared by the MPI tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace mpimoe::testing {

// max |a - b| / max |b| over two equally long vectors (max |a - b| when b is all zero).
inline double RelativeDifference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

}  // namespace mpimoe::testing
