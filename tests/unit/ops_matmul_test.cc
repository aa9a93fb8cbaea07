// Tests of ops/matmul.h, ops/ops_context.h: matmul (plain and batched) vs a double
// reference, the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "ops/matmul.h"
#include "ops/ops_context.h"
#include "runtime/core/dtype.h"
#include "runtime/core/omp.h"
#include "runtime/core/random.h"
#include "runtime/core/status.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::RandomVector;

constexpr MatmulActivation kAllActivations[] = {
    MatmulActivation::kNone, MatmulActivation::kRelu, MatmulActivation::kGeluTanh,
    MatmulActivation::kGeluErf};

double RefActivation(MatmulActivation act, double x) {
  switch (act) {
    case MatmulActivation::kRelu:
      return x > 0.0 ? x : 0.0;
    case MatmulActivation::kGeluTanh:
      return 0.5 * x *
             (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case MatmulActivation::kGeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case MatmulActivation::kNone:
      break;
  }
  return x;
}

std::string ActivationName(MatmulActivation act) {
  switch (act) {
    case MatmulActivation::kRelu:
      return "relu";
    case MatmulActivation::kGeluTanh:
      return "gelu_tanh";
    case MatmulActivation::kGeluErf:
      return "gelu_erf";
    case MatmulActivation::kNone:
      break;
  }
  return "none";
}

std::string DescName(const MatmulDesc& d) {
  return "batch=" + std::to_string(d.batch) + " m=" + std::to_string(d.m) +
         " k=" + std::to_string(d.k) + " n=" + std::to_string(d.n) +
         " ta=" + std::to_string(d.transpose_a) + " tb=" + std::to_string(d.transpose_b) +
         " rt_m=" + std::to_string(d.runtime_m) + " rt_k=" + std::to_string(d.runtime_k) +
         " a=" + std::string(DTypeName(d.a_dtype)) +
         " b=" + std::string(DTypeName(d.b_dtype)) + " bias=" + std::to_string(d.bias) +
         " act=" + ActivationName(d.activation) + " acc=" + std::to_string(d.accumulate);
}

// Naive double-precision reference of the Matmul contract. `a` and `b` hold the element
// values in their stored layouts (already bf16-rounded by the caller when relevant).
// Also returns, per output, the magnitude scale sum_p |a_ip b_pj| + |bias_j| + |c_ij|
// that the tolerance is relative to.
void RefMatmul(const MatmulDesc& d, const std::vector<float>& a,
               const std::vector<float>& b, const float* bias,
               const std::vector<float>& c_prev, std::vector<double>* out,
               std::vector<double>* scale) {
  out->assign(static_cast<size_t>(d.m * d.n), 0.0);
  scale->assign(static_cast<size_t>(d.m * d.n), 0.0);
  for (int64_t i = 0; i < d.m; ++i) {
    for (int64_t j = 0; j < d.n; ++j) {
      double acc = 0.0;
      double mag = 0.0;
      for (int64_t p = 0; p < d.k; ++p) {
        const double av = d.transpose_a ? a[p * d.m + i] : a[i * d.k + p];
        const double bv = d.transpose_b ? b[j * d.k + p] : b[p * d.n + j];
        acc += av * bv;
        mag += std::fabs(av * bv);
      }
      if (d.bias) {
        acc += bias[j];
        mag += std::fabs(bias[j]);
      }
      double value = RefActivation(d.activation, acc);
      if (d.accumulate) {
        value += c_prev[i * d.n + j];
        mag += std::fabs(c_prev[i * d.n + j]);
      }
      (*out)[i * d.n + j] = value;
      (*scale)[i * d.n + j] = mag;
    }
  }
}

// f32 accumulation of k products: |error| <= 1e-5 * (1 + sum_p |a_ip b_pj| + |bias| +
// |c_prev|). That is ~100 ulps of the magnitude for k <= 70, which covers any summation
// order and oneDNN's vectorised tanh/erf in the GeLU post-ops (~1e-6 relative).
constexpr double kF32RelTol = 1e-5;

void ExpectMatchesReference(const MatmulDesc& d, const std::vector<float>& c,
                            const std::vector<double>& ref,
                            const std::vector<double>& scale, double rel_tol) {
  SCOPED_TRACE(DescName(d));
  int failures = 0;
  for (size_t i = 0; i < ref.size() && failures < 5; ++i) {
    const double tol = rel_tol * (1.0 + scale[i]);
    if (!(std::fabs(c[i] - ref[i]) <= tol)) {
      ++failures;
      ADD_FAILURE() << "element " << i << ": got " << c[i] << ", want " << ref[i]
                    << " (tol " << tol << ")";
    }
  }
}

// Runs `d` on random f32 inputs (stored in the layouts `d` says) and checks it.
void RunAndCheckF32(OpsContext& ctx, const MatmulDesc& d, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> a = RandomVector(rng, d.m * d.k);
  std::vector<float> b = RandomVector(rng, d.k * d.n);
  std::vector<float> bias = RandomVector(rng, d.n);
  std::vector<float> c = RandomVector(rng, d.m * d.n);
  const std::vector<float> c_prev = c;
  std::vector<double> ref, scale;
  RefMatmul(d, a, b, bias.data(), c_prev, &ref, &scale);
  const Status s =
      Matmul(ctx, d, a.data(), b.data(), d.bias ? bias.data() : nullptr, c.data());
  ASSERT_TRUE(s.ok()) << DescName(d) << ": " << s.ToString();
  ExpectMatchesReference(d, c, ref, scale, kF32RelTol);
}

TEST(OpsContextTest, FreshContextHasNoPrimitives) {
  OpsContext ctx;
  EXPECT_EQ(ctx.num_matmul_primitives(), 0);
  EXPECT_EQ(ctx.num_matmul_cache_hits(), 0);
}

TEST(MatmulTest, AllTransposeAndRuntimeDimCombinations) {
  OpsContext ctx;
  uint64_t seed = 1;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      for (const bool rt_m : {false, true}) {
        for (const bool rt_k : {false, true}) {
          // Small odd shapes and one larger shape that crosses oneDNN's blocking.
          for (const auto& [m, k, n] :
               {std::tuple<int64_t, int64_t, int64_t>{7, 13, 5},
                std::tuple<int64_t, int64_t, int64_t>{33, 70, 19}}) {
            MatmulDesc d;
            d.m = m;
            d.k = k;
            d.n = n;
            d.transpose_a = ta;
            d.transpose_b = tb;
            d.runtime_m = rt_m;
            d.runtime_k = rt_k;
            RunAndCheckF32(ctx, d, seed++);
          }
        }
      }
    }
  }
}

