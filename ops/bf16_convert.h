// Bulk f32 <-> bf16 conversion, for data that travels or is stored as bf16 while the
// math stays f32 (e.g. the MoE exchange's bf16 wire format, parallel.a2a_wire_dtype).
//
// F32ToBf16 rounds to nearest, ties to even, exactly as FloatToBf16 in
// runtime/core/dtype.h (NaN stays NaN, infinities stay infinite, values beyond the
// largest bf16 round to infinity); Bf16ToF32 is exact. Both are OpenMP-threaded over
// large arrays and vectorised.
//
// Thread-safety: pure functions over caller-owned memory; in and out must not overlap.
#pragma once

#include <cstdint>

#include "runtime/core/dtype.h"

namespace mpimoe::ops {

// in: [n] f32 -> out: [n] bf16.
void F32ToBf16(const float* in, BFloat16* out, int64_t n);
// in: [n] bf16 -> out: [n] f32.
void Bf16ToF32(const BFloat16* in, float* out, int64_t n);

}  // namespace mpimoe::ops
