// CausalSelfAttention (ops/attention.h): head-major copies of q, k, v, two batched oneDNN
// matmuls per head group for the forward and four for the backward, with the causal
// softmax and its backward done in place on the [batch * heads, seq, seq] score buffers.
//
// Forward, with BH = batch * heads, S = seq_len, D = head_dim, scale = 1 / sqrt(D):
//   q_, k_, v_ [BH, S, D]   <- qkv rows                          (scatter, OpenMP)
//   probs_ [BH, S, S]       <- q_ k_^T                            (batched matmul)
//   probs_                  <- causal softmax(scale * probs_)     (in place, rows)
//   heads_out_ [BH, S, D]   <- probs_ v_                          (batched matmul)
//   out rows                <- heads_out_                         (gather, OpenMP)
// Backward:
//   dctx_ [BH, S, D]        <- dout rows
//   dprobs_ [BH, S, S]      <- dctx_ v_^T
//   dv_                     <- probs_^T dctx_
//   dprobs_                 <- scale * probs_ * (dprobs_ - rowsum(dprobs_ * probs_))
//   dq_                     <- dprobs_ k_,   dk_ <- dprobs_^T q_
//   dqkv rows               <- dq_, dk_, dv_
// (scale is folded into the score gradients, so dq and dk need no extra pass.)
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ops/matmul.h"
#include "ops/vector_math.h"

namespace mpimoe::ops {
namespace {

using internal::FastExp;

std::string DimsString(const AttentionDims& d) {
  return "batch=" + std::to_string(d.batch) + " seq_len=" + std::to_string(d.seq_len) +
         " num_heads=" + std::to_string(d.num_heads) +
         " head_dim=" + std::to_string(d.head_dim);
}

// c[batch, m, n] = op(a) op(b), f32, fixed shapes (every dimension is part of the
// primitive: attention shapes repeat step after step).
Status BatchedMatmul(OpsContext& ctx, int64_t batch, int64_t m, int64_t k, int64_t n,
                     bool transpose_a, bool transpose_b, const float* a, const float* b,
                     float* c) {
  MatmulDesc desc;
  desc.batch = batch;
  desc.m = m;
  desc.k = k;
  desc.n = n;
  desc.transpose_a = transpose_a;
  desc.transpose_b = transpose_b;
  desc.runtime_m = false;
  return Matmul(ctx, desc, a, b, nullptr, c);
}

// Rows are processed in chunks of kLanes floats (one AVX-512 vector; two AVX2 vectors)
// with kLanes-wide accumulators, so the per-row reductions end in a short shuffle tree
// instead of a serial scalar pass, and every chunk has the same trip count.
constexpr int64_t kLanes = 16;

[[gnu::always_inline]] inline float SumLanes(float* acc) {
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
#pragma omp simd
    for (int64_t l = 0; l < w; ++l) acc[l] += acc[l + w];
  }
  return acc[0];
}

[[gnu::always_inline]] inline float MaxLanes(float* acc) {
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
#pragma omp simd
    for (int64_t l = 0; l < w; ++l) acc[l] = acc[l] > acc[l + w] ? acc[l] : acc[l + w];
  }
  return acc[0];
}

// The part of a row of `cols` entries, `len` of them live, that is done in whole chunks:
// [0, end), end a multiple of kLanes and <= cols; live entries at or past `end` (only
// when the chunk containing len would overrun the row) are left to a scalar tail.
[[gnu::always_inline]] inline int64_t ChunkedEnd(int64_t len, int64_t cols) {
  const int64_t up = (len + kLanes - 1) / kLanes * kLanes;
  return up <= cols ? up : len / kLanes * kLanes;
}

// Zeros row[begin, cols).
[[gnu::always_inline]] inline void ZeroTail(float* row, int64_t begin, int64_t cols) {
  int64_t j = begin;
  for (; j + kLanes <= cols; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) row[j + l] = 0.0f;
  }
  for (; j < cols; ++j) row[j] = 0.0f;
}