TEST(MatmulTest, BiasActivationAccumulateCombinations) {
  OpsContext ctx;
  uint64_t seed = 100;
  for (const bool bias : {false, true}) {
    for (const MatmulActivation act : kAllActivations) {
      for (const bool accumulate : {false, true}) {
        for (const bool ta : {false, true}) {
          MatmulDesc d;
          d.m = 9;
          d.k = 24;
          d.n = 11;
          d.transpose_a = ta;
          d.transpose_b = !ta;
          d.bias = bias;
          d.activation = act;
          d.accumulate = accumulate;
          RunAndCheckF32(ctx, d, seed++);
        }
      }
    }
  }
}

TEST(MatmulTest, ConvenienceF32MatchesReference) {
  OpsContext ctx;
  Rng rng(7);
  for (const bool accumulate : {false, true}) {
    MatmulDesc d;
    d.m = 6;
    d.k = 10;
    d.n = 4;
    d.transpose_a = true;
    d.accumulate = accumulate;
    std::vector<float> a = RandomVector(rng, d.m * d.k);
    std::vector<float> b = RandomVector(rng, d.k * d.n);
    std::vector<float> c = RandomVector(rng, d.m * d.n);
    const std::vector<float> c_prev = c;
    std::vector<double> ref, scale;
    RefMatmul(d, a, b, nullptr, c_prev, &ref, &scale);
    ASSERT_TRUE(MatmulF32(ctx, d.m, d.k, d.n, true, false, a.data(), b.data(), c.data(),
                          accumulate)
                    .ok());
    ExpectMatchesReference(d, c, ref, scale, kF32RelTol);
  }
}

