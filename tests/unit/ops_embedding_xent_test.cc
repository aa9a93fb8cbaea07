// Tests of ops/embedding.h, ops/cross_entropy.h: references, FD checks, bad ids.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "runtime/core/omp.h"
#include "runtime/core/random.h"
#include "runtime/core/status.h"
#include "tests/tools/finite_difference.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::CentralDifference;
using mpimoe::testing::RandomVector;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<int32_t> RandomIds(Rng& rng, int64_t n, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = static_cast<int32_t>(rng.Below(vocab));
  return ids;
}

TEST(EmbeddingTest, ForwardGathersRows) {
  Rng rng(1);
  const int64_t vocab = 11;
  const int64_t d = 21;
  const int64_t n = 30;
  const std::vector<float> table = RandomVector(rng, vocab * d, 1.0f);
  std::vector<int32_t> ids = RandomIds(rng, n, vocab);
  ids[0] = 0;
  ids[1] = static_cast<int32_t>(vocab - 1);
  std::vector<float> out(n * d, NAN);
  ASSERT_TRUE(EmbeddingForward(ids.data(), n, table.data(), vocab, d, out.data()).ok());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < d; ++c) {
      ASSERT_EQ(out[i * d + c], table[ids[i] * d + c]) << "i=" << i << " c=" << c;
    }
  }
}

TEST(EmbeddingTest, OutOfRangeIdReturnsInvalidArgumentNamingPosition) {
  const int64_t vocab = 5;
  const int64_t d = 3;
  const std::vector<float> table(vocab * d, 1.0f);
  std::vector<float> out(4 * d);
  for (const int32_t bad : {5, 1000, -1, std::numeric_limits<int32_t>::min()}) {
    const std::vector<int32_t> ids = {0, 4, bad, 1};
    const Status s = EmbeddingForward(ids.data(), 4, table.data(), vocab, d, out.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Contains(s.message(), "position 2")) << s.message();
    EXPECT_TRUE(Contains(s.message(), std::to_string(bad))) << s.message();
  }
}

// dtable[ids[i]] += dout[i]; repeated ids sum. Reference in double: |error| <= 1e-5
// (at most ~n/vocab + 1 terms of magnitude <= 3). d = 37 spans three column blocks.
TEST(EmbeddingTest, BackwardScatterAddsRepeatedIds) {
  Rng rng(2);
  const int64_t vocab = 7;
  const int64_t d = 37;
  const int64_t n = 40;
  const std::vector<int32_t> ids = RandomIds(rng, n, vocab);
  const std::vector<float> dout = RandomVector(rng, n * d, 1.0f);
  const std::vector<float> dtable0 = RandomVector(rng, vocab * d, 1.0f);
  std::vector<float> dtable = dtable0;
  EmbeddingBackward(ids.data(), n, dout.data(), d, dtable.data());
  std::vector<double> ref(dtable0.begin(), dtable0.end());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < d; ++c) ref[ids[i] * d + c] += dout[i * d + c];
  }
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(dtable[i], ref[i], 1e-5) << i;
}

// The header promises a fixed summation order: identical bits for 1 and 3 threads.
TEST(EmbeddingTest, BackwardBitwiseReproducibleAcrossThreadCounts) {
  Rng rng(3);
  const int64_t vocab = 5;
  const int64_t d = 70;
  const int64_t n = 500;
  const std::vector<int32_t> ids = RandomIds(rng, n, vocab);
  const std::vector<float> dout = RandomVector(rng, n * d, 1.0f);
  auto run = [&](int threads) {
    ScopedNumThreads scoped(threads);
    std::vector<float> dtable(vocab * d, 0.0f);
    EmbeddingBackward(ids.data(), n, dout.data(), d, dtable.data());
    return dtable;
  };
  EXPECT_EQ(run(1), run(3));
}

