// bf16_convert.cc: see bf16_convert.h.
#include "ops/bf16_convert.h"

#include <bit>

#include "ops/vector_math.h"

namespace mpimoe::ops {
namespace {

// Below this many elements a conversion runs on the calling thread alone.
constexpr int64_t kParallelElements = 1 << 15;

MPIMOE_VECTOR_CLONES void F32ToBf16Range(const float* in, uint16_t* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = std::bit_cast<uint32_t>(in[i]);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    out[i] = static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
  }
}

MPIMOE_VECTOR_CLONES void Bf16ToF32Range(const uint16_t* in, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    out[i] = std::bit_cast<float>(static_cast<uint32_t>(in[i]) << 16);
}

// Runs fn(begin, count) over [0, n) in one static chunk per thread.
template <typename Fn>
void ForChunks(int64_t n, Fn fn) {
  if (n < kParallelElements) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t block = 0; block < (n + 4095) / 4096; ++block) {
      const int64_t begin = block * 4096;
      fn(begin, std::min<int64_t>(4096, n - begin));
    }
  }
}

}  // namespace

void F32ToBf16(const float* in, BFloat16* out, int64_t n) {
  static_assert(sizeof(BFloat16) == sizeof(uint16_t));
  uint16_t* bits = reinterpret_cast<uint16_t*>(out);
  ForChunks(n, [&](int64_t begin, int64_t count) {
    F32ToBf16Range(in + begin, bits + begin, count);
  });
}

void Bf16ToF32(const BFloat16* in, float* out, int64_t n) {
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(in);
  ForChunks(n, [&](int64_t begin, int64_t count) {
    Bf16ToF32Range(bits + begin, out + begin, count);
  });
}

}  // namespace mpimoe::ops
