// Tests of ops/adamw.h: AdamW steps against a double reference of decoupled AdamW.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/adamw.h"
#include "runtime/core/random.h"

namespace mpimoe::ops {
namespace {

// The moments and eps these tests were written for (AdamWOptions has no defaults).
AdamWOptions Adam(float lr) {
  AdamWOptions o;
  o.lr = lr;
  o.beta1 = 0.9f;
  o.beta2 = 0.999f;
  o.eps = 1e-8f;
  return o;
}

// Decoupled AdamW with bias correction, in double, from the same f32 option values.
struct RefAdamW {
  std::vector<double> p, m, v;

  void Step(const AdamWOptions& o, int64_t step, const std::vector<float>& g) {
    const double b1 = o.beta1, b2 = o.beta2, lr = o.lr, eps = o.eps, wd = o.weight_decay;
    const double c1 = 1.0 - std::pow(b1, static_cast<double>(step));
    const double c2 = 1.0 - std::pow(b2, static_cast<double>(step));
    for (size_t i = 0; i < p.size(); ++i) {
      const double gi = double{g[i]} * o.grad_scale;
      m[i] = b1 * m[i] + (1.0 - b1) * gi;
      v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
      const double mhat = m[i] / c1;
      const double vhat = v[i] / c2;
      p[i] -= lr * (mhat / (std::sqrt(vhat) + eps) + wd * p[i]);
    }
  }
};

std::vector<float> Gradient(Rng& rng, int64_t n) {
  std::vector<float> g(static_cast<size_t>(n));
  for (size_t i = 0; i < g.size(); ++i) {
    switch (i % 10) {
      case 0:
        g[i] = 0.0f;  // never any gradient: only the decay moves it
        break;
      case 1:
        g[i] = 1e-6f * rng.Normal();  // tiny: eps matters
        break;
      default:
        g[i] = rng.Normal();
    }
  }
  return g;
}

// Runs `num_steps` steps from `first_step` on f32 state and on the double reference,
// starting from the same (f32) state, and compares after every step.
//
// Tolerances: m and v are f32 recurrences: |dm| <= 1e-6 * (1 + |m|),
// |dv| <= 1e-5 * v + 1e-12. The parameter update lr * mhat / (sqrt(vhat) + eps) has
// O(1) ratio; its f32 error is dominated by the bias correction 1 - beta2^t computed in
// f32 (an absolute error of ~1 ulp of 1.0 on a value that is 1e-3 at t = 1, i.e. up to
// ~6e-5 relative, 3e-5 after the sqrt). So per step |dp| <= 1e-4 * lr plus f32 rounding
// of p: tolerance 1e-4 * lr * steps_taken + 1e-6 * (1 + |p|).
void RunAndCompare(const AdamWOptions& o, int64_t first_step, int64_t num_steps,
                   uint64_t seed, bool nonzero_initial_moments) {
  const int64_t n = 1000;
  Rng rng(seed);
  std::vector<float> p(n), m(n, 0.0f), v(n, 0.0f);
  for (float& x : p) x = rng.Normal();
  if (nonzero_initial_moments) {
    for (int64_t i = 0; i < n; ++i) {
      m[i] = 0.1f * rng.Normal();
      v[i] = 0.01f * rng.Uniform() + 1e-4f;
    }
  }
  RefAdamW ref{std::vector<double>(p.begin(), p.end()),
               std::vector<double>(m.begin(), m.end()),
               std::vector<double>(v.begin(), v.end())};
  for (int64_t s = 0; s < num_steps; ++s) {
    const int64_t step = first_step + s;
    const std::vector<float> g = Gradient(rng, n);
    AdamWStep(o, step, p.data(), g.data(), m.data(), v.data(), n);
    ref.Step(o, step, g);
    const double p_tol_lr = 1e-4 * o.lr * static_cast<double>(s + 1);
    int failures = 0;
    for (int64_t i = 0; i < n && failures < 5; ++i) {
      const bool ok =
          std::fabs(p[i] - ref.p[i]) <= p_tol_lr + 1e-6 * (1.0 + std::fabs(ref.p[i])) &&
          std::fabs(m[i] - ref.m[i]) <= 1e-6 * (1.0 + std::fabs(ref.m[i])) &&
          std::fabs(v[i] - ref.v[i]) <= 1e-5 * ref.v[i] + 1e-12;
      if (!ok) {
        ++failures;
        ADD_FAILURE() << "step " << step << " i " << i << ": p " << p[i] << " vs "
                      << ref.p[i] << ", m " << m[i] << " vs " << ref.m[i] << ", v "
                      << v[i] << " vs " << ref.v[i];
      }
    }
  }
}

TEST(AdamWTest, MatchesDoubleReferenceWithWeightDecay) {
  AdamWOptions o = Adam(1e-2f);
  o.weight_decay = 0.1f;
  RunAndCompare(o, /*first_step=*/1, /*num_steps=*/8, /*seed=*/1, false);
}

TEST(AdamWTest, MatchesDoubleReferenceWithGradScale) {
  AdamWOptions o = Adam(1e-2f);
  o.weight_decay = 0.05f;
  o.grad_scale = 0.25f;  // as clipping would set it
  RunAndCompare(o, 1, 8, 4, false);
}

TEST(AdamWTest, MatchesDoubleReferenceLargeEpsNoDecay) {
  // eps comparable to sqrt(vhat) makes its placement (after the sqrt of the
  // bias-corrected v) visible.
  AdamWOptions o = Adam(3e-3f);
  o.beta1 = 0.8f;
  o.beta2 = 0.95f;
  o.eps = 1e-2f;
  RunAndCompare(o, 1, 6, 2, false);
}

TEST(AdamWTest, MatchesDoubleReferenceWhenResumingLate) {
  AdamWOptions o = Adam(1e-3f);
  o.weight_decay = 0.01f;
  RunAndCompare(o, /*first_step=*/500, /*num_steps=*/5, /*seed=*/3, true);
}

// With zero gradient and zero moments the step is pure decoupled decay:
// p <- p (1 - lr wd), independent of the moments (coupled L2 would instead move p by
// ~lr sign(p)). Tolerance 1e-7 relative (two f32 roundings).
TEST(AdamWTest, DecayIsDecoupledFromMoments) {
  AdamWOptions o = Adam(0.05f);
  o.weight_decay = 0.2f;
  std::vector<float> p = {1.0f, -2.0f, 0.5f, 0.0f};
  const std::vector<float> p0 = p;
  const std::vector<float> g(p.size(), 0.0f);
  std::vector<float> m(p.size(), 0.0f), v(p.size(), 0.0f);
  AdamWStep(o, 1, p.data(), g.data(), m.data(), v.data(), static_cast<int64_t>(p.size()));
  for (size_t i = 0; i < p.size(); ++i) {
    const double want = p0[i] * (1.0 - double{o.lr} * o.weight_decay);
    EXPECT_NEAR(p[i], want, 1e-7 * std::fabs(want)) << i;
    EXPECT_EQ(m[i], 0.0f);
    EXPECT_EQ(v[i], 0.0f);
  }
}

// At step 1 from zero moments, mhat = g and vhat = g^2, so without decay the update is
// lr * g / (|g| + eps) ~= lr * sign(g): |error| <= 1e-6 * lr + f32 rounding of p.
TEST(AdamWTest, FirstStepMovesBySignTimesLr) {
  AdamWOptions o = Adam(0.01f);
  const std::vector<float> g = {3.0f, -0.25f, 1e-2f, -40.0f};
  std::vector<float> p = {0.5f, 0.5f, -1.0f, 2.0f};
  const std::vector<float> p0 = p;
  std::vector<float> m(p.size(), 0.0f), v(p.size(), 0.0f);
  AdamWStep(o, 1, p.data(), g.data(), m.data(), v.data(), static_cast<int64_t>(p.size()));
  for (size_t i = 0; i < p.size(); ++i) {
    const double want = p0[i] - double{o.lr} * (g[i] > 0 ? 1.0 : -1.0);
    EXPECT_NEAR(p[i], want, 1e-6 * o.lr + 2e-7 * std::fabs(want)) << i;
  }
}

}  // namespace
}  // namespace mpimoe::ops
