// Tests of ops/attention.h: the causal self-attention forward vs a naive double
// reference, causality (forward and backward), the backward vs central finite differences
// of a double forward, workspace reuse without allocation, reuse across batch sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/ops_context.h"
#include "runtime/core/aligned_buffer.h"
#include "runtime/core/random.h"
#include "runtime/core/status.h"
#include "tests/tools/finite_difference.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::CentralDifference;
using mpimoe::testing::RandomVector;

std::string Name(const AttentionDims& d) {
  return "B=" + std::to_string(d.batch) + " S=" + std::to_string(d.seq_len) +
         " H=" + std::to_string(d.num_heads) + " D=" + std::to_string(d.head_dim);
}

AttentionDims Dims(int64_t batch, int64_t seq_len, int64_t num_heads, int64_t head_dim) {
  AttentionDims d;
  d.batch = batch;
  d.seq_len = seq_len;
  d.num_heads = num_heads;
  d.head_dim = head_dim;
  return d;
}

int64_t Rows(const AttentionDims& d) { return d.batch * d.seq_len; }

// Naive double forward straight from the header's definition. qkv: [B * S, 3 d];
// returns out [B * S, d]. If `mag` is given, it receives per output sum_j p_j |v_j|
// (the size of what the output is a convex combination of).
std::vector<double> RefForward(const AttentionDims& dims, const std::vector<double>& qkv,
                               std::vector<double>* mag = nullptr) {
  const int64_t S = dims.seq_len, H = dims.num_heads, D = dims.head_dim;
  const int64_t d = dims.d_model();
  std::vector<double> out(static_cast<size_t>(Rows(dims) * d), 0.0);
  if (mag != nullptr) mag->assign(out.size(), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> p(static_cast<size_t>(S));
  for (int64_t b = 0; b < dims.batch; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t t = 0; t < S; ++t) {
        const double* q = &qkv[(b * S + t) * 3 * d + h * D];
        double max_score = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          const double* k = &qkv[(b * S + j) * 3 * d + d + h * D];
          double s = 0.0;
          for (int64_t c = 0; c < D; ++c) s += q[c] * k[c];
          p[j] = s * scale;
          max_score = std::max(max_score, p[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j <= t; ++j) {
          p[j] = std::exp(p[j] - max_score);
          sum += p[j];
        }
        for (int64_t j = 0; j <= t; ++j) p[j] /= sum;
        for (int64_t c = 0; c < D; ++c) {
          double acc = 0.0, m = 0.0;
          for (int64_t j = 0; j <= t; ++j) {
            const double v = qkv[(b * S + j) * 3 * d + 2 * d + h * D + c];
            acc += p[j] * v;
            m += p[j] * std::fabs(v);
          }
          out[(b * S + t) * d + h * D + c] = acc;
          if (mag != nullptr) (*mag)[(b * S + t) * d + h * D + c] = m;
        }
      }
    }
  }
  return out;
}

std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Forward tolerance: |out - ref| <= 1e-5 * (1 + sum_j p_j |v_j|). Inputs are in
// [-1.5, 1.5], so raw scores are at most 2.25 D and the scaled ones 2.25 sqrt(D) <= 13;
// an f32 dot product of D <= 16 terms errs by < 1e-5 absolute on the scaled score, which
// moves each probability by < 1e-5 relative; FastExp adds 2.5e-7 and the f32 sums of
// <= 33 terms a few 1e-7. The output, a convex combination of v, thus errs by well under
// 1e-5 * sum_j p_j |v_j| plus an f32 rounding of the result itself.
constexpr double kForwardTol = 1e-5;
constexpr float kInputScale = 1.5f;

void ExpectForwardMatches(const AttentionDims& dims, const std::vector<float>& qkv,
                          const std::vector<float>& out) {
  SCOPED_TRACE(Name(dims));
  std::vector<double> mag;
  const std::vector<double> ref = RefForward(dims, ToDouble(qkv), &mag);
  ASSERT_EQ(out.size(), ref.size());
  int failures = 0;
  for (size_t i = 0; i < ref.size() && failures < 5; ++i) {
    const double tol = kForwardTol * (1.0 + mag[i]);
    if (!(std::fabs(out[i] - ref[i]) <= tol)) {
      ++failures;
      ADD_FAILURE() << "out[" << i << "]: got " << out[i] << ", want " << ref[i]
                    << " (tol " << tol << ")";
    }
  }
}