// Finite differences of loss = sum w * EmbeddingForward(table) in every table element.
// The op is linear: step 1e-3, tolerance 2e-3 absolute + 1e-2 relative.
TEST(EmbeddingTest, BackwardFiniteDifference) {
  Rng rng(4);
  const int64_t vocab = 6;
  const int64_t d = 5;
  const int64_t n = 9;
  std::vector<float> table = RandomVector(rng, vocab * d, 1.0f);
  std::vector<int32_t> ids = RandomIds(rng, n, vocab);
  ids[3] = ids[7];  // at least one repeated id
  const std::vector<float> w = RandomVector(rng, n * d, 1.0f);
  std::vector<float> out(n * d);
  auto loss = [&] {
    EXPECT_TRUE(EmbeddingForward(ids.data(), n, table.data(), vocab, d, out.data()).ok());
    double s = 0.0;
    for (size_t i = 0; i < out.size(); ++i) s += double{w[i]} * out[i];
    return s;
  };
  std::vector<float> dtable(vocab * d, 0.0f);
  EmbeddingBackward(ids.data(), n, w.data(), d, dtable.data());
  for (size_t i = 0; i < table.size(); ++i) {
    const double g = CentralDifference(&table[i], 1e-3, loss);
    EXPECT_NEAR(dtable[i], g, 2e-3 + 1e-2 * std::fabs(g)) << "dtable at " << i;
  }
}

// Logits with large per-row offsets so that an unstabilised logsumexp overflows; some
// targets are -1 (ignored).
struct XentCase {
  int64_t n = 10;
  int64_t vocab = 13;
  std::vector<float> logits;
  std::vector<int32_t> targets;
};

XentCase MakeXentCase(uint64_t seed, float offset_scale) {
  XentCase c;
  Rng rng(seed);
  c.logits = RandomVector(rng, c.n * c.vocab, 3.0f);
  for (int64_t i = 0; i < c.n; ++i) {
    const float offset = offset_scale * static_cast<float>(i % 3 - 1);
    for (int64_t v = 0; v < c.vocab; ++v) c.logits[i * c.vocab + v] += offset;
  }
  c.targets = RandomIds(rng, c.n, c.vocab);
  c.targets[2] = -1;
  c.targets[7] = -1;
  c.targets[0] = 0;
  c.targets[1] = static_cast<int32_t>(c.vocab - 1);
  return c;
}

double RefLse(const float* z, int64_t vocab) {
  double max_value = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < vocab; ++v) max_value = std::fmax(max_value, z[v]);
  double sum = 0.0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(z[v] - max_value);
  return max_value + std::log(sum);
}

// loss and lse vs double: |error| <= 1e-6 * (1 + |lse|) + 1e-6 (lse is computed in f32
// around the row max; loss = lse - z[t] inherits that absolute error).
TEST(CrossEntropyTest, ForwardMatchesReferenceAndIgnoresMinusOne) {
  const XentCase c = MakeXentCase(5, 300.0f);
  std::vector<float> losses(c.n, NAN), lse(c.n, NAN);
  ASSERT_TRUE(CrossEntropyForward(c.logits.data(), c.targets.data(), c.n, c.vocab,
                                  losses.data(), lse.data())
                  .ok());
  for (int64_t i = 0; i < c.n; ++i) {
    const double ref_lse = RefLse(c.logits.data() + i * c.vocab, c.vocab);
    const double tol = 1e-6 + 1e-6 * std::fabs(ref_lse);
    EXPECT_NEAR(lse[i], ref_lse, tol) << i;
    if (c.targets[i] < 0) {
      EXPECT_EQ(losses[i], 0.0f) << "ignored position " << i;
    } else {
      EXPECT_NEAR(losses[i], ref_lse - c.logits[i * c.vocab + c.targets[i]], tol) << i;
      EXPECT_GT(losses[i], 0.0f) << i;
    }
  }
}