// k == 0: the product is empty, so C (+)= act(bias or 0), for every post-op combination.
TEST(MatmulTest, EmptyReductionKZero) {
  OpsContext ctx;
  Rng rng(11);
  for (const bool bias : {false, true}) {
    for (const MatmulActivation act : kAllActivations) {
      for (const bool accumulate : {false, true}) {
        for (const bool rt_k : {false, true}) {
          MatmulDesc d;
          d.m = 3;
          d.k = 0;
          d.n = 5;
          d.runtime_k = rt_k;
          d.bias = bias;
          d.activation = act;
          d.accumulate = accumulate;
          std::vector<float> bias_v = RandomVector(rng, d.n, 2.0f);
          std::vector<float> c = RandomVector(rng, d.m * d.n);
          const std::vector<float> c_prev = c;
          const std::vector<float> empty;
          std::vector<double> ref, scale;
          RefMatmul(d, empty, empty, bias_v.data(), c_prev, &ref, &scale);
          // Any finite pointers work for the empty operands; none may be dereferenced.
          const float dummy = 0.0f;
          const Status s =
              Matmul(ctx, d, &dummy, &dummy, bias ? bias_v.data() : nullptr, c.data());
          ASSERT_TRUE(s.ok()) << DescName(d) << ": " << s.ToString();
          // Only the activation (computed in f32) contributes error: 1e-6 relative.
          ExpectMatchesReference(d, c, ref, scale, 1e-6);
        }
      }
    }
  }
}

// m == 0 (an expert that received no rows) and n == 0 are valid and write nothing.
TEST(MatmulTest, ZeroRowsOrColumnsWriteNothing) {
  OpsContext ctx;
  std::vector<float> a(64, 1.0f), b(64, 1.0f), bias(8, 1.0f);
  std::vector<float> c(8, -123.0f);
  for (const bool rt_m : {false, true}) {
    MatmulDesc d;
    d.m = 0;
    d.k = 4;
    d.n = 8;
    d.runtime_m = rt_m;
    d.bias = true;
    d.activation = MatmulActivation::kRelu;
    EXPECT_TRUE(Matmul(ctx, d, a.data(), b.data(), bias.data(), c.data()).ok());
    d.m = 2;
    d.n = 0;
    EXPECT_TRUE(Matmul(ctx, d, a.data(), b.data(), bias.data(), c.data()).ok());
  }
  for (const float v : c) EXPECT_EQ(v, -123.0f);
}

// One primitive built with runtime m serves every row count: the cache holds a single
// primitive while m changes and each later call is a cache hit; results stay correct.
TEST(MatmulTest, OneCachedPrimitiveServesDifferentRowCounts) {
  for (const bool ta : {false, true}) {
    OpsContext ctx;
    int64_t calls = 0;
    for (const int64_t m : {4, 1, 37, 16, 129, 4}) {
      MatmulDesc d;
      d.m = m;
      d.k = 12;
      d.n = 8;
      d.transpose_a = ta;
      d.bias = true;
      d.activation = MatmulActivation::kGeluTanh;
      RunAndCheckF32(ctx, d, 1000 + m);
      ++calls;
      EXPECT_EQ(ctx.num_matmul_primitives(), 1) << "m=" << m;
      EXPECT_EQ(ctx.num_matmul_cache_hits(), calls - 1) << "m=" << m;
    }
  }
}

// Weight gradients X^T dY reduce over a variable number of rows: runtime k.
TEST(MatmulTest, OneCachedPrimitiveServesDifferentReductionLengths) {
  for (const bool tb : {false, true}) {
    OpsContext ctx;
    int64_t calls = 0;
    for (const int64_t k : {5, 64, 1, 23}) {
      MatmulDesc d;
      d.m = 6;
      d.k = k;
      d.n = 7;
      d.transpose_a = true;
      d.transpose_b = tb;
      d.runtime_m = false;
      d.runtime_k = true;
      d.accumulate = true;
      RunAndCheckF32(ctx, d, 2000 + k);
      ++calls;
      EXPECT_EQ(ctx.num_matmul_primitives(), 1) << "k=" << k;
      EXPECT_EQ(ctx.num_matmul_cache_hits(), calls - 1) << "k=" << k;
    }
  }
}

// Everything that is not a runtime dimension is part of the key: a fixed m, a different
// n, or a different post-op each need their own primitive, and repeating a desc hits.
TEST(MatmulTest, CacheKeySeparatesDistinctDescs) {
  OpsContext ctx;
  MatmulDesc d;
  d.m = 5;
  d.k = 6;
  d.n = 7;
  d.runtime_m = false;
  RunAndCheckF32(ctx, d, 1);
  EXPECT_EQ(ctx.num_matmul_primitives(), 1);
  d.m = 9;  // m is fixed in this primitive: a new one is needed.
  RunAndCheckF32(ctx, d, 2);
  EXPECT_EQ(ctx.num_matmul_primitives(), 2);
  d.n = 3;
  RunAndCheckF32(ctx, d, 3);
  EXPECT_EQ(ctx.num_matmul_primitives(), 3);
  d.activation = MatmulActivation::kRelu;
  RunAndCheckF32(ctx, d, 4);
  EXPECT_EQ(ctx.num_matmul_primitives(), 4);
  d.accumulate = true;
  RunAndCheckF32(ctx, d, 5);
  EXPECT_EQ(ctx.num_matmul_primitives(), 5);
  EXPECT_EQ(ctx.num_matmul_cache_hits(), 0);
  RunAndCheckF32(ctx, d, 6);
  EXPECT_EQ(ctx.num_matmul_primitives(), 5);
  EXPECT_EQ(ctx.num_matmul_cache_hits(), 1);
}

