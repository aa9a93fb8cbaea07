// Tests of ops/softmax.h and ops/topk.h against double / sort-based references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "ops/softmax.h"
#include "ops/topk.h"
#include "runtime/core/random.h"
#include "tests/tools/finite_difference.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::CentralDifference;
using mpimoe::testing::RandomVector;

// Rows of random logits; row r is shifted by a large offset for some rows so that a
// softmax that does not subtract the row max overflows.
std::vector<float> Logits(Rng& rng, int64_t rows, int64_t cols) {
  std::vector<float> x = RandomVector(rng, rows * cols, 4.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float offset = (r % 3 == 1) ? 500.0f : (r % 3 == 2) ? -500.0f : 0.0f;
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] += offset;
  }
  return x;
}

void RefSoftmaxRow(const float* x, int64_t cols, std::vector<double>* y, double* lse) {
  double max_value = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < cols; ++c) max_value = std::max(max_value, double{x[c]});
  double sum = 0.0;
  y->resize(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) sum += ((*y)[c] = std::exp(x[c] - max_value));
  for (int64_t c = 0; c < cols; ++c) (*y)[c] /= sum;
  *lse = max_value + std::log(sum);
}

// Softmax probabilities: |error| <= 1e-6 + 1e-5 * p (f32 exp and a sum of <= 40 terms).
TEST(SoftmaxTest, ForwardMatchesReference) {
  Rng rng(1);
  for (const int64_t cols : {1, 2, 7, 40}) {
    const int64_t rows = 9;
    const std::vector<float> x = Logits(rng, rows, cols);
    std::vector<float> y(x.size(), NAN);
    SoftmaxForward(x.data(), y.data(), rows, cols);
    std::vector<double> ref;
    double lse;
    for (int64_t r = 0; r < rows; ++r) {
      RefSoftmaxRow(x.data() + r * cols, cols, &ref, &lse);
      for (int64_t c = 0; c < cols; ++c) {
        EXPECT_NEAR(y[r * cols + c], ref[c], 1e-6 + 1e-5 * ref[c])
            << "cols=" << cols << " r=" << r << " c=" << c;
      }
    }
    std::vector<float> inplace = x;
    SoftmaxForward(inplace.data(), inplace.data(), rows, cols);
    EXPECT_EQ(inplace, y) << "in-place result differs, cols=" << cols;
  }
}

// lse: |error| <= 1e-6 * (1 + |lse|) (the max term is exact; log of the f32 sum is
// accurate to a few ulps).
TEST(SoftmaxTest, LogSumExpMatchesReference) {
  Rng rng(2);
  for (const int64_t cols : {1, 3, 40}) {
    const int64_t rows = 9;
    const std::vector<float> x = Logits(rng, rows, cols);
    std::vector<float> lse(rows, NAN);
    LogSumExpRows(x.data(), lse.data(), rows, cols);
    std::vector<double> ref;
    double ref_lse;
    for (int64_t r = 0; r < rows; ++r) {
      RefSoftmaxRow(x.data() + r * cols, cols, &ref, &ref_lse);
      EXPECT_NEAR(lse[r], ref_lse, 1e-6 * (1.0 + std::fabs(ref_lse)))
          << "cols=" << cols << " r=" << r;
    }
  }
}

// Backward checked two ways: against the double formula dx = y (dy - <dy, y>) with
// |error| <= 1e-6 (|y| <= 1, |dy| <= 1), and by central finite differences of
// loss = sum w * softmax(x) through the f32 forward: step 1e-3, tolerance 2e-3 absolute
// + 1e-2 relative (f32 rounding of the outputs contributes ~1e-4).
TEST(SoftmaxTest, BackwardMatchesReferenceAndFiniteDifference) {
  Rng rng(3);
  const int64_t rows = 3;
  const int64_t cols = 6;
  std::vector<float> x = RandomVector(rng, rows * cols, 2.0f);
  const std::vector<float> w = RandomVector(rng, rows * cols, 1.0f);
  std::vector<float> y(x.size());
  SoftmaxForward(x.data(), y.data(), rows, cols);
  std::vector<float> dx(x.size(), NAN);
  SoftmaxBackward(y.data(), w.data(), dx.data(), rows, cols);

  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0.0;
    for (int64_t c = 0; c < cols; ++c) dot += double{y[r * cols + c]} * w[r * cols + c];
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      EXPECT_NEAR(dx[i], y[i] * (w[i] - dot), 1e-6) << i;
    }
  }

  std::vector<float> yy(x.size());
  auto loss = [&] {
    SoftmaxForward(x.data(), yy.data(), rows, cols);
    double s = 0.0;
    for (size_t i = 0; i < yy.size(); ++i) s += double{w[i]} * yy[i];
    return s;
  };
  for (size_t i = 0; i < x.size(); ++i) {
    const double fd = CentralDifference(&x[i], 1e-3, loss);
    EXPECT_NEAR(dx[i], fd, 2e-3 + 1e-2 * std::fabs(fd)) << "dx at " << i;
  }

  // dx may alias dy.
  std::vector<float> aliased = w;
  SoftmaxBackward(y.data(), aliased.data(), aliased.data(), rows, cols);
  EXPECT_EQ(aliased, dx);
}

