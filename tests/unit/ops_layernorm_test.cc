// Tests of ops/layernorm.h: forward vs a double reference, backward by finite diffs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/layernorm.h"
#include "runtime/core/omp.h"
#include "runtime/core/random.h"
#include "tests/tools/finite_difference.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::CentralDifference;
using mpimoe::testing::RandomVector;

struct RefForward {
  std::vector<double> y, mean, rstd;
};

RefForward RefLayerNorm(const std::vector<float>& x, const std::vector<float>& gamma,
                        const std::vector<float>& beta, int64_t rows, int64_t d,
                        double eps) {
  RefForward f;
  f.y.resize(rows * d);
  for (int64_t r = 0; r < rows; ++r) {
    double mu = 0.0;
    for (int64_t c = 0; c < d; ++c) mu += x[r * d + c];
    mu /= d;
    double var = 0.0;
    for (int64_t c = 0; c < d; ++c) var += (x[r * d + c] - mu) * (x[r * d + c] - mu);
    var /= d;
    const double rs = 1.0 / std::sqrt(var + eps);
    for (int64_t c = 0; c < d; ++c) {
      f.y[r * d + c] = (x[r * d + c] - mu) * rs * gamma[c] + beta[c];
    }
    f.mean.push_back(mu);
    f.rstd.push_back(rs);
  }
  return f;
}

// Forward vs double. Rows have offsets in [-20, 30] and spreads 0.5 to 3.5, so the f32
// mean carries ~|offset| * 1e-7 error which becomes ~5e-6 in xhat: tolerance on y is 2e-5
// * (1 + |gamma| + |beta|); mean 1e-6 * (1 + |mean|); rstd 2e-5 relative.
TEST(LayerNormTest, ForwardMatchesReference) {
  Rng rng(1);
  for (const int64_t d : {1, 5, 16, 37}) {
    const int64_t rows = 11;
    std::vector<float> x;
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> row =
          RandomVector(rng, d, 0.5f + static_cast<float>(r % 4), 10.0f * (r % 6) - 20.0f);
      x.insert(x.end(), row.begin(), row.end());
    }
    const std::vector<float> gamma = RandomVector(rng, d, 1.0f, 1.0f);
    const std::vector<float> beta = RandomVector(rng, d, 1.0f);
    const float eps = 1e-5f;
    std::vector<float> y(rows * d, NAN), mean(rows, NAN), rstd(rows, NAN);
    LayerNormForward(x.data(), gamma.data(), beta.data(), rows, d, eps, y.data(),
                     mean.data(), rstd.data());
    const RefForward ref = RefLayerNorm(x, gamma, beta, rows, d, eps);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_NEAR(mean[r], ref.mean[r], 1e-6 * (1.0 + std::fabs(ref.mean[r])))
          << "d=" << d << " r=" << r;
      EXPECT_NEAR(rstd[r], ref.rstd[r], 2e-5 * ref.rstd[r]) << "d=" << d << " r=" << r;
      for (int64_t c = 0; c < d; ++c) {
        EXPECT_NEAR(y[r * d + c], ref.y[r * d + c],
                    2e-5 * (1.0 + std::fabs(gamma[c]) + std::fabs(beta[c])))
            << "d=" << d << " r=" << r << " c=" << c;
      }
    }
  }
}

// Exact double gradients of loss = sum w * y (the same formulas the header promises):
//   dx = rstd (g - mean(g) - xhat mean(g xhat)), g = w gamma; dgamma = sum_r w xhat;
//   dbeta = sum_r w.
struct RefGrads {
  std::vector<double> dx, dgamma, dbeta;
};

RefGrads RefBackward(const std::vector<float>& w, const std::vector<float>& x,
                     const std::vector<float>& gamma, int64_t rows, int64_t d,
                     double eps) {
  const std::vector<float> zeros(d, 0.0f);
  const RefForward f = RefLayerNorm(x, gamma, zeros, rows, d, eps);
  RefGrads g;
  g.dx.resize(rows * d);
  g.dgamma.assign(d, 0.0);
  g.dbeta.assign(d, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double mean_g = 0.0, mean_gx = 0.0;
    for (int64_t c = 0; c < d; ++c) {
      const double xhat = (x[r * d + c] - f.mean[r]) * f.rstd[r];
      mean_g += double{w[r * d + c]} * gamma[c];
      mean_gx += double{w[r * d + c]} * gamma[c] * xhat;
      g.dgamma[c] += w[r * d + c] * xhat;
      g.dbeta[c] += w[r * d + c];
    }
    mean_g /= d;
    mean_gx /= d;
    for (int64_t c = 0; c < d; ++c) {
      const double xhat = (x[r * d + c] - f.mean[r]) * f.rstd[r];
      g.dx[r * d + c] =
          f.rstd[r] * (double{w[r * d + c]} * gamma[c] - mean_g - xhat * mean_gx);
    }
  }
  return g;
}