// The primitive is built once, under one OpenMP thread count, and the cache serves it
// to later calls that may run under another; results must stay correct.
TEST(MatmulTest, CachedPrimitiveCorrectUnderOtherThreadCounts) {
  OpsContext ctx;
  MatmulDesc d;
  d.m = 64;
  d.k = 96;
  d.n = 48;
  d.bias = true;
  d.activation = MatmulActivation::kRelu;
  {
    ScopedNumThreads one(1);
    RunAndCheckF32(ctx, d, 1);
  }
  for (const int threads : {3, 2, 1}) {
    ScopedNumThreads scoped(threads);
    d.m = 64 + threads;
    RunAndCheckF32(ctx, d, 10 + threads);
  }
  EXPECT_EQ(ctx.num_matmul_primitives(), 1);
  EXPECT_EQ(ctx.num_matmul_cache_hits(), 3);
}

// Batched: `batch` items, each checked against RefMatmul of that item alone (the bias is
// shared, transposes apply per item), same f32 tolerance as unbatched.
void RunAndCheckBatchedF32(OpsContext& ctx, const MatmulDesc& d, uint64_t seed) {
  Rng rng(seed);
  const int64_t a_size = d.m * d.k, b_size = d.k * d.n, c_size = d.m * d.n;
  std::vector<float> a = RandomVector(rng, d.batch * a_size);
  std::vector<float> b = RandomVector(rng, d.batch * b_size);
  std::vector<float> bias = RandomVector(rng, d.n);
  std::vector<float> c = RandomVector(rng, d.batch * c_size);
  const std::vector<float> c_prev = c;
  const Status s =
      Matmul(ctx, d, a.data(), b.data(), d.bias ? bias.data() : nullptr, c.data());
  ASSERT_TRUE(s.ok()) << DescName(d) << ": " << s.ToString();
  MatmulDesc item = d;
  item.batch = 1;
  for (int64_t i = 0; i < d.batch; ++i) {
    SCOPED_TRACE("batch item " + std::to_string(i));
    auto slice = [i](const std::vector<float>& v, int64_t size) {
      return std::vector<float>(v.begin() + i * size, v.begin() + (i + 1) * size);
    };
    std::vector<double> ref, scale;
    RefMatmul(item, slice(a, a_size), slice(b, b_size), bias.data(),
              slice(c_prev, c_size), &ref, &scale);
    ExpectMatchesReference(d, slice(c, c_size), ref, scale, kF32RelTol);
  }
}

TEST(MatmulBatchTest, AllTransposeRuntimeDimAndAccumulateCombinations) {
  OpsContext ctx;
  uint64_t seed = 5000;
  for (const int64_t batch : {2, 5}) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        for (const bool rt_m : {false, true}) {
          for (const bool rt_k : {false, true}) {
            for (const bool accumulate : {false, true}) {
              for (const auto& [m, k, n] :
                   {std::tuple<int64_t, int64_t, int64_t>{7, 13, 5},
                    std::tuple<int64_t, int64_t, int64_t>{33, 70, 19}}) {
                MatmulDesc d;
                d.batch = batch;
                d.m = m;
                d.k = k;
                d.n = n;
                d.transpose_a = ta;
                d.transpose_b = tb;
                d.runtime_m = rt_m;
                d.runtime_k = rt_k;
                d.accumulate = accumulate;
                RunAndCheckBatchedF32(ctx, d, seed++);
              }
            }
          }
        }
      }
    }
  }
}

