// Tests of ops/permute.h: bucket layout, permute/combine and backwards vs references.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/permute.h"
#include "runtime/core/random.h"
#include "tests/tools/finite_difference.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::CentralDifference;
using mpimoe::testing::RandomVector;

struct Layout {
  std::vector<int64_t> offsets;
  std::vector<int32_t> row_route;  // first num_rows entries
  std::vector<int32_t> route_row;
  int64_t num_rows = 0;
};

// Reference layout: for each bucket in order, its routes in route order.
Layout RefLayout(const std::vector<int32_t>& bucket_of_route, int64_t num_buckets) {
  Layout l;
  l.route_row.assign(bucket_of_route.size(), -1);
  l.offsets.push_back(0);
  for (int32_t b = 0; b < num_buckets; ++b) {
    for (size_t r = 0; r < bucket_of_route.size(); ++r) {
      if (bucket_of_route[r] != b) continue;
      l.route_row[r] = static_cast<int32_t>(l.row_route.size());
      l.row_route.push_back(static_cast<int32_t>(r));
    }
    l.offsets.push_back(static_cast<int64_t>(l.row_route.size()));
  }
  l.num_rows = static_cast<int64_t>(l.row_route.size());
  return l;
}

Layout RunLayout(const std::vector<int32_t>& bucket_of_route, int64_t num_buckets) {
  const int64_t num_routes = static_cast<int64_t>(bucket_of_route.size());
  Layout l;
  l.offsets.assign(num_buckets + 1, -5);
  l.row_route.assign(num_routes, -5);
  l.route_row.assign(num_routes, -5);
  l.num_rows =
      BuildBucketLayout(bucket_of_route.data(), num_routes, num_buckets, l.offsets.data(),
                        l.row_route.data(), l.route_row.data());
  l.row_route.resize(l.num_rows >= 0 ? l.num_rows : 0);
  return l;
}

void ExpectSameLayout(const Layout& got, const Layout& want) {
  EXPECT_EQ(got.num_rows, want.num_rows);
  EXPECT_EQ(got.offsets, want.offsets);
  EXPECT_EQ(got.row_route, want.row_route);
  EXPECT_EQ(got.route_row, want.route_row);
}

// A routing of `num_tokens` tokens with top_k choices over `num_buckets` buckets where
// bucket `empty_bucket` receives nothing, token `all_dropped_token` has every route
// dropped, and about 1 in 5 of the other routes is dropped.
std::vector<int32_t> TestRouting(Rng& rng, int64_t num_tokens, int64_t top_k,
                                 int64_t num_buckets, int32_t empty_bucket,
                                 int64_t all_dropped_token) {
  std::vector<int32_t> bucket(num_tokens * top_k);
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t j = 0; j < top_k; ++j) {
      int32_t b;
      do {
        b = static_cast<int32_t>(rng.Below(num_buckets));
      } while (b == empty_bucket);
      if (t == all_dropped_token || rng.Below(5) == 0) b = -1;
      bucket[t * top_k + j] = b;
    }
  }
  return bucket;
}

TEST(PermuteTest, BuildBucketLayoutHandWorked) {
  // Routes 0..7 (4 tokens, top-2) over 3 buckets; bucket 1 is empty; routes 2, 3 dropped.
  const std::vector<int32_t> bucket = {2, 0, -1, -1, 0, 2, 2, 0};
  const Layout l = RunLayout(bucket, 3);
  EXPECT_EQ(l.num_rows, 6);
  EXPECT_EQ(l.offsets, (std::vector<int64_t>{0, 3, 3, 6}));
  EXPECT_EQ(l.row_route, (std::vector<int32_t>{1, 4, 7, 0, 5, 6}));
  EXPECT_EQ(l.route_row, (std::vector<int32_t>{3, 0, -1, -1, 1, 4, 5, 2}));
}

TEST(PermuteTest, BuildBucketLayoutMatchesStableReference) {
  Rng rng(1);
  for (const int64_t top_k : {1, 2, 4}) {
    for (const int64_t num_buckets : {1, 3, 8}) {
      const std::vector<int32_t> bucket =
          TestRouting(rng, 41, top_k, num_buckets, num_buckets > 1 ? 1 : -2, 5);
      SCOPED_TRACE("top_k=" + std::to_string(top_k) +
                   " buckets=" + std::to_string(num_buckets));
      ExpectSameLayout(RunLayout(bucket, num_buckets), RefLayout(bucket, num_buckets));
    }
  }
}

