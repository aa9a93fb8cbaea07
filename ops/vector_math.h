// Vectorisable math for elementwise kernels. Internal to ops/ (include from ops/*.cc).
//
// glibc's expf/tanhf are scalar calls unless built with -ffast-math, which we do not use
// (results must not depend on such flags). FastExp is a branch-free exp that the compiler
// turns into SIMD code: range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
// polynomial for e^r (relative error < 2.5e-7, about 2 ulp) and 2^n assembled in the
// exponent bits. Inputs are clamped to [-87.3, 88.3], where 2^n stays a normal float.
//
// MPIMOE_VECTOR_CLONES compiles a kernel for AVX-512F, AVX2 and baseline x86-64 and
// picks one at load time, so a portable build still uses the machine's vector width.
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MPIMOE_VECTOR_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MPIMOE_VECTOR_CLONES
#endif

namespace mpimoe::ops::internal {

[[gnu::always_inline]] inline float FastExp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // ln 2 split so that n * kLn2Hi is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to integer
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// 1 / (1 + e^-x).
[[gnu::always_inline]] inline float FastSigmoid(float x) { return 1.0f / (1.0f + FastExp(-x)); }

}  // namespace mpimoe::ops::internal
