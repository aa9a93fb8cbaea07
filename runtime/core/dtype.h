// Element types of mpimoe tensors and the bf16 <-> f32 conversions.
//
// Training math is f32; bf16 is a storage/compute type for matmul inputs; int32 holds
// indices (token ids, expert ids, top-k slots). Conversions round to nearest even.
//
// Thread-safety: all functions are pure.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace mpimoe {

enum class DType : uint8_t { kF32 = 0, kBF16 = 1, kI32 = 2 };

constexpr int64_t DTypeSizeBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kBF16:
      return 2;
    case DType::kI32:
      return 4;
  }
  return 0;
}

constexpr std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kBF16:
      return "bf16";
    case DType::kI32:
      return "i32";
  }
  return "?";
}

// A bfloat16 value: the upper 16 bits of an IEEE f32.
struct BFloat16 {
  uint16_t bits = 0;
};

inline BFloat16 FloatToBf16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return BFloat16{static_cast<uint16_t>((u >> 16) | 0x40)};
  const uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return BFloat16{static_cast<uint16_t>((u + rounding_bias) >> 16)};
}

inline float Bf16ToFloat(BFloat16 value) {
  const uint32_t u = static_cast<uint32_t>(value.bits) << 16;
  float out;
  std::memcpy(&out, &u, sizeof(out));
  return out;
}

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kF32;
};
template <>
struct DTypeOf<BFloat16> {
  static constexpr DType value = DType::kBF16;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::kI32;
};

}  // namespace mpimoe