// Reference top-k: stable sort of column indices by value, descending; NaN last.
void RefTopK(const float* row, int64_t cols, int64_t k, std::vector<int32_t>* idx) {
  idx->resize(static_cast<size_t>(cols));
  std::iota(idx->begin(), idx->end(), 0);
  std::stable_sort(idx->begin(), idx->end(), [row](int32_t a, int32_t b) {
    const bool a_nan = std::isnan(row[a]);
    const bool b_nan = std::isnan(row[b]);
    if (a_nan || b_nan) return !a_nan && b_nan;
    return row[a] > row[b];
  });
  idx->resize(static_cast<size_t>(k));
}

void CheckTopKAgainstReference(const std::vector<float>& x, int64_t rows, int64_t cols,
                               int64_t k) {
  std::vector<int32_t> idx(rows * k, -7);
  std::vector<float> val(rows * k, -7.0f);
  TopK(x.data(), rows, cols, k, idx.data(), val.data());
  std::vector<int32_t> ref;
  for (int64_t r = 0; r < rows; ++r) {
    RefTopK(x.data() + r * cols, cols, k, &ref);
    for (int64_t j = 0; j < k; ++j) {
      ASSERT_EQ(idx[r * k + j], ref[j])
          << "cols=" << cols << " k=" << k << " r=" << r << " j=" << j;
      const float want = x[r * cols + ref[j]];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(val[r * k + j]));
      } else {
        EXPECT_EQ(val[r * k + j], want);
      }
    }
  }
}

TEST(TopKTest, MatchesSortReference) {
  Rng rng(4);
  for (const int64_t cols : {1, 2, 8, 33}) {
    const int64_t rows = 17;
    const std::vector<float> x = RandomVector(rng, rows * cols, 1.0f);
    for (int64_t k = 1; k <= cols; k = (k < 4 ? k + 1 : k * 2)) {
      CheckTopKAgainstReference(x, rows, cols, k);
    }
    CheckTopKAgainstReference(x, rows, cols, cols);  // k == cols: a full sort
  }
}

// Values drawn from a tiny set so that most rows have exact ties.
TEST(TopKTest, ExactTiesResolveToLowerIndexRandomized) {
  Rng rng(5);
  const int64_t rows = 50;
  const int64_t cols = 12;
  std::vector<float> x(rows * cols);
  for (float& v : x) v = static_cast<float>(rng.Below(4)) * 0.5f;
  for (const int64_t k : {1, 2, 3, 5, 12}) CheckTopKAgainstReference(x, rows, cols, k);
}

TEST(TopKTest, ExactTiesHandWorked) {
  // Row 0: 3 at columns 1, 2, 4 ranks first in column order, then 2 (col 3), then 1.
  // Row 1: all equal: the first k columns. Row 2: 0 and -0 compare equal.
  const std::vector<float> x = {1,     3,    3,  2,    3,     0,  //
                                5,     5,    5,  5,    5,     5,  //
                                -0.0f, 0.0f, -1, 0.0f, -0.0f, -2};
  std::vector<int32_t> idx(3 * 6);
  std::vector<float> val(3 * 6);
  TopK(x.data(), 3, 6, 6, idx.data(), val.data());
  EXPECT_EQ(std::vector<int32_t>(idx.begin(), idx.begin() + 6),
            (std::vector<int32_t>{1, 2, 4, 3, 0, 5}));
  EXPECT_EQ(std::vector<float>(val.begin(), val.begin() + 6),
            (std::vector<float>{3, 3, 3, 2, 1, 0}));
  EXPECT_EQ(std::vector<int32_t>(idx.begin() + 6, idx.begin() + 12),
            (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(std::vector<int32_t>(idx.begin() + 12, idx.end()),
            (std::vector<int32_t>{0, 1, 3, 4, 2, 5}));

  std::vector<int32_t> idx2(3 * 2);
  std::vector<float> val2(3 * 2);
  TopK(x.data(), 3, 6, 2, idx2.data(), val2.data());
  EXPECT_EQ(idx2, (std::vector<int32_t>{1, 2, 0, 1, 0, 1}));
}

// Descending order with NaN ranked below every number, including -inf.
TEST(TopKTest, DescendingWithNaNLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {nan, -inf, 1.0f, nan, inf, -3.0f};
  CheckTopKAgainstReference(x, 1, 6, 6);
  std::vector<int32_t> idx(4);
  std::vector<float> val(4);
  TopK(x.data(), 1, 6, 4, idx.data(), val.data());
  EXPECT_EQ(idx, (std::vector<int32_t>{4, 2, 5, 1}));
}

}  // namespace
}  // namespace mpimoe::ops