// One query row of the scores: row[0, len) are the raw scores q_t . k_j for j <= t
// (len = t + 1), row[len, cols) lie above the diagonal. Writes the probabilities
// softmax(scale * row[0, len)) and exact zeros above the diagonal. scale > 0, so the
// maximum of the scaled scores is scale times the maximum of the raw ones, and the
// shifted exponents are <= 0 with one exactly 0 (sum >= 1).
MPIMOE_VECTOR_CLONES void CausalSoftmaxRow(float* row, int64_t len, int64_t cols,
                                           float scale) {
  const int64_t end = ChunkedEnd(len, cols);
  alignas(64) float acc[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) acc[l] = -INFINITY;
  for (int64_t j = 0; j < end; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const float x = row[j + l];
      const float live = j + l < len ? x : -INFINITY;
      acc[l] = live > acc[l] ? live : acc[l];
    }
  }
  float max_value = MaxLanes(acc);
  for (int64_t j = end; j < len; ++j) max_value = std::max(max_value, row[j]);
  const float shift = max_value * scale;
  for (int64_t l = 0; l < kLanes; ++l) acc[l] = 0.0f;
  for (int64_t j = 0; j < end; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const float e = FastExp(row[j + l] * scale - shift);
      const float live = j + l < len ? e : 0.0f;
      row[j + l] = live;
      acc[l] += live;
    }
  }
  float sum = SumLanes(acc);
  for (int64_t j = end; j < len; ++j) {
    row[j] = FastExp(row[j] * scale - shift);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < end; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) row[j + l] *= inv;
  }
  for (int64_t j = end; j < len; ++j) row[j] *= inv;
  ZeroTail(row, std::max(end, len), cols);
}

// Softmax backward of one query row, with the score scale folded in:
//   dp[j] <- scale * p[j] * (dp[j] - sum_{i < len} p[i] dp[i])   for j < len, 0 above.
MPIMOE_VECTOR_CLONES void CausalSoftmaxBackwardRow(const float* p, float* dp, int64_t len,
                                                   int64_t cols, float scale) {
  const int64_t end = ChunkedEnd(len, cols);
  alignas(64) float acc[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) acc[l] = 0.0f;
  for (int64_t j = 0; j < end; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const float prod = p[j + l] * dp[j + l];
      acc[l] += j + l < len ? prod : 0.0f;
    }
  }
  float dot = SumLanes(acc);
  for (int64_t j = end; j < len; ++j) dot += p[j] * dp[j];
  for (int64_t j = 0; j < end; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const float g = scale * p[j + l] * (dp[j + l] - dot);
      dp[j + l] = j + l < len ? g : 0.0f;
    }
  }
  for (int64_t j = end; j < len; ++j) dp[j] = scale * p[j] * (dp[j] - dot);
  ZeroTail(dp, std::max(end, len), cols);
}

// Row r = b * S + t of a [B * S, num_parts * d] row-major matrix holds num_parts parts
// of d = H * D columns (q | k | v, or just one); part p's head h is the D values at
// column p * d + h * D. heads[p] is that part head-major, [B * H, S, D]: item b * H + h,
// row t. RowsToHeads copies rows -> heads, HeadsToRows the reverse; each row is visited
// once, all parts together.
void RowsToHeads(const AttentionDims& dims, const float* rows, int num_parts,
                 float* const* heads) {
  const int64_t S = dims.seq_len, H = dims.num_heads, D = dims.head_dim;
  const int64_t d = dims.d_model();
  const size_t bytes = static_cast<size_t>(D) * sizeof(float);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < dims.batch * S; ++r) {
    const int64_t b = r / S, t = r % S;
    const float* src = rows + r * num_parts * d;
    for (int p = 0; p < num_parts; ++p) {
      for (int64_t h = 0; h < H; ++h) {
        std::memcpy(heads[p] + ((b * H + h) * S + t) * D, src + p * d + h * D, bytes);
      }
    }
  }
}

void HeadsToRows(const AttentionDims& dims, const float* const* heads, int num_parts,
                 float* rows) {
  const int64_t S = dims.seq_len, H = dims.num_heads, D = dims.head_dim;
  const int64_t d = dims.d_model();
  const size_t bytes = static_cast<size_t>(D) * sizeof(float);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < dims.batch * S; ++r) {
    const int64_t b = r / S, t = r % S;
    float* dst = rows + r * num_parts * d;
    for (int p = 0; p < num_parts; ++p) {
      for (int64_t h = 0; h < H; ++h) {
        std::memcpy(dst + p * d + h * D, heads[p] + ((b * H + h) * S + t) * D, bytes);
      }
    }
  }
}

}  // namespace