TEST(PermuteTest, BuildBucketLayoutAllDroppedAndEmpty) {
  const std::vector<int32_t> all_dropped(6, -1);
  const Layout l = RunLayout(all_dropped, 4);
  EXPECT_EQ(l.num_rows, 0);
  EXPECT_EQ(l.offsets, (std::vector<int64_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(l.route_row, (std::vector<int32_t>(6, -1)));

  const Layout none = RunLayout({}, 2);
  EXPECT_EQ(none.num_rows, 0);
  EXPECT_EQ(none.offsets, (std::vector<int64_t>{0, 0, 0}));
}

TEST(PermuteDeathTest, BuildBucketLayoutRejectsOutOfRangeBucket) {
  // OpenMP threads exist by now: re-execute the binary for the death test.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<int64_t> offsets(3);
  std::vector<int32_t> row_route(2), route_row(2);
  const std::vector<int32_t> bad_high = {0, 2};
  EXPECT_DEATH(BuildBucketLayout(bad_high.data(), 2, 2, offsets.data(), row_route.data(),
                                 route_row.data()),
               "bucket id out of range");
  const std::vector<int32_t> bad_low = {-2, 0};
  EXPECT_DEATH(BuildBucketLayout(bad_low.data(), 2, 2, offsets.data(), row_route.data(),
                                 route_row.data()),
               "bucket id out of range");
}

// Shared fixture data: a routing with an empty bucket and an all-dropped token.
struct Case {
  int64_t num_tokens = 9;
  int64_t top_k = 3;
  int64_t num_buckets = 4;
  int64_t d = 7;
  int64_t dropped_token = 4;
  Layout layout;
  std::vector<float> x;      // [num_tokens, d]
  std::vector<float> gates;  // [num_tokens, top_k]
};

Case MakeCase(uint64_t seed) {
  Case c;
  Rng rng(seed);
  const std::vector<int32_t> bucket =
      TestRouting(rng, c.num_tokens, c.top_k, c.num_buckets, 2, c.dropped_token);
  c.layout = RunLayout(bucket, c.num_buckets);
  EXPECT_EQ(c.layout.offsets[2], c.layout.offsets[3]) << "bucket 2 should be empty";
  c.x = RandomVector(rng, c.num_tokens * c.d, 1.0f);
  c.gates = RandomVector(rng, c.num_tokens * c.top_k, 1.0f);
  return c;
}

TEST(PermuteTest, PermuteTokensCopiesTheRouteToken) {
  const Case c = MakeCase(2);
  const int64_t num_rows = c.layout.num_rows;
  std::vector<float> rows(num_rows * c.d, NAN);
  PermuteTokens(c.x.data(), c.layout.row_route.data(), num_rows, c.top_k, c.d,
                rows.data());
  for (int64_t i = 0; i < num_rows; ++i) {
    const int64_t t = c.layout.row_route[i] / c.top_k;
    for (int64_t col = 0; col < c.d; ++col) {
      ASSERT_EQ(rows[i * c.d + col], c.x[t * c.d + col]) << "row " << i;
    }
  }
}

// dx[t] (+)= sum of the rows of t's kept routes. Reference in double; |error| <= 1e-6
// (at most top_k = 3 terms of magnitude <= 1).
TEST(PermuteTest, PermuteTokensBackwardMatchesReference) {
  const Case c = MakeCase(3);
  Rng rng(33);
  const std::vector<float> drows = RandomVector(rng, c.layout.num_rows * c.d, 1.0f);
  for (const bool accumulate : {false, true}) {
    const std::vector<float> prev = RandomVector(rng, c.num_tokens * c.d, 1.0f);
    std::vector<float> dx = prev;
    PermuteTokensBackward(drows.data(), c.layout.route_row.data(), c.num_tokens, c.top_k,
                          c.d, dx.data(), accumulate);
    for (int64_t t = 0; t < c.num_tokens; ++t) {
      for (int64_t col = 0; col < c.d; ++col) {
        double want = accumulate ? prev[t * c.d + col] : 0.0;
        for (int64_t j = 0; j < c.top_k; ++j) {
          const int32_t row = c.layout.route_row[t * c.top_k + j];
          if (row >= 0) want += drows[row * c.d + col];
        }
        EXPECT_NEAR(dx[t * c.d + col], want, 1e-6)
            << "t=" << t << " col=" << col << " accumulate=" << accumulate;
      }
    }
  }
}

// PermuteTokens is linear, so finite differences of loss = <w, PermuteTokens(x)> in x
// are exact up to f32 rounding: step 1e-3, tolerance 2e-3 absolute + 1e-2 relative.
TEST(PermuteTest, PermuteTokensBackwardFiniteDifference) {
  Case c = MakeCase(4);
  Rng rng(44);
  const int64_t num_rows = c.layout.num_rows;
  const std::vector<float> w = RandomVector(rng, num_rows * c.d, 1.0f);
  std::vector<float> rows(num_rows * c.d);
  auto loss = [&] {
    PermuteTokens(c.x.data(), c.layout.row_route.data(), num_rows, c.top_k, c.d,
                  rows.data());
    double s = 0.0;
    for (size_t i = 0; i < rows.size(); ++i) s += double{w[i]} * rows[i];
    return s;
  };
  std::vector<float> dx(c.x.size());
  PermuteTokensBackward(w.data(), c.layout.route_row.data(), c.num_tokens, c.top_k, c.d,
                        dx.data(), /*accumulate=*/false);
  for (size_t i = 0; i < c.x.size(); ++i) {
    const double fd = CentralDifference(&c.x[i], 1e-3, loss);
    EXPECT_NEAR(dx[i], fd, 2e-3 + 1e-2 * std::fabs(fd)) << "dx at " << i;
  }
  // The all-dropped token receives no gradient.
  for (int64_t col = 0; col < c.d; ++col)
    EXPECT_EQ(dx[c.dropped_token * c.d + col], 0.0f);
}

// out[t] = sum_j gates[t, j] rows[route_row[t, j]]; reference in double, |error| <= 1e-6
// (<= 3 terms of magnitude <= 1). The all-dropped token's output is overwritten with 0.
TEST(PermuteTest, CombineRoutesMatchesReference) {
  const Case c = MakeCase(5);
  Rng rng(55);
  const std::vector<float> rows = RandomVector(rng, c.layout.num_rows * c.d, 1.0f);
  std::vector<float> out(c.num_tokens * c.d, NAN);
  CombineRoutes(rows.data(), c.layout.route_row.data(), c.gates.data(), c.num_tokens,
                c.top_k, c.d, out.data());
  for (int64_t t = 0; t < c.num_tokens; ++t) {
    for (int64_t col = 0; col < c.d; ++col) {
      double want = 0.0;
      for (int64_t j = 0; j < c.top_k; ++j) {
        const int32_t row = c.layout.route_row[t * c.top_k + j];
        if (row >= 0) want += double{c.gates[t * c.top_k + j]} * rows[row * c.d + col];
      }
      EXPECT_NEAR(out[t * c.d + col], want, 1e-6) << "t=" << t << " col=" << col;
    }
  }
  for (int64_t col = 0; col < c.d; ++col)
    EXPECT_EQ(out[c.dropped_token * c.d + col], 0.0f);
}

// Reference for both outputs, |error| <= 1e-6 (drows is one product; dgates a dot of
// d = 7 products of magnitude <= 1).
TEST(PermuteTest, CombineRoutesBackwardMatchesReference) {
  const Case c = MakeCase(6);
  Rng rng(66);
  const int64_t num_rows = c.layout.num_rows;
  const std::vector<float> rows = RandomVector(rng, num_rows * c.d, 1.0f);
  const std::vector<float> dout = RandomVector(rng, c.num_tokens * c.d, 1.0f);
  std::vector<float> drows(num_rows * c.d, NAN);
  std::vector<float> dgates(c.num_tokens * c.top_k, NAN);
  CombineRoutesBackward(dout.data(), rows.data(), c.layout.route_row.data(),
                        c.gates.data(), c.num_tokens, c.top_k, c.d, drows.data(),
                        dgates.data());
  for (int64_t r = 0; r < c.num_tokens * c.top_k; ++r) {
    const int64_t t = r / c.top_k;
    const int32_t row = c.layout.route_row[r];
    if (row < 0) {
      EXPECT_EQ(dgates[r], 0.0f) << "dropped route " << r;
      continue;
    }
    double dot = 0.0;
    for (int64_t col = 0; col < c.d; ++col) {
      dot += double{dout[t * c.d + col]} * rows[row * c.d + col];
      EXPECT_NEAR(drows[row * c.d + col], double{c.gates[r]} * dout[t * c.d + col], 1e-6)
          << "route " << r << " col " << col;
    }
    EXPECT_NEAR(dgates[r], dot, 1e-6) << "route " << r;
  }
}

// Finite differences of loss = <w, CombineRoutes(rows, gates)> w.r.t. every row element
// and every gate (including the gates of dropped routes, whose gradient is 0). Step 1e-3
// through the f32 forward, tolerance 2e-3 absolute + 1e-2 relative.
TEST(PermuteTest, CombineRoutesBackwardFiniteDifference) {
  Case c = MakeCase(7);
  Rng rng(77);
  const int64_t num_rows = c.layout.num_rows;
  std::vector<float> rows = RandomVector(rng, num_rows * c.d, 1.0f);
  const std::vector<float> w = RandomVector(rng, c.num_tokens * c.d, 1.0f);
  std::vector<float> out(c.num_tokens * c.d);
  auto loss = [&] {
    CombineRoutes(rows.data(), c.layout.route_row.data(), c.gates.data(), c.num_tokens,
                  c.top_k, c.d, out.data());
    double s = 0.0;
    for (size_t i = 0; i < out.size(); ++i) s += double{w[i]} * out[i];
    return s;
  };
  std::vector<float> drows(rows.size()), dgates(c.gates.size());
  CombineRoutesBackward(w.data(), rows.data(), c.layout.route_row.data(), c.gates.data(),
                        c.num_tokens, c.top_k, c.d, drows.data(), dgates.data());
  for (size_t i = 0; i < rows.size(); ++i) {
    const double g = CentralDifference(&rows[i], 1e-3, loss);
    EXPECT_NEAR(drows[i], g, 2e-3 + 1e-2 * std::fabs(g)) << "drows at " << i;
  }
  for (size_t i = 0; i < c.gates.size(); ++i) {
    const double g = CentralDifference(&c.gates[i], 1e-3, loss);
    EXPECT_NEAR(dgates[i], g, 2e-3 + 1e-2 * std::fabs(g)) << "dgates at " << i;
  }
}

}  // namespace
}  // namespace mpimoe::ops