// Attention-like shapes: square score matrices, 1-row items, a dimension of 1.
TEST(MatmulBatchTest, DegenerateAndSquareShapes) {
  OpsContext ctx;
  uint64_t seed = 5500;
  for (const auto& [batch, m, k, n] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t>{3, 1, 1, 1},
        std::tuple<int64_t, int64_t, int64_t, int64_t>{4, 1, 8, 1},
        std::tuple<int64_t, int64_t, int64_t, int64_t>{6, 16, 16, 8},
        std::tuple<int64_t, int64_t, int64_t, int64_t>{8, 16, 8, 16},
        std::tuple<int64_t, int64_t, int64_t, int64_t>{2, 64, 32, 64}}) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        MatmulDesc d;
        d.batch = batch;
        d.m = m;
        d.k = k;
        d.n = n;
        d.transpose_a = ta;
        d.transpose_b = tb;
        d.runtime_m = false;
        RunAndCheckBatchedF32(ctx, d, seed++);
      }
    }
  }
}

TEST(MatmulBatchTest, SharedBiasActivationAccumulate) {
  OpsContext ctx;
  uint64_t seed = 6000;
  for (const MatmulActivation act : kAllActivations) {
    for (const bool accumulate : {false, true}) {
      MatmulDesc d;
      d.batch = 3;
      d.m = 9;
      d.k = 24;
      d.n = 11;
      d.transpose_b = true;
      d.bias = true;
      d.activation = act;
      d.accumulate = accumulate;
      RunAndCheckBatchedF32(ctx, d, seed++);
    }
  }
}

// batch == 1 is the unbatched matmul, and batch is part of the key: the same item shape
// with another batch count needs its own primitive; a runtime m still serves every row
// count for a given batch.
TEST(MatmulBatchTest, BatchIsPartOfTheCacheKey) {
  OpsContext ctx;
  MatmulDesc d;
  d.m = 5;
  d.k = 6;
  d.n = 7;
  RunAndCheckF32(ctx, d, 1);
  EXPECT_EQ(ctx.num_matmul_primitives(), 1);
  d.batch = 2;
  RunAndCheckBatchedF32(ctx, d, 2);
  EXPECT_EQ(ctx.num_matmul_primitives(), 2);
  d.batch = 3;
  RunAndCheckBatchedF32(ctx, d, 3);
  EXPECT_EQ(ctx.num_matmul_primitives(), 3);
  EXPECT_EQ(ctx.num_matmul_cache_hits(), 0);
  d.m = 17;  // runtime m: the batch-3 primitive serves it
  RunAndCheckBatchedF32(ctx, d, 4);
  d.batch = 2;
  d.m = 1;
  RunAndCheckBatchedF32(ctx, d, 5);
  EXPECT_EQ(ctx.num_matmul_primitives(), 3);
  EXPECT_EQ(ctx.num_matmul_cache_hits(), 2);
}

// k == 0 with batch > 1: every item's C (+)= act(bias or 0); batch == 0 writes nothing;
// a negative batch is rejected.
TEST(MatmulBatchTest, EmptyCases) {
  OpsContext ctx;
  Rng rng(21);
  for (const bool accumulate : {false, true}) {
    MatmulDesc d;
    d.batch = 3;
    d.m = 2;
    d.k = 0;
    d.n = 4;
    d.bias = true;
    d.activation = MatmulActivation::kRelu;
    d.accumulate = accumulate;
    std::vector<float> bias = RandomVector(rng, d.n, 2.0f);
    std::vector<float> c = RandomVector(rng, d.batch * d.m * d.n);
    const std::vector<float> c_prev = c;
    const float dummy = 0.0f;
    ASSERT_TRUE(Matmul(ctx, d, &dummy, &dummy, bias.data(), c.data()).ok());
    for (int64_t i = 0; i < d.batch * d.m; ++i) {
      for (int64_t j = 0; j < d.n; ++j) {
        const double want = RefActivation(d.activation, bias[j]) +
                            (accumulate ? c_prev[i * d.n + j] : 0.0);
        EXPECT_NEAR(c[i * d.n + j], want, 1e-6 * (1.0 + std::fabs(want)))
            << "row " << i << " col " << j;
      }
    }
  }
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64, -123.0f);
  MatmulDesc d;
  d.batch = 0;
  d.m = 4;
  d.k = 4;
  d.n = 4;
  EXPECT_TRUE(Matmul(ctx, d, a.data(), b.data(), nullptr, c.data()).ok());
  for (const float v : c) EXPECT_EQ(v, -123.0f);
  d.batch = -1;
  EXPECT_EQ(Matmul(ctx, d, a.data(), b.data(), nullptr, c.data()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ctx.num_matmul_primitives(), 0);
}

