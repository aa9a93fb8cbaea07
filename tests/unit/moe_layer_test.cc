// Tests of runtime/moe: MoeLayer forward against a naive double-precision reference,
// backward against central finite differences for the input and every parameter
// (router, W1, W2, W3) in dropless and capacity modes, E=1/k=1 equals DenseFfn,
// deterministic tie-breaking, bitwise reproducibility and no allocation after warm-up.
#include "runtime/moe/moe_layer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "parallel/self_communicator.h"
#include "runtime/core/random.h"
#include "runtime/moe/dense_ffn.h"
#include "runtime/moe/expert_parallel_dispatcher.h"
#include "tests/tools/finite_difference.h"

namespace mpimoe::moe {
namespace {

using mpimoe::testing::CentralDifference;

// n standard normal draws of Rng(seed) (testing::RandomVector is uniform).
std::vector<float> NormalVector(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.Normal();
  return v;
}

TensorView View(std::vector<float>& v, int64_t rows, int64_t cols) {
  return TensorView(v.data(), DType::kF32, {rows, cols});
}

double GeluRef(double x) {
  return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
double SiluRef(double x) { return x / (1.0 + std::exp(-x)); }

// y = act(x W1) W2 (or SwiGLU) for one row, in double.
std::vector<double> FfnRef(const std::vector<double>& x, const float* w1, const float* w3,
                           const float* w2, int64_t d, int64_t f, Activation act) {
  std::vector<double> a(static_cast<size_t>(f));
  for (int64_t j = 0; j < f; ++j) {
    double h1 = 0.0, h3 = 0.0;
    for (int64_t i = 0; i < d; ++i) {
      h1 += x[static_cast<size_t>(i)] * w1[i * f + j];
      if (w3 != nullptr) h3 += x[static_cast<size_t>(i)] * w3[i * f + j];
    }
    a[static_cast<size_t>(j)] =
        act == Activation::kSwiglu ? SiluRef(h1) * h3 : GeluRef(h1);
  }
  std::vector<double> y(static_cast<size_t>(d), 0.0);
  for (int64_t j = 0; j < f; ++j) {
    for (int64_t i = 0; i < d; ++i)
      y[static_cast<size_t>(i)] += a[static_cast<size_t>(j)] * w2[j * d + i];
  }
  return y;
}

// Naive MoE forward in double: routing, capacity rule with (j, t) priority, combine.
std::vector<double> MoeRef(MoeLayer& layer, const std::vector<float>& x, int64_t T) {
  const MoeLayerOptions& o = layer.options();
  const int64_t d = o.expert.d_model, f = o.expert.d_ffn, E = o.routing.num_experts,
                k = o.routing.top_k;
  const float* wr = layer.router().weight().value.data<float>();
  std::vector<int32_t> idx(static_cast<size_t>(T * k));
  std::vector<double> gate(static_cast<size_t>(T * k));
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> p(static_cast<size_t>(E));
    double mx = -1e300;
    for (int64_t e = 0; e < E; ++e) {
      double z = 0.0;
      for (int64_t i = 0; i < d; ++i)
        z += static_cast<double>(x[static_cast<size_t>(t * d + i)]) * wr[i * E + e];
      p[static_cast<size_t>(e)] = z;
      mx = std::max(mx, z);
    }
    double sum = 0.0;
    for (double& v : p) sum += (v = std::exp(v - mx));
    for (double& v : p) v /= sum;
    std::vector<int32_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)];
    });
    double sel = 0.0;
    for (int64_t j = 0; j < k; ++j)
      sel += p[static_cast<size_t>(order[static_cast<size_t>(j)])];
    for (int64_t j = 0; j < k; ++j) {
      idx[static_cast<size_t>(t * k + j)] = order[static_cast<size_t>(j)];
      const double pj = p[static_cast<size_t>(order[static_cast<size_t>(j)])];
      gate[static_cast<size_t>(t * k + j)] =
          (o.routing.normalize_gates && k > 1) ? pj / sel : pj;
    }
  }
  std::vector<bool> kept(static_cast<size_t>(T * k), true);
  if (o.capacity_factor > 0.0) {
    const int64_t cap = static_cast<int64_t>(std::ceil(o.capacity_factor * T * k / E));
    std::vector<int64_t> fill(static_cast<size_t>(E), 0);
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t t = 0; t < T; ++t) {
        const int32_t e = idx[static_cast<size_t>(t * k + j)];
        kept[static_cast<size_t>(t * k + j)] = fill[static_cast<size_t>(e)]++ < cap;
      }
    }
  }
  std::vector<double> y(static_cast<size_t>(T * d), 0.0);
  Experts& ex = layer.experts();
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> xt(x.begin() + t * d, x.begin() + (t + 1) * d);
    for (int64_t j = 0; j < k; ++j) {
      if (!kept[static_cast<size_t>(t * k + j)]) continue;
      const int32_t e = idx[static_cast<size_t>(t * k + j)];
      Parameter* w3 = ex.w3(e);
      std::vector<double> ye =
          FfnRef(xt, ex.w1(e).value.data<float>(), w3 ? w3->value.data<float>() : nullptr,
                 ex.w2(e).value.data<float>(), d, f, o.expert.activation);
      for (int64_t i = 0; i < d; ++i)
        y[static_cast<size_t>(t * d + i)] +=
            gate[static_cast<size_t>(t * k + j)] * ye[static_cast<size_t>(i)];
    }
  }
  return y;
}