TEST(CrossEntropyTest, OutOfRangeTargetReturnsInvalidArgumentNamingPosition) {
  const XentCase c = MakeXentCase(6, 0.0f);
  std::vector<float> losses(c.n), lse(c.n);
  for (const int32_t bad : {static_cast<int32_t>(c.vocab), -2, 99999}) {
    std::vector<int32_t> targets = c.targets;
    targets[4] = bad;
    const Status s = CrossEntropyForward(c.logits.data(), targets.data(), c.n, c.vocab,
                                         losses.data(), lse.data());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Contains(s.message(), "position 4")) << s.message();
    EXPECT_TRUE(Contains(s.message(), std::to_string(bad))) << s.message();
  }
}

// Backward vs the double formula dloss (softmax - onehot), and zero rows for ignored
// targets. Tolerance 1e-6 + 2.5e-7 * |lse|: entries are probabilities times |dloss| <= 1,
// computed as exp(z - lse) with lse stored in f32, whose rounding (~6e-8 |lse|, ~2e-5 at
// the +-300 offsets used here) becomes a relative error of the probability.
// dlogits may alias logits.
TEST(CrossEntropyTest, BackwardMatchesReference) {
  const XentCase c = MakeXentCase(7, 300.0f);
  Rng rng(77);
  const std::vector<float> dloss = RandomVector(rng, c.n, 1.0f);
  std::vector<float> losses(c.n), lse(c.n);
  ASSERT_TRUE(CrossEntropyForward(c.logits.data(), c.targets.data(), c.n, c.vocab,
                                  losses.data(), lse.data())
                  .ok());
  std::vector<float> dlogits(c.logits.size(), NAN);
  CrossEntropyBackward(c.logits.data(), c.targets.data(), lse.data(), dloss.data(), c.n,
                       c.vocab, dlogits.data());
  for (int64_t i = 0; i < c.n; ++i) {
    const double ref_lse = RefLse(c.logits.data() + i * c.vocab, c.vocab);
    for (int64_t v = 0; v < c.vocab; ++v) {
      double want = 0.0;
      if (c.targets[i] >= 0) {
        want = dloss[i] * (std::exp(c.logits[i * c.vocab + v] - ref_lse) -
                           (v == c.targets[i] ? 1.0 : 0.0));
      }
      EXPECT_NEAR(dlogits[i * c.vocab + v], want, 1e-6 + 2.5e-7 * std::fabs(ref_lse))
          << "i=" << i << " v=" << v;
    }
  }
  std::vector<float> aliased = c.logits;
  CrossEntropyBackward(aliased.data(), c.targets.data(), lse.data(), dloss.data(), c.n,
                       c.vocab, aliased.data());
  EXPECT_EQ(aliased, dlogits);
}

// Finite differences of loss = sum_i dloss_i * loss_i through the f32 forward, step 1e-3,
// tolerance 2e-3 absolute + 1e-2 relative (moderate logits, no offsets, so the f32
// forward's rounding ~1e-7 * |lse| / 1e-3 stays ~1e-4).
TEST(CrossEntropyTest, BackwardFiniteDifference) {
  XentCase c = MakeXentCase(8, 0.0f);
  Rng rng(88);
  const std::vector<float> dloss = RandomVector(rng, c.n, 1.0f);
  std::vector<float> losses(c.n), lse(c.n);
  auto loss = [&] {
    EXPECT_TRUE(CrossEntropyForward(c.logits.data(), c.targets.data(), c.n, c.vocab,
                                    losses.data(), lse.data())
                    .ok());
    double s = 0.0;
    for (int64_t i = 0; i < c.n; ++i) s += double{dloss[i]} * losses[i];
    return s;
  };
  loss();
  std::vector<float> dlogits(c.logits.size());
  CrossEntropyBackward(c.logits.data(), c.targets.data(), lse.data(), dloss.data(), c.n,
                       c.vocab, dlogits.data());
  for (size_t i = 0; i < c.logits.size(); ++i) {
    const double g = CentralDifference(&c.logits[i], 1e-3, loss);
    EXPECT_NEAR(dlogits[i], g, 2e-3 + 1e-2 * std::fabs(g)) << "dlogits at " << i;
  }
}

}  // namespace
}  // namespace mpimoe::ops