std::vector<float> RoundToBf16(const std::vector<float>& v, std::vector<BFloat16>* bits) {
  bits->resize(v.size());
  std::vector<float> rounded(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    (*bits)[i] = FloatToBf16(v[i]);
    rounded[i] = Bf16ToFloat((*bits)[i]);
  }
  return rounded;
}

// bf16 inputs: the reference uses the bf16-rounded values, so only the f32 accumulation
// differs (bf16 x bf16 products are exact in f32): same 1e-5 relative tolerance as f32.
void RunBf16Case(DType a_dtype, DType b_dtype) {
  OpsContext ctx;
  uint64_t seed = 300;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      for (const int64_t m : {5, 40}) {
        MatmulDesc d;
        d.m = m;
        d.k = 48;
        d.n = 13;
        d.transpose_a = ta;
        d.transpose_b = tb;
        d.a_dtype = a_dtype;
        d.b_dtype = b_dtype;
        d.bias = true;
        d.activation = MatmulActivation::kGeluErf;
        d.accumulate = ta;
        Rng rng(seed++);
        std::vector<float> a = RandomVector(rng, d.m * d.k);
        std::vector<float> b = RandomVector(rng, d.k * d.n);
        std::vector<float> bias = RandomVector(rng, d.n);
        std::vector<float> c = RandomVector(rng, d.m * d.n);
        const std::vector<float> c_prev = c;
        std::vector<BFloat16> a_bits, b_bits;
        std::vector<float> a_rounded = RoundToBf16(a, &a_bits);
        std::vector<float> b_rounded = RoundToBf16(b, &b_bits);
        const void* a_ptr =
            a_dtype == DType::kBF16 ? static_cast<const void*>(a_bits.data()) : a.data();
        const void* b_ptr =
            b_dtype == DType::kBF16 ? static_cast<const void*>(b_bits.data()) : b.data();
        std::vector<double> ref, scale;
        RefMatmul(d, a_dtype == DType::kBF16 ? a_rounded : a,
                  b_dtype == DType::kBF16 ? b_rounded : b, bias.data(), c_prev, &ref,
                  &scale);
        const Status s = Matmul(ctx, d, a_ptr, b_ptr, bias.data(), c.data());
        if (s.code() == StatusCode::kUnimplemented) {
          GTEST_SKIP()
              << "oneDNN has no implementation for this dtype combination on this "
                 "CPU: "
              << s.ToString();
        }
        ASSERT_TRUE(s.ok()) << DescName(d) << ": " << s.ToString();
        ExpectMatchesReference(d, c, ref, scale, kF32RelTol);
      }
    }
  }
}

TEST(MatmulTest, Bf16BothInputs) { RunBf16Case(DType::kBF16, DType::kBF16); }
TEST(MatmulTest, Bf16WeightsF32Activations) { RunBf16Case(DType::kF32, DType::kBF16); }
TEST(MatmulTest, Bf16ActivationsF32Weights) { RunBf16Case(DType::kBF16, DType::kF32); }

TEST(MatmulTest, InvalidArgumentsAreRejected) {
  OpsContext ctx;
  std::vector<float> a(64, 1.0f), b(64, 1.0f), bias(8, 1.0f), c(64, 0.0f);
  auto base = [] {
    MatmulDesc d;
    d.m = 4;
    d.k = 4;
    d.n = 4;
    return d;
  };
  for (int which = 0; which < 3; ++which) {
    MatmulDesc d = base();
    (which == 0 ? d.m : which == 1 ? d.k : d.n) = -1;
    const Status s = Matmul(ctx, d, a.data(), b.data(), nullptr, c.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << which << ": " << s.ToString();
  }
  {
    MatmulDesc d = base();
    d.bias = true;  // desc wants a bias but none is given
    const Status s = Matmul(ctx, d, a.data(), b.data(), nullptr, c.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  }
  {
    MatmulDesc d = base();  // a bias is given but the desc has none
    const Status s = Matmul(ctx, d, a.data(), b.data(), bias.data(), c.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  }
  {
    MatmulDesc d = base();
    d.a_dtype = DType::kI32;
    const Status s = Matmul(ctx, d, a.data(), b.data(), nullptr, c.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  }
  {
    MatmulDesc d = base();
    d.b_dtype = DType::kI32;
    const Status s = Matmul(ctx, d, a.data(), b.data(), nullptr, c.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  }
  // Rejected before any oneDNN work.
  EXPECT_EQ(ctx.num_matmul_primitives(), 0);
}

}  // namespace
}  // namespace mpimoe::ops