// Backward vs the double formulas (tolerance 1e-4 * (1 + |ref|): f32 sums of d or rows
// terms of magnitude ~1), and dgamma/dbeta accumulate into what the caller passes in.
TEST(LayerNormTest, BackwardMatchesReferenceAndAccumulates) {
  Rng rng(2);
  for (const int64_t d : {3, 16, 37}) {
    const int64_t rows = 13;
    const std::vector<float> x = RandomVector(rng, rows * d, 2.0f, 0.5f);
    const std::vector<float> gamma = RandomVector(rng, d, 1.0f, 1.0f);
    const std::vector<float> beta = RandomVector(rng, d, 1.0f);
    const std::vector<float> dy = RandomVector(rng, rows * d, 1.0f);
    const float eps = 1e-5f;
    std::vector<float> y(rows * d), mean(rows), rstd(rows);
    LayerNormForward(x.data(), gamma.data(), beta.data(), rows, d, eps, y.data(),
                     mean.data(), rstd.data());
    std::vector<float> dx(rows * d, NAN);  // overwritten
    const std::vector<float> dgamma0 = RandomVector(rng, d, 3.0f);
    const std::vector<float> dbeta0 = RandomVector(rng, d, 3.0f);
    std::vector<float> dgamma = dgamma0, dbeta = dbeta0;  // accumulated (+=)
    LayerNormBackward(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), rows,
                      d, dx.data(), dgamma.data(), dbeta.data());
    const RefGrads ref = RefBackward(dy, x, gamma, rows, d, eps);
    for (int64_t i = 0; i < rows * d; ++i) {
      EXPECT_NEAR(dx[i], ref.dx[i], 1e-4 * (1.0 + std::fabs(ref.dx[i])))
          << "d=" << d << " i=" << i;
    }
    for (int64_t c = 0; c < d; ++c) {
      const double want_gamma = dgamma0[c] + ref.dgamma[c];
      const double want_beta = dbeta0[c] + ref.dbeta[c];
      EXPECT_NEAR(dgamma[c], want_gamma, 1e-4 * (1.0 + std::fabs(want_gamma)))
          << "d=" << d << " c=" << c;
      EXPECT_NEAR(dbeta[c], want_beta, 1e-4 * (1.0 + std::fabs(want_beta)))
          << "d=" << d << " c=" << c;
    }
  }
}

// Central finite differences of loss = sum w * LayerNormForward(x, gamma, beta) (f32
// forward, double sum) w.r.t. every element of x, gamma and beta. Step 1e-3 on rows with
// unit variance (well conditioned); tolerance 2e-3 absolute + 1e-2 relative.
TEST(LayerNormTest, BackwardFiniteDifference) {
  Rng rng(3);
  const int64_t rows = 4;
  const int64_t d = 19;  // one full 16-column block and a partial one
  const float eps = 1e-5f;
  std::vector<float> x = RandomVector(rng, rows * d, 1.7f, 0.3f);
  std::vector<float> gamma = RandomVector(rng, d, 0.5f, 1.0f);
  std::vector<float> beta = RandomVector(rng, d, 1.0f);
  const std::vector<float> w = RandomVector(rng, rows * d, 1.0f);
  std::vector<float> y(rows * d), mean(rows), rstd(rows);
  auto loss = [&] {
    LayerNormForward(x.data(), gamma.data(), beta.data(), rows, d, eps, y.data(),
                     mean.data(), rstd.data());
    double s = 0.0;
    for (size_t i = 0; i < y.size(); ++i) s += double{w[i]} * y[i];
    return s;
  };
  loss();  // mean, rstd at the unperturbed point
  std::vector<float> dx(rows * d), dgamma(d, 0.0f), dbeta(d, 0.0f);
  LayerNormBackward(w.data(), x.data(), gamma.data(), mean.data(), rstd.data(), rows, d,
                    dx.data(), dgamma.data(), dbeta.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const double g = CentralDifference(&x[i], 1e-3, loss);
    EXPECT_NEAR(dx[i], g, 2e-3 + 1e-2 * std::fabs(g)) << "dx at " << i;
  }
  for (size_t c = 0; c < gamma.size(); ++c) {
    const double gg = CentralDifference(&gamma[c], 1e-3, loss);
    EXPECT_NEAR(dgamma[c], gg, 2e-3 + 1e-2 * std::fabs(gg)) << "dgamma at " << c;
    const double gb = CentralDifference(&beta[c], 1e-3, loss);
    EXPECT_NEAR(dbeta[c], gb, 2e-3 + 1e-2 * std::fabs(gb)) << "dbeta at " << c;
  }
}

// The header promises parameter gradients independent of the thread count (bitwise).
TEST(LayerNormTest, BackwardBitwiseReproducibleAcrossThreadCounts) {
  Rng rng(4);
  const int64_t rows = 257;
  const int64_t d = 70;
  const std::vector<float> x = RandomVector(rng, rows * d, 2.0f);
  const std::vector<float> gamma = RandomVector(rng, d, 0.5f, 1.0f);
  const std::vector<float> beta = RandomVector(rng, d, 1.0f);
  const std::vector<float> dy = RandomVector(rng, rows * d, 1.0f);
  std::vector<float> y(rows * d), mean(rows), rstd(rows);
  LayerNormForward(x.data(), gamma.data(), beta.data(), rows, d, 1e-5f, y.data(),
                   mean.data(), rstd.data());
  auto run = [&](int threads, std::vector<float>* dx, std::vector<float>* dgamma,
                 std::vector<float>* dbeta) {
    ScopedNumThreads scoped(threads);
    dx->assign(rows * d, 0.0f);
    dgamma->assign(d, 0.0f);
    dbeta->assign(d, 0.0f);
    LayerNormBackward(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), rows,
                      d, dx->data(), dgamma->data(), dbeta->data());
  };
  std::vector<float> dx1, dg1, db1, dx3, dg3, db3;
  run(1, &dx1, &dg1, &db1);
  run(3, &dx3, &dg3, &db3);
  EXPECT_EQ(dx1, dx3);
  EXPECT_EQ(dg1, dg3);
  EXPECT_EQ(db1, db3);
}

}  // namespace
}  // namespace mpimoe::ops