TEST(AttentionTest, ForwardMatchesReference) {
  OpsContext ctx;
  uint64_t seed = 1;
  for (const AttentionDims& dims :
       {Dims(1, 1, 1, 1), Dims(2, 1, 3, 4), Dims(1, 9, 1, 8), Dims(3, 7, 2, 5),
        Dims(3, 5, 1, 3), Dims(2, 16, 4, 8), Dims(1, 33, 2, 16)}) {
    CausalSelfAttention attn;
    Rng rng(seed++);
    const std::vector<float> qkv =
        RandomVector(rng, Rows(dims) * 3 * dims.d_model(), kInputScale);
    std::vector<float> out(static_cast<size_t>(Rows(dims) * dims.d_model()), NAN);
    const Status s = attn.Forward(ctx, dims, qkv.data(), out.data());
    ASSERT_TRUE(s.ok()) << Name(dims) << ": " << s.ToString();
    ExpectForwardMatches(dims, qkv, out);
  }
}

// With seq_len 1 each token attends only to itself: out is exactly its v.
TEST(AttentionTest, SingleTokenOutputsItsValue) {
  OpsContext ctx;
  CausalSelfAttention attn;
  const AttentionDims dims = Dims(3, 1, 2, 4);
  Rng rng(3);
  const std::vector<float> qkv = RandomVector(rng, 3 * 3 * 8, kInputScale);
  std::vector<float> out(3 * 8, NAN);
  ASSERT_TRUE(attn.Forward(ctx, dims, qkv.data(), out.data()).ok());
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 8; ++c) EXPECT_EQ(out[r * 8 + c], qkv[r * 24 + 16 + c]);
  }
}

// Changing the q, k, v of positions > t leaves the outputs of positions <= t bit for bit
// unchanged (the probabilities above the diagonal are exactly 0), in every sequence of
// the batch; the changed positions' outputs do change.
TEST(AttentionTest, FutureTokensDoNotChangeEarlierOutputs) {
  OpsContext ctx;
  CausalSelfAttention attn;
  // seq 40: rows end in whole 16-wide chunks, in a masked chunk, or in a scalar tail.
  const AttentionDims dims = Dims(2, 40, 2, 8);
  const int64_t d = dims.d_model(), S = dims.seq_len;
  Rng rng(5);
  const std::vector<float> qkv = RandomVector(rng, Rows(dims) * 3 * d, kInputScale);
  std::vector<float> base(static_cast<size_t>(Rows(dims) * d));
  ASSERT_TRUE(attn.Forward(ctx, dims, qkv.data(), base.data()).ok());
  for (const int64_t t : {0, 4, 15, 20, 35}) {
    std::vector<float> changed = qkv;
    for (int64_t b = 0; b < dims.batch; ++b) {
      for (int64_t j = t + 1; j < S; ++j) {
        for (int64_t c = 0; c < 3 * d; ++c) {
          changed[(b * S + j) * 3 * d + c] = 5.0f * (2.0f * rng.Uniform() - 1.0f);
        }
      }
    }
    std::vector<float> out(base.size());
    ASSERT_TRUE(attn.Forward(ctx, dims, changed.data(), out.data()).ok());
    for (int64_t b = 0; b < dims.batch; ++b) {
      for (int64_t i = 0; i < S; ++i) {
        const float* o = &out[(b * S + i) * d];
        const float* o0 = &base[(b * S + i) * d];
        if (i <= t) {
          for (int64_t c = 0; c < d; ++c) {
            EXPECT_EQ(o[c], o0[c]) << "t=" << t << " b=" << b << " i=" << i << " c=" << c;
          }
        } else {
          EXPECT_FALSE(std::equal(o, o + d, o0)) << "t=" << t << " b=" << b << " i=" << i;
        }
      }
    }
  }
}