// One rank: a SelfCommunicator and the static plan (world size 1 is a case of the
// expert-parallel path).
struct Fixture {
  explicit Fixture(const MoeLayerOptions& o) : options(o) {
    auto made = ExpertParallelDispatcher::Create(
        &comm, parallel::StaticPlan(static_cast<int32_t>(o.routing.num_experts), 1));
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    dispatcher = std::move(made).value();
    auto created = MoeLayer::Create(o, &ctx, &comm, dispatcher.get());
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    layer = std::move(created).value();
  }
  MoeLayerOptions options;
  ops::OpsContext ctx;
  parallel::SelfCommunicator comm;
  std::unique_ptr<ExpertParallelDispatcher> dispatcher;
  std::unique_ptr<MoeLayer> layer;
};

MoeLayerOptions SmallOptions(Activation act, double capacity_factor) {
  MoeLayerOptions o;
  o.expert.d_model = 6;
  o.expert.d_ffn = 10;
  o.routing.num_experts = 4;
  o.routing.top_k = 2;
  o.routing.normalize_gates = true;
  o.expert.activation = act;
  o.capacity_factor = capacity_factor;
  o.routing.aux_loss_coef = 0.05f;
  o.routing.z_loss_coef = 0.01f;
  o.seed = 11;
  return o;
}

class MoeLayerParamTest
    : public ::testing::TestWithParam<std::tuple<Activation, double>> {};

TEST_P(MoeLayerParamTest, ForwardMatchesNaiveReference) {
  const auto [act, cf] = GetParam();
  Fixture fx(SmallOptions(act, cf));
  const int64_t T = 12, d = fx.options.expert.d_model;
  std::vector<float> x = NormalVector(T * d, 3);
  std::vector<float> y(static_cast<size_t>(T * d));
  ASSERT_TRUE(fx.layer->Forward(View(x, T, d), View(y, T, d)).ok());
  std::vector<double> ref = MoeRef(*fx.layer, x, T);
  // Tolerance: f32 accumulation over d and f terms, values O(1): 1e-5 abs + 1e-4 rel.
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_NEAR(y[i], ref[i], 1e-5 + 1e-4 * std::abs(ref[i])) << "element " << i;
  }
  if (cf > 0.0) {
    EXPECT_GT(fx.layer->stats().dropped_routes, 0)
        << "the capacity case should drop routes";
  } else {
    EXPECT_EQ(fx.layer->stats().dropped_routes, 0);
  }
  int64_t kept = 0;
  for (int64_t r : fx.layer->stats().rows_per_expert) kept += r;
  EXPECT_EQ(kept + fx.layer->stats().dropped_routes, T * fx.options.routing.top_k);
}

