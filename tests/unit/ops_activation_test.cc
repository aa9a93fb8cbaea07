// Tests of ops/activation.h: GeLU and SwiGLU vs double references and finite diffs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/activation.h"
#include "runtime/core/random.h"
#include "tests/tools/finite_difference.h"
#include "tests/tools/random_vector.h"

namespace mpimoe::ops {
namespace {

using mpimoe::testing::CentralDifference;
using mpimoe::testing::RandomVector;

double RefGelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

double RefGeluGrad(double x) {
  const double c = std::sqrt(2.0 / M_PI);
  const double t = std::tanh(c * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}

double RefSilu(double x) { return x / (1.0 + std::exp(-x)); }

// Inputs covering the interesting range of both activations plus saturated tails.
std::vector<float> ActivationInputs() {
  Rng rng(42);
  std::vector<float> x = RandomVector(rng, 997, 6.0f);
  for (const float v : {0.0f, -0.0f, 1e-6f, -1e-6f, 10.0f, -10.0f, 30.0f, -30.0f}) {
    x.push_back(v);
  }
  return x;
}

// Central finite differences of loss(x) = sum_i w_i f(x)_i, where f runs the op under
// test (f32) and the sum is taken in double. The step is 1e-3; the divisor is the exact
// double difference of the perturbed f32 inputs. Tolerance 2e-3 absolute + 1e-2 relative:
// the truncation error is O(1e-6 * f''') and the f32 forward's rounding contributes
// ~|y| 6e-8 / 1e-3 ~ 1e-4 at most here.
constexpr double kFdStep = 1e-3;
constexpr double kFdAbsTol = 2e-3;
constexpr double kFdRelTol = 1e-2;

void ExpectFdClose(double analytic, double fd, const char* what, size_t i) {
  EXPECT_NEAR(analytic, fd, kFdAbsTol + kFdRelTol * std::fabs(fd)) << what << " at " << i;
}

double WeightedSum(const std::vector<float>& y, const std::vector<float>& w) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(w[i]) * y[i];
  return s;
}

// f32 forward vs double: |error| <= 1e-6 * (1 + |x|) (a few ulps of the tanh/exp terms,
// whose cancellation 1 + tanh(.) is scaled by 0.5 |x|).
TEST(GeluTest, ForwardMatchesReference) {
  const std::vector<float> x = ActivationInputs();
  std::vector<float> y(x.size(), NAN);
  GeluForward(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(y[i], RefGelu(x[i]), 1e-6 * (1.0 + std::fabs(x[i]))) << "x=" << x[i];
  }
}

TEST(GeluTest, ForwardInPlace) {
  const std::vector<float> x = ActivationInputs();
  std::vector<float> y(x.size());
  GeluForward(x.data(), y.data(), static_cast<int64_t>(x.size()));
  std::vector<float> inplace = x;
  GeluForward(inplace.data(), inplace.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(inplace, y);
}

// Backward vs the exact double derivative: |error| <= 1e-5 * (1 + |dy|(1 + |x|)).
TEST(GeluTest, BackwardMatchesAnalyticReference) {
  const std::vector<float> x = ActivationInputs();
  Rng rng(5);
  const std::vector<float> dy = RandomVector(rng, static_cast<int64_t>(x.size()), 2.0f);
  std::vector<float> dx(x.size(), NAN);
  GeluBackward(x.data(), dy.data(), dx.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(dx[i], dy[i] * RefGeluGrad(x[i]),
                1e-5 * (1.0 + std::fabs(dy[i]) * (1.0 + std::fabs(x[i]))))
        << "x=" << x[i];
  }
  // dx may alias dy.
  std::vector<float> aliased = dy;
  GeluBackward(x.data(), aliased.data(), aliased.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(aliased, dx);
}

TEST(GeluTest, BackwardFiniteDifference) {
  Rng rng(6);
  const int64_t n = 64;
  std::vector<float> x = RandomVector(rng, n, 3.0f);
  const std::vector<float> w = RandomVector(rng, n, 1.0f);
  std::vector<float> y(n);
  auto loss = [&] {
    GeluForward(x.data(), y.data(), n);
    return WeightedSum(y, w);
  };
  std::vector<float> dx(n);
  GeluBackward(x.data(), w.data(), dx.data(), n);
  for (size_t i = 0; i < x.size(); ++i) {
    ExpectFdClose(dx[i], CentralDifference(&x[i], kFdStep, loss), "dx", i);
  }
}

// |error| <= 1e-6 * (1 + |gate| |up|): a few ulps of the product.
TEST(SwigluTest, ForwardMatchesReference) {
  const std::vector<float> gate = ActivationInputs();
  Rng rng(8);
  const std::vector<float> up =
      RandomVector(rng, static_cast<int64_t>(gate.size()), 3.0f);
  std::vector<float> y(gate.size(), NAN);
  SwigluForward(gate.data(), up.data(), y.data(), static_cast<int64_t>(gate.size()));
  for (size_t i = 0; i < gate.size(); ++i) {
    EXPECT_NEAR(y[i], RefSilu(gate[i]) * up[i],
                1e-6 * (1.0 + std::fabs(gate[i]) * std::fabs(up[i])))
        << "gate=" << gate[i] << " up=" << up[i];
  }
}

// Backward vs exact double derivatives:
//   dgate = dy up s (1 + g (1 - s)),  dup = dy silu(g),  s = sigmoid(g).
// |error| <= 1e-5 * (1 + |dy| (1 + |g|) (1 + |up|)).
TEST(SwigluTest, BackwardMatchesAnalyticReference) {
  const std::vector<float> gate = ActivationInputs();
  const int64_t n = static_cast<int64_t>(gate.size());
  Rng rng(9);
  const std::vector<float> up = RandomVector(rng, n, 3.0f);
  const std::vector<float> dy = RandomVector(rng, n, 2.0f);
  std::vector<float> dgate(n, NAN), dup(n, NAN);
  SwigluBackward(gate.data(), up.data(), dy.data(), dgate.data(), dup.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    const double s = 1.0 / (1.0 + std::exp(-g));
    const double tol =
        1e-5 * (1.0 + std::fabs(dy[i]) * (1.0 + std::fabs(g)) * (1.0 + std::fabs(up[i])));
    EXPECT_NEAR(dgate[i], dy[i] * up[i] * s * (1.0 + g * (1.0 - s)), tol) << "g=" << g;
    EXPECT_NEAR(dup[i], dy[i] * RefSilu(g), tol) << "g=" << g;
  }
}

TEST(SwigluTest, BackwardFiniteDifference) {
  Rng rng(10);
  const int64_t n = 64;
  std::vector<float> gate = RandomVector(rng, n, 4.0f);
  std::vector<float> up = RandomVector(rng, n, 2.0f);
  const std::vector<float> w = RandomVector(rng, n, 1.0f);
  std::vector<float> y(n);
  auto loss = [&] {
    SwigluForward(gate.data(), up.data(), y.data(), n);
    return WeightedSum(y, w);
  };
  std::vector<float> dgate(n), dup(n);
  SwigluBackward(gate.data(), up.data(), w.data(), dgate.data(), dup.data(), n);
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    ExpectFdClose(dgate[i], CentralDifference(&gate[i], kFdStep, loss), "dgate", i);
    ExpectFdClose(dup[i], CentralDifference(&up[i], kFdStep, loss), "dup", i);
  }
}

}  // namespace
}  // namespace mpimoe::ops
