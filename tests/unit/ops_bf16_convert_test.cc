// Bulk f32 <-> bf16 conversion (ops/bf16_convert.h) against the scalar reference of
// runtime/core/dtype.h: random values over many magnitudes, exact ties (round half to
// even), NaN, infinities, overflow to infinity, signed zeros and subnormals, on small
// arrays (one thread) and large ones (OpenMP chunks, ragged tail).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/bf16_convert.h"

namespace mpimoe::ops {
namespace {

std::vector<float> Values(int64_t n) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> mantissa(-2.f, 2.f);
  std::uniform_int_distribution<int> exponent(-130, 120);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = std::ldexp(mantissa(rng), exponent(rng));
  const float specials[] = {0.f,
                            -0.f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::max(),  // rounds to infinity
                            std::numeric_limits<float>::denorm_min(),
                            std::bit_cast<float>(0x3f808000u),   // tie, even below: down
                            std::bit_cast<float>(0x3f818000u),   // tie, odd below: up
                            std::bit_cast<float>(0x3f808001u)};  // just above a tie: up
  for (size_t i = 0; i < std::size(specials) && i < v.size(); ++i)
    v[i * 7 % v.size()] = specials[i];
  return v;
}

class Bf16ConvertTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(Bf16ConvertTest, MatchesTheScalarRoundingAndComesBackExactly) {
  const int64_t n = GetParam();
  const std::vector<float> in = Values(n);
  std::vector<BFloat16> bf(static_cast<size_t>(n));
  F32ToBf16(in.data(), bf.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const float x = in[static_cast<size_t>(i)];
    const uint16_t expected = FloatToBf16(x).bits;
    ASSERT_EQ(bf[static_cast<size_t>(i)].bits, expected)
        << "element " << i << " = " << x << " (bits 0x" << std::hex
        << std::bit_cast<uint32_t>(x) << ")";
  }
  std::vector<float> back(static_cast<size_t>(n));
  Bf16ToF32(bf.data(), back.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const float x = in[static_cast<size_t>(i)];
    const float y = back[static_cast<size_t>(i)];
    ASSERT_EQ(std::bit_cast<uint32_t>(y),
              static_cast<uint32_t>(bf[static_cast<size_t>(i)].bits) << 16);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(y));
    } else if (std::isfinite(y) && std::fabs(x) >= std::numeric_limits<float>::min()) {
      // Round to nearest with 8 significant bits: relative error at most 2^-8.
      EXPECT_LE(std::fabs(y - x), std::ldexp(std::fabs(x), -8)) << "element " << i;
    }
  }
  if (n >= 10) {
    EXPECT_EQ(bf[7 * 7 % n].bits, 0x3f80u);  // tie to even: down
    EXPECT_EQ(bf[8 * 7 % n].bits, 0x3f82u);  // tie to even: up
    EXPECT_EQ(bf[9 * 7 % n].bits, 0x3f81u);  // above the tie: up
    EXPECT_EQ(bf[5 * 7 % n].bits, 0x7f80u);  // FLT_MAX -> +inf
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, Bf16ConvertTest,
                         ::testing::Values(int64_t{0}, int64_t{1}, int64_t{10},
                                           int64_t{1000}, int64_t{(1 << 16) + 123}));

}  // namespace
}  // namespace mpimoe::ops