// Loss = sum(w * y) + AuxLossTerm(), accumulated in double.
double Loss(MoeLayer& layer, std::vector<float>& x, const std::vector<float>& w,
            int64_t T, int64_t d, std::vector<int32_t>* routing) {
  std::vector<float> y(static_cast<size_t>(T * d));
  EXPECT_TRUE(layer.Forward(View(x, T, d), View(y, T, d)).ok());
  double loss = layer.AuxLossTerm();
  for (size_t i = 0; i < y.size(); ++i) loss += static_cast<double>(w[i]) * y[i];
  if (routing != nullptr) {
    const int32_t* idx = layer.router().topk_idx();
    routing->assign(idx, idx + T * layer.options().routing.top_k);
  }
  return loss;
}

// Central differences of Loss w.r.t. every element of `values`, compared with `grad`.
// Coordinates whose perturbation changes the routing (a top-k flip) are skipped: the
// loss is not differentiable there. Tolerance: 2e-3 abs + 2e-2 rel, for eps = 1e-3 in
// f32 on O(1) values (truncation ~eps^2, rounding ~1e-7 * |loss| / eps).
void CheckGradient(const char* what, MoeLayer& layer, std::vector<float>& x,
                   const std::vector<float>& w, int64_t T, int64_t d, float* values,
                   const float* grad, int64_t n, int* skipped) {
  const float eps = 1e-3f;
  std::vector<int32_t> routing[2];  // at + eps, at - eps (the order of evaluation)
  for (int64_t i = 0; i < n; ++i) {
    int side = 0;
    const double numeric = CentralDifference(
        &values[i], eps, [&] { return Loss(layer, x, w, T, d, &routing[side++]); });
    if (routing[0] != routing[1]) {
      ++*skipped;
      continue;
    }
    EXPECT_NEAR(grad[i], numeric, 2e-3 + 2e-2 * std::abs(numeric))
        << what << "[" << i << "]";
  }
}

TEST_P(MoeLayerParamTest, BackwardMatchesFiniteDifferences) {
  const auto [act, cf] = GetParam();
  Fixture fx(SmallOptions(act, cf));
  MoeLayer& layer = *fx.layer;
  const int64_t T = 10, d = fx.options.expert.d_model;
  std::vector<float> x = NormalVector(T * d, 5);
  std::vector<float> w = NormalVector(T * d, 6);
  std::vector<float> y(static_cast<size_t>(T * d)), dx(static_cast<size_t>(T * d));

  std::vector<Parameter*> params = layer.Parameters();
  ZeroGrad(params);
  ASSERT_TRUE(layer.Forward(View(x, T, d), View(y, T, d)).ok());
  ASSERT_TRUE(layer.Backward(View(w, T, d), View(dx, T, d)).ok());
  // Copy the analytic gradients before the finite differences re-run the forward.
  std::vector<std::vector<float>> grads;
  for (Parameter* p : params) {
    grads.emplace_back(p->grad.data<float>(), p->grad.data<float>() + p->grad.numel());
  }
  int skipped = 0;
  int64_t checked = 0;
  CheckGradient("x", layer, x, w, T, d, x.data(), dx.data(), T * d, &skipped);
  checked += T * d;
  const size_t expected_params = act == Activation::kSwiglu ? 1 + 3 * 4 : 1 + 2 * 4;
  ASSERT_EQ(params.size(), expected_params);
  for (size_t p = 0; p < params.size(); ++p) {
    CheckGradient(params[p]->name.c_str(), layer, x, w, T, d,
                  params[p]->value.data<float>(), grads[p].data(),
                  params[p]->value.numel(), &skipped);
    checked += params[p]->value.numel();
  }
  // Routing flips are rare for eps = 1e-3; many would mean the check checked little.
  EXPECT_LT(skipped, checked / 20) << "skipped " << skipped << " of " << checked;
  // The router weight gradient must not be identically zero (it is reached by the gates
  // and the auxiliary losses).
  double router_norm = 0.0;
  for (float g : grads[0]) router_norm += std::abs(g);
  EXPECT_GT(router_norm, 1e-4);
}