// Backward causality: with dout non-zero only at positions <= t, the gradients of q, k,
// v at positions > t are exactly 0.
TEST(AttentionTest, BackwardIsCausal) {
  OpsContext ctx;
  CausalSelfAttention attn;
  const AttentionDims dims = Dims(2, 37, 2, 4);
  const int64_t d = dims.d_model(), S = dims.seq_len;
  Rng rng(6);
  const std::vector<float> qkv = RandomVector(rng, Rows(dims) * 3 * d, kInputScale);
  std::vector<float> out(static_cast<size_t>(Rows(dims) * d));
  ASSERT_TRUE(attn.Forward(ctx, dims, qkv.data(), out.data()).ok());
  for (const int64_t t : {0, 3, 16, 30, 35}) {
    std::vector<float> dout = RandomVector(rng, Rows(dims) * d, 1.0f);
    for (int64_t b = 0; b < dims.batch; ++b) {
      std::fill(dout.begin() + (b * S + t + 1) * d, dout.begin() + (b + 1) * S * d, 0.0f);
    }
    std::vector<float> dqkv(static_cast<size_t>(Rows(dims) * 3 * d), NAN);
    ASSERT_TRUE(attn.Backward(ctx, dout.data(), dqkv.data()).ok());
    for (int64_t b = 0; b < dims.batch; ++b) {
      for (int64_t i = 0; i < S; ++i) {
        const float* g = &dqkv[(b * S + i) * 3 * d];
        if (i > t) {
          for (int64_t c = 0; c < 3 * d; ++c) {
            EXPECT_EQ(g[c], 0.0f) << "t=" << t << " b=" << b << " i=" << i << " c=" << c;
          }
        } else {
          // q at position 0 has no gradient (a single-key softmax is constant), but k
          // and v of positions <= t do.
          EXPECT_TRUE(std::any_of(g + d, g + 3 * d, [](float x) { return x != 0.0f; }))
              << "t=" << t << " b=" << b << " i=" << i;
        }
      }
    }
  }
}

// Backward vs central finite differences of loss = sum(out * w), w fixed random, with
// the loss evaluated by the double reference forward: step h = 1e-3, so the truncation
// error is ~h^2/6 |L'''| < 1e-6 and round-off ~1e-16 / h, both negligible; what remains
// is the f32 error of the analytic gradient (~1e-6 relative). Tolerance: |g - fd| <=
// 1e-4 + 1e-3 |fd|, two orders of magnitude above that.
void CheckBackwardByFiniteDifferences(const AttentionDims& dims, uint64_t seed) {
  SCOPED_TRACE(Name(dims));
  OpsContext ctx;
  CausalSelfAttention attn;
  const int64_t d = dims.d_model();
  Rng rng(seed);
  const std::vector<float> qkv = RandomVector(rng, Rows(dims) * 3 * d, kInputScale);
  const std::vector<float> w = RandomVector(rng, Rows(dims) * d, 1.0f);
  std::vector<float> out(static_cast<size_t>(Rows(dims) * d));
  ASSERT_TRUE(attn.Forward(ctx, dims, qkv.data(), out.data()).ok());
  std::vector<float> dqkv(qkv.size(), NAN);
  ASSERT_TRUE(attn.Backward(ctx, w.data(), dqkv.data()).ok());

  std::vector<double> x = ToDouble(qkv);
  auto loss = [&] {
    const std::vector<double> y = RefForward(dims, x);
    double l = 0.0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * w[i];
    return l;
  };
  constexpr double kStep = 1e-3;
  int failures = 0;
  for (size_t i = 0; i < x.size() && failures < 5; ++i) {
    const double fd = CentralDifference(&x[i], kStep, loss);
    const double tol = 1e-4 + 1e-3 * std::fabs(fd);
    if (!(std::fabs(dqkv[i] - fd) <= tol)) {
      ++failures;
      ADD_FAILURE() << "dqkv[" << i << "] (row " << i / (3 * d) << ", col " << i % (3 * d)
                    << "): got " << dqkv[i] << ", finite difference " << fd;
    }
  }
}

TEST(AttentionTest, BackwardMatchesFiniteDifferences) {
  CheckBackwardByFiniteDifferences(Dims(2, 5, 2, 3), 11);
  CheckBackwardByFiniteDifferences(Dims(1, 8, 1, 4), 12);
  CheckBackwardByFiniteDifferences(Dims(3, 1, 2, 2), 13);
  CheckBackwardByFiniteDifferences(Dims(1, 17, 2, 8), 14);
  // seq 33: whole chunks, masked tail chunks and a scalar tail in the softmax rows.
  CheckBackwardByFiniteDifferences(Dims(1, 33, 1, 4), 15);
}

struct StepResult {
  std::vector<float> out, dqkv;
};

