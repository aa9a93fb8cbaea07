// Matmul: C[m, n] (+)= act(op(A)[m, k] * op(B)[k, n] + bias[n]) on oneDNN, optionally
// batched: `batch` independent products of the same shape in one primitive.
//
// Every matmul in mpimoe goes through this one function. The first call with a given
// MatmulDesc builds a oneDNN matmul primitive and caches it in the OpsContext; later
// calls reuse it. Dimensions flagged runtime (the row count m by default, and k for
// weight gradients X^T dY whose reduction runs over a variable number of rows) are not
// part of the cache key, so one primitive serves an expert FFN for any number of rows.
//
// Layout: all operands row-major and dense.
//   a: op(A) is [m, k]; stored [m, k], or [k, m] when transpose_a   (dtype a_dtype)
//   b: op(B) is [k, n]; stored [k, n], or [n, k] when transpose_b   (dtype b_dtype)
//   bias: [n] f32 or null (required iff desc.bias)
//   c: [m, n] f32
// With batch > 1 each operand is `batch` such items stored back to back, each dense:
//   a: [batch, m, k] (or [batch, k, m]); b: [batch, k, n] (or [batch, n, k]);
//   c: [batch, m, n]; the transposes apply to every item and the bias [n] is shared.
// The batch count is part of the primitive (never runtime); m and k may still be.
// Post-ops are fused by oneDNN: bias, then the activation, then (accumulate) the sum
// with the previous contents of C.
//
// Thread-safety: as OpsContext (one host thread); oneDNN threads the work itself.
#pragma once

#include <cstdint>

#include "ops/ops_context.h"
#include "runtime/core/dtype.h"
#include "runtime/core/status.h"

namespace mpimoe::ops {

enum class MatmulActivation : uint8_t { kNone = 0, kRelu, kGeluTanh, kGeluErf };

struct MatmulDesc {
  int64_t m = 0;
  int64_t k = 0;
  int64_t n = 0;
  int64_t batch = 1;            // independent products, each [m, k] x [k, n]
  bool transpose_a = false;     // A stored as [k, m]
  bool transpose_b = false;     // B stored as [n, k]
  bool runtime_m = true;        // m is not part of the primitive (any row count)
  bool runtime_k = false;       // k is not part of the primitive
  DType a_dtype = DType::kF32;  // kF32 or kBF16
  DType b_dtype = DType::kF32;  // kF32 or kBF16
  bool bias = false;
  MatmulActivation activation = MatmulActivation::kNone;
  bool accumulate = false;  // C += result instead of C = result
};

// Runs the matmul described by `desc` (shapes above). Returns InvalidArgument for bad
// shapes or dtypes and Internal if oneDNN fails; C is unspecified after a failure.
Status Matmul(OpsContext& ctx, const MatmulDesc& desc, const void* a, const void* b,
              const float* bias, float* c);

// Convenience for the common f32 case without bias: C[m,n] (+)= op(A) op(B).
inline Status MatmulF32(OpsContext& ctx, int64_t m, int64_t k, int64_t n,
                        bool transpose_a, bool transpose_b, const float* a,
                        const float* b, float* c, bool accumulate = false) {
  MatmulDesc desc;
  desc.m = m;
  desc.k = k;
  desc.n = n;
  desc.transpose_a = transpose_a;
  desc.transpose_b = transpose_b;
  desc.accumulate = accumulate;
  return Matmul(ctx, desc, a, b, nullptr, c);
}

// A weight gradient: grad[m, n] += a^T b for a: [rows, m], b: [rows, n] f32. The
// reduction runs over the rows, a runtime dimension (any row count, one primitive).
inline Status AccumulateWeightGradF32(OpsContext& ctx, int64_t rows, int64_t m, int64_t n,
                                      const float* a, const float* b, float* grad) {
  MatmulDesc desc;
  desc.m = m;
  desc.k = rows;
  desc.n = n;
  desc.transpose_a = true;
  desc.runtime_m = false;
  desc.runtime_k = true;
  desc.accumulate = true;
  return Matmul(ctx, desc, a, b, nullptr, grad);
}

}  // namespace mpimoe::ops