// The auxiliary losses alone (w = 0, coefficients 1): their gradients are small next to
// the main loss's in the test above, so they get a check of their own.
TEST_P(MoeLayerParamTest, AuxLossGradientsMatchFiniteDifferences) {
  const auto [act, cf] = GetParam();
  MoeLayerOptions o = SmallOptions(act, cf);
  o.routing.aux_loss_coef = 1.0f;
  o.routing.z_loss_coef = 1.0f;
  Fixture fx(o);
  MoeLayer& layer = *fx.layer;
  const int64_t T = 10, d = o.expert.d_model;
  std::vector<float> x = NormalVector(T * d, 15);
  std::vector<float> w(static_cast<size_t>(T * d), 0.0f);
  std::vector<float> y(w.size()), dx(w.size());
  Parameter& router = layer.router().weight();
  router.grad.SetZero();
  ASSERT_TRUE(layer.Forward(View(x, T, d), View(y, T, d)).ok());
  ASSERT_TRUE(layer.Backward(View(w, T, d), View(dx, T, d)).ok());
  EXPECT_GT(layer.stats().losses.aux, 0.0f);
  EXPECT_GT(layer.stats().losses.z_loss, 0.0f);
  std::vector<float> router_grad(router.grad.data<float>(),
                                 router.grad.data<float>() + router.grad.numel());
  int skipped = 0;
  CheckGradient("x", layer, x, w, T, d, x.data(), dx.data(), T * d, &skipped);
  CheckGradient("router.weight", layer, x, w, T, d, router.value.data<float>(),
                router_grad.data(), router.value.numel(), &skipped);
  EXPECT_LT(skipped, (T * d + router.value.numel()) / 20);
}

INSTANTIATE_TEST_SUITE_P(Modes, MoeLayerParamTest,
                         ::testing::Combine(::testing::Values(Activation::kGelu,
                                                              Activation::kSwiglu),
                                            ::testing::Values(0.0, 0.5)),
                         [](const auto& info) {
                           return std::string(ActivationName(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) > 0.0 ? "_capacity"
                                                                 : "_dropless");
                         });

TEST(MoeLayerTest, SingleExpertTop1EqualsDenseFfn) {
  for (Activation act : {Activation::kGelu, Activation::kSwiglu}) {
    MoeLayerOptions o = SmallOptions(act, 0.0);
    o.routing.num_experts = 1;
    o.routing.top_k = 1;
    o.routing.z_loss_coef = 0.0f;
    Fixture fx(o);
    ops::OpsContext ctx;
    DenseFfn dense(FfnDims{o.expert.d_model, o.expert.d_ffn, act}, 99, &ctx);
    // Same weights in both.
    Experts& ex = fx.layer->experts();
    std::copy_n(ex.w1(0).value.data<float>(), ex.w1(0).value.numel(),
                dense.w1().value.data<float>());
    std::copy_n(ex.w2(0).value.data<float>(), ex.w2(0).value.numel(),
                dense.w2().value.data<float>());
    if (act == Activation::kSwiglu) {
      std::copy_n(ex.w3(0)->value.data<float>(), ex.w3(0)->value.numel(),
                  dense.w3()->value.data<float>());
    }
    const int64_t T = 9, d = o.expert.d_model;
    std::vector<float> x = NormalVector(T * d, 8), dy = NormalVector(T * d, 9);
    std::vector<float> y_moe(x.size()), y_dense(x.size()), dx_moe(x.size()),
        dx_dense(x.size());
    ZeroGrad(fx.layer->Parameters());
    ZeroGrad(dense.Parameters());
    ASSERT_TRUE(fx.layer->Forward(View(x, T, d), View(y_moe, T, d)).ok());
    ASSERT_TRUE(fx.layer->Backward(View(dy, T, d), View(dx_moe, T, d)).ok());
    ASSERT_TRUE(dense.Forward(View(x, T, d), View(y_dense, T, d)).ok());
    ASSERT_TRUE(dense.Backward(View(dy, T, d), View(dx_dense, T, d)).ok());
    // One expert with gate exactly 1: the same matmuls on the same rows, so equal up
    // to the router's dx contribution, which is exactly zero (softmax over one column).
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(y_moe[i], y_dense[i]);
      EXPECT_NEAR(dx_moe[i], dx_dense[i], 1e-6f);
    }
    const float* g1 = ex.w1(0).grad.data<float>();
    const float* g2 = ex.w2(0).grad.data<float>();
    for (int64_t i = 0; i < ex.w1(0).grad.numel(); ++i)
      EXPECT_EQ(g1[i], dense.w1().grad.data<float>()[i]);
    for (int64_t i = 0; i < ex.w2(0).grad.numel(); ++i)
      EXPECT_EQ(g2[i], dense.w2().grad.data<float>()[i]);
  }
}