Status CausalSelfAttention::Forward(OpsContext& ctx, const AttentionDims& dims,
                                    const float* qkv, float* out) {
  if (dims.batch < 0 || dims.seq_len < 0 || dims.num_heads < 1 || dims.head_dim < 1) {
    return InvalidArgumentError("CausalSelfAttention: invalid dims " + DimsString(dims));
  }
  const int64_t BH = dims.batch * dims.num_heads;
  const int64_t S = dims.seq_len, D = dims.head_dim;
  if (dims.batch * S > 0 && (qkv == nullptr || out == nullptr)) {
    return InvalidArgumentError("CausalSelfAttention::Forward: null qkv or out");
  }
  dims_ = dims;
  has_forward_ = true;
  q_.Resize(DType::kF32, {BH, S, D});
  k_.Resize(DType::kF32, {BH, S, D});
  v_.Resize(DType::kF32, {BH, S, D});
  probs_.Resize(DType::kF32, {BH, S, S});
  heads_out_.Resize(DType::kF32, {BH, S, D});
  if (BH * S == 0) return Status::Ok();

  float* q = q_.data<float>();
  float* k = k_.data<float>();
  float* v = v_.data<float>();
  float* probs = probs_.data<float>();
  float* heads_out = heads_out_.data<float>();
  float* const qkv_heads[3] = {q, k, v};
  RowsToHeads(dims, qkv, 3, qkv_heads);

  Status s = BatchedMatmul(ctx, BH, S, D, S, false, true, q, k, probs);
  if (!s.ok()) return s;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < BH * S; ++r) {
    CausalSoftmaxRow(probs + r * S, r % S + 1, S, scale);
  }
  s = BatchedMatmul(ctx, BH, S, S, D, false, false, probs, v, heads_out);
  if (!s.ok()) return s;
  const float* const out_heads[1] = {heads_out};
  HeadsToRows(dims, out_heads, 1, out);
  return Status::Ok();
}

Status CausalSelfAttention::Backward(OpsContext& ctx, const float* dout, float* dqkv) {
  if (!has_forward_) {
    return InvalidArgumentError("CausalSelfAttention::Backward called before Forward");
  }
  const AttentionDims& dims = dims_;
  const int64_t BH = dims.batch * dims.num_heads;
  const int64_t S = dims.seq_len, D = dims.head_dim;
  if (dims.batch * S > 0 && (dout == nullptr || dqkv == nullptr)) {
    return InvalidArgumentError("CausalSelfAttention::Backward: null dout or dqkv");
  }
  dctx_.Resize(DType::kF32, {BH, S, D});
  dprobs_.Resize(DType::kF32, {BH, S, S});
  dq_.Resize(DType::kF32, {BH, S, D});
  dk_.Resize(DType::kF32, {BH, S, D});
  dv_.Resize(DType::kF32, {BH, S, D});
  if (BH * S == 0) return Status::Ok();

  const float* q = q_.data<float>();
  const float* k = k_.data<float>();
  const float* v = v_.data<float>();
  const float* probs = probs_.data<float>();
  float* dctx = dctx_.data<float>();
  float* dprobs = dprobs_.data<float>();
  float* dq = dq_.data<float>();
  float* dk = dk_.data<float>();
  float* dv = dv_.data<float>();
  float* const dout_heads[1] = {dctx};
  RowsToHeads(dims, dout, 1, dout_heads);

  // dprobs = dctx v^T; dv = probs^T dctx.
  Status s = BatchedMatmul(ctx, BH, S, D, S, false, true, dctx, v, dprobs);
  if (!s.ok()) return s;
  s = BatchedMatmul(ctx, BH, S, S, D, true, false, probs, dctx, dv);
  if (!s.ok()) return s;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < BH * S; ++r) {
    CausalSoftmaxBackwardRow(probs + r * S, dprobs + r * S, r % S + 1, S, scale);
  }
  // dprobs now holds d(loss)/d(raw scores) = scale * dscores: dq = . k, dk = .^T q.
  s = BatchedMatmul(ctx, BH, S, S, D, false, false, dprobs, k, dq);
  if (!s.ok()) return s;
  s = BatchedMatmul(ctx, BH, S, S, D, true, false, dprobs, q, dk);
  if (!s.ok()) return s;

  const float* const dqkv_heads[3] = {dq, dk, dv};
  HeadsToRows(dims, dqkv_heads, 3, dqkv);
  return Status::Ok();
}

int64_t CausalSelfAttention::TrainFlops(const AttentionDims& dims) {
  const int64_t per_matmul =
      2 * dims.batch * dims.num_heads * dims.seq_len * dims.seq_len * dims.head_dim;
  return 6 * per_matmul;  // forward: 2 matmuls; backward: 4
}

}  // namespace mpimoe::ops
