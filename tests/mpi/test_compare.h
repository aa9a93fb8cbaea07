// Comparison helpers shared by the MPI tests: the relative difference of two tensors,
// and the sum of a count over the ranks, for checks that only hold for the whole job
// (every expert lives on exactly one rank, the ranks drop what one rank drops).
//
// Thread-safety: SumOverRanks is a collective on `comm` (every rank calls it, from the
// communicator's owning thread); the rest are pure functions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "parallel/collectives.h"

namespace mpimoe::testing {

// max |a - b| / max |b| over n elements (max |a - b| when b is all zero, 0 when n = 0).
inline double RelativeDifference(const float* a, const float* b, int64_t n) {
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

// The same over two equally long vectors.
inline double RelativeDifference(const std::vector<float>& a,
                                 const std::vector<float>& b) {
  return RelativeDifference(a.data(), b.data(), static_cast<int64_t>(a.size()));
}

// The sum of `value` over the ranks of `comm`. A failed all-reduce is a test failure on
// this rank (and the result is then meaningless).
inline int64_t SumOverRanks(parallel::Communicator& comm, int64_t value) {
  const Status status = parallel::AllreduceInPlace(comm, std::span<int64_t>(&value, 1));
  EXPECT_TRUE(status.ok()) << status.ToString();
  return value;
}

}  // namespace mpimoe::testing