TEST(MoeLayerTest, TiesGoToLowerExpertIds) {
  MoeLayerOptions o = SmallOptions(Activation::kGelu, 0.0);
  Fixture fx(o);
  // A zero router gives every expert probability 1/E: all tied.
  fx.layer->router().weight().value.SetZero();
  const int64_t T = 5, d = o.expert.d_model;
  std::vector<float> x = NormalVector(T * d, 10), y(static_cast<size_t>(T * d));
  ASSERT_TRUE(fx.layer->Forward(View(x, T, d), View(y, T, d)).ok());
  const int32_t* idx = fx.layer->router().topk_idx();
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_EQ(idx[t * 2 + 0], 0);
    EXPECT_EQ(idx[t * 2 + 1], 1);
  }
  EXPECT_EQ(fx.layer->stats().rows_per_expert, (std::vector<int64_t>{T, T, 0, 0}));
}

TEST(MoeLayerTest, BitwiseReproducibleAndAllocationFreeAfterWarmup) {
  MoeLayerOptions o;
  o.expert.d_model = 32;
  o.expert.d_ffn = 64;
  o.routing.num_experts = 8;
  o.routing.top_k = 2;
  o.routing.normalize_gates = true;
  o.routing.aux_loss_coef = 0.01f;
  o.seed = 1;
  const int64_t T = 64, d = o.expert.d_model;
  std::vector<float> x = NormalVector(T * d, 12), dy = NormalVector(T * d, 13);
  std::vector<std::vector<float>> outputs;
  for (int run = 0; run < 2; ++run) {
    Fixture fx(o);
    std::vector<float> y(x.size()), dx(x.size());
    std::vector<Parameter*> params = fx.layer->Parameters();
    int64_t allocations_after_warmup = 0;
    for (int step = 0; step < 4; ++step) {
      if (step == 1) allocations_after_warmup = AlignedAllocationCount();
      ZeroGrad(params);
      ASSERT_TRUE(fx.layer->Forward(View(x, T, d), View(y, T, d)).ok());
      ASSERT_TRUE(fx.layer->Backward(View(dy, T, d), View(dx, T, d)).ok());
    }
    EXPECT_EQ(AlignedAllocationCount(), allocations_after_warmup)
        << "Forward/Backward allocated tensors after the first step";
    std::vector<float> all(y);
    all.insert(all.end(), dx.begin(), dx.end());
    for (Parameter* p : params)
      all.insert(all.end(), p->grad.data<float>(),
                 p->grad.data<float>() + p->grad.numel());
    outputs.push_back(std::move(all));
  }
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  EXPECT_EQ(0, std::memcmp(outputs[0].data(), outputs[1].data(),
                           outputs[0].size() * sizeof(float)));
}

TEST(MoeLayerTest, InvalidOptionsNameTheField) {
  ops::OpsContext ctx;
  parallel::SelfCommunicator comm;
  auto made = ExpertParallelDispatcher::Create(&comm, parallel::StaticPlan(4, 1));
  ASSERT_TRUE(made.ok());
  Dispatcher* dispatcher = made->get();
  MoeLayerOptions o = SmallOptions(Activation::kGelu, 0.0);
  o.routing.top_k = 5;
  auto bad = MoeLayer::Create(o, &ctx, &comm, dispatcher);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("top_k"), std::string::npos)
      << bad.status().ToString();
  o = SmallOptions(Activation::kGelu, 0.0);
  o.expert.d_ffn = 0;
  bad = MoeLayer::Create(o, &ctx, &comm, dispatcher);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("d_ffn"), std::string::npos);
  o = SmallOptions(Activation::kGelu, 0.0);
  o.routing.num_experts = 8;  // the plan places 4
  bad = MoeLayer::Create(o, &ctx, &comm, dispatcher);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("num_experts"), std::string::npos);
}

}  // namespace
}  // namespace mpimoe::moe