// One forward + backward on inputs drawn from `seed`.
StepResult Step(OpsContext& ctx, CausalSelfAttention& attn, const AttentionDims& dims,
                uint64_t seed, std::vector<float>* qkv_out = nullptr) {
  const int64_t d = dims.d_model();
  Rng rng(seed);
  const std::vector<float> qkv = RandomVector(rng, Rows(dims) * 3 * d, kInputScale);
  const std::vector<float> dout = RandomVector(rng, Rows(dims) * d, 1.0f);
  StepResult r;
  r.out.assign(static_cast<size_t>(Rows(dims) * d), NAN);
  r.dqkv.assign(qkv.size(), NAN);
  EXPECT_TRUE(attn.Forward(ctx, dims, qkv.data(), r.out.data()).ok()) << Name(dims);
  EXPECT_TRUE(attn.Backward(ctx, dout.data(), r.dqkv.data()).ok()) << Name(dims);
  if (qkv_out != nullptr) *qkv_out = qkv;
  return r;
}

// After the first step at the largest shape, further steps (same shape, or a smaller
// batch) allocate no AlignedBuffer.
TEST(AttentionTest, NoAllocationAfterWarmUp) {
  OpsContext ctx;
  CausalSelfAttention attn;
  const AttentionDims dims = Dims(4, 16, 2, 8);
  // Inputs and outputs are allocated by std::vector, outside the count.
  Step(ctx, attn, dims, 1);
  const int64_t allocations = AlignedAllocationCount();
  for (uint64_t step = 2; step < 6; ++step) {
    Step(ctx, attn, dims, step);
    Step(ctx, attn, Dims(2, 16, 2, 8), 100 + step);
    EXPECT_EQ(AlignedAllocationCount(), allocations) << "step " << step;
  }
}

// One instance reused across batch sizes (smaller, then larger than before) gives the
// results of a fresh instance bit for bit, and its forward matches the reference.
TEST(AttentionTest, ReuseWithDifferentBatchSizes) {
  OpsContext ctx;
  CausalSelfAttention reused;
  uint64_t seed = 40;
  for (const int64_t batch : {3, 1, 5, 2}) {
    const AttentionDims dims = Dims(batch, 6, 2, 4);
    SCOPED_TRACE(Name(dims));
    std::vector<float> qkv;
    const StepResult got = Step(ctx, reused, dims, seed, &qkv);
    OpsContext fresh_ctx;
    CausalSelfAttention fresh;
    const StepResult want = Step(fresh_ctx, fresh, dims, seed);
    EXPECT_EQ(got.out, want.out);
    EXPECT_EQ(got.dqkv, want.dqkv);
    ExpectForwardMatches(dims, qkv, got.out);
    ++seed;
  }
}

TEST(AttentionTest, InvalidUseIsRejected) {
  OpsContext ctx;
  CausalSelfAttention attn;
  std::vector<float> buf(64, 0.0f);
  EXPECT_EQ(attn.Backward(ctx, buf.data(), buf.data()).code(),
            StatusCode::kInvalidArgument);
  for (const AttentionDims& dims :
       {Dims(1, 2, 0, 4), Dims(1, 2, 2, 0), Dims(-1, 2, 1, 1), Dims(1, -2, 1, 1)}) {
    EXPECT_EQ(attn.Forward(ctx, dims, buf.data(), buf.data()).code(),
              StatusCode::kInvalidArgument)
        << Name(dims);
  }
  EXPECT_EQ(attn.Forward(ctx, Dims(1, 2, 1, 1), nullptr, buf.data()).code(),
            StatusCode::kInvalidArgument);
  // Empty batches are valid and touch nothing.
  EXPECT_TRUE(attn.Forward(ctx, Dims(0, 4, 2, 2), nullptr, nullptr).ok());
  EXPECT_TRUE(attn.Backward(ctx, nullptr, nullptr).ok());
}

TEST(AttentionTest, TrainFlopsCountsSixScoreSizedMatmuls) {
  // forward q k^T and probs v, backward dprobs, dv, dq, dk: 6 x 2 B H S^2 D.
  EXPECT_EQ(CausalSelfAttention::TrainFlops(Dims(32, 64, 4, 32)),
            int64_t{6} * 2 * 32 * 4 * 64 * 64 * 32);
  EXPECT_EQ(CausalSelfAttention::TrainFlops(Dims(2, 1, 3, 5)),
            int64_t{6} * 2 * 2 * 3 * 5);
}

}  // namespace
}  // namespace mpimoe::ops
