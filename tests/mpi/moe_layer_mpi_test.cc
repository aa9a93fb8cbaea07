// MPI test of the distributed MoE layer: on the same global tokens, the layer with its
// experts spread over P ranks gives the same outputs, input gradients, auxiliary losses
// and parameter gradients as one rank holding every expert and token (router gradients
// summed over ranks, expert gradients on their home ranks), within 1e-5 relative, in
// dropless and capacity modes, for E < P, E = P and E not divisible by P.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel/collectives.h"
#include "parallel/self_communicator.h"
#include "runtime/core/random.h"
#include "runtime/moe/expert_parallel_dispatcher.h"
#include "runtime/moe/moe_layer.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/mpi/test_compare.h"

namespace mpimoe::moe {
namespace {

using mpimoe::testing::RelativeDifference;
using mpimoe::testing::SumOverRanks;
using mpimoe::testing::World;

struct Layer {
  Layer(const MoeLayerOptions& o, parallel::Communicator* c) : comm(c) {
    auto d = ExpertParallelDispatcher::Create(
        comm,
        parallel::StaticPlan(static_cast<int32_t>(o.routing.num_experts), comm->size()));
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    dispatcher = std::move(d).value();
    auto l = MoeLayer::Create(o, &ctx, comm, dispatcher.get());
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    layer = std::move(l).value();
  }
  ops::OpsContext ctx;
  parallel::Communicator* comm;
  std::unique_ptr<ExpertParallelDispatcher> dispatcher;
  std::unique_ptr<MoeLayer> layer;
};

struct Case {
  int64_t num_experts;
  Activation activation;
  double capacity_factor;
};

class MoeLayerMpiTest : public ::testing::TestWithParam<Case> {};

TEST_P(MoeLayerMpiTest, MatchesSingleRankOnTheSameGlobalTokens) {
  parallel::MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const Case c = GetParam();
  MoeLayerOptions o;
  o.expert.d_model = 16;
  o.expert.d_ffn = 24;
  o.routing.num_experts = c.num_experts;
  o.routing.top_k = std::min<int64_t>(2, c.num_experts);
  o.routing.normalize_gates = true;
  o.expert.activation = c.activation;
  o.capacity_factor = c.capacity_factor;
  o.routing.aux_loss_coef = 0.1f;
  o.routing.z_loss_coef = 0.01f;
  o.seed = 21;

  // Global tokens; rank r takes an uneven slice (rank 0 takes none when P > 1).
  const int64_t global_tokens = 37, d = o.expert.d_model;
  std::vector<int64_t> begin(static_cast<size_t>(p) + 1, 0);
  for (int r = 0; r < p; ++r) {
    const int64_t share = (p > 1 && r == 0) ? 0 : global_tokens / std::max(1, p - 1);
    begin[static_cast<size_t>(r) + 1] =
        r == p - 1 ? global_tokens : begin[static_cast<size_t>(r)] + share;
  }
  const int64_t t0 = begin[static_cast<size_t>(me)],
                t1 = begin[static_cast<size_t>(me) + 1];
  const int64_t local_tokens = t1 - t0;
  std::vector<float> x(static_cast<size_t>(global_tokens * d)), dy(x.size());
  Rng rng(99);
  for (float& v : x) v = rng.Normal();
  for (float& v : dy) v = rng.Normal();

  // Reference: one rank, every token, every expert.
  parallel::SelfCommunicator self;
  Layer ref(o, &self);
  std::vector<float> y_ref(x.size()), dx_ref(x.size());
  ZeroGrad(ref.layer->Parameters());
  ASSERT_TRUE(ref.layer
                  ->Forward(TensorView(x.data(), DType::kF32, {global_tokens, d}),
                            TensorView(y_ref.data(), DType::kF32, {global_tokens, d}))
                  .ok());
  ASSERT_TRUE(ref.layer
                  ->Backward(TensorView(dy.data(), DType::kF32, {global_tokens, d}),
                             TensorView(dx_ref.data(), DType::kF32, {global_tokens, d}))
                  .ok());

  // Distributed: this rank's slice, experts spread over the world.
  Layer dist(o, &comm);
  std::vector<float> y(static_cast<size_t>(local_tokens * d)), dx(y.size());
  ZeroGrad(dist.layer->Parameters());
  Status fwd =
      dist.layer->Forward(TensorView(x.data() + t0 * d, DType::kF32, {local_tokens, d}),
                          TensorView(y.data(), DType::kF32, {local_tokens, d}));
  EXPECT_TRUE(fwd.ok()) << fwd.ToString();
  Status bwd =
      dist.layer->Backward(TensorView(dy.data() + t0 * d, DType::kF32, {local_tokens, d}),
                           TensorView(dx.data(), DType::kF32, {local_tokens, d}));
  EXPECT_TRUE(bwd.ok()) << bwd.ToString();

  constexpr double kTol = 1e-5;
  EXPECT_LE(RelativeDifference(y.data(), y_ref.data() + t0 * d, local_tokens * d), kTol);
  EXPECT_LE(RelativeDifference(dx.data(), dx_ref.data() + t0 * d, local_tokens * d),
            kTol);
  EXPECT_NEAR(dist.layer->stats().losses.aux, ref.layer->stats().losses.aux,
              kTol * ref.layer->stats().losses.aux);
  EXPECT_NEAR(dist.layer->stats().losses.z_loss, ref.layer->stats().losses.z_loss,
              kTol * ref.layer->stats().losses.z_loss);
  // Dropped routes: the sum over ranks equals the single-rank count.
  const int64_t dropped = SumOverRanks(comm, dist.layer->stats().dropped_routes);
  EXPECT_EQ(dropped, ref.layer->stats().dropped_routes);
  if (c.capacity_factor > 0.0) {
    EXPECT_GT(dropped, 0) << "capacity case dropped nothing";
  }

  // Router: replicated, gradients summed over ranks.
  Parameter& wr = dist.layer->router().weight();
  std::vector<float> router_grad(wr.grad.data<float>(),
                                 wr.grad.data<float>() + wr.grad.numel());
  EXPECT_TRUE(parallel::AllreduceInPlace(comm, std::span<float>(router_grad)).ok());
  EXPECT_LE(RelativeDifference(router_grad.data(),
                               ref.layer->router().weight().grad.data<float>(),
                               wr.grad.numel()),
            kTol);
  // Experts: each local slot's gradients equal the reference expert's.
  Experts& local = dist.layer->experts();
  Experts& all = ref.layer->experts();
  for (int64_t s = 0; s < local.num_slots(); ++s) {
    const int32_t e = local.slot_experts()[static_cast<size_t>(s)];
    EXPECT_EQ(0,
              std::memcmp(local.w1(s).value.data<float>(), all.w1(e).value.data<float>(),
                          static_cast<size_t>(local.w1(s).value.size_bytes())))
        << "expert " << e << " initialised differently";
    EXPECT_LE(RelativeDifference(local.w1(s).grad.data<float>(),
                                 all.w1(e).grad.data<float>(), local.w1(s).grad.numel()),
              kTol)
        << "expert " << e << " w1";
    EXPECT_LE(RelativeDifference(local.w2(s).grad.data<float>(),
                                 all.w2(e).grad.data<float>(), local.w2(s).grad.numel()),
              kTol)
        << "expert " << e << " w2";
    if (c.activation == Activation::kSwiglu) {
      EXPECT_LE(
          RelativeDifference(local.w3(s)->grad.data<float>(),
                             all.w3(e)->grad.data<float>(), local.w3(s)->grad.numel()),
          kTol)
          << "expert " << e << " w3";
    }
  }
  // Every expert lives on exactly one rank.
  EXPECT_EQ(SumOverRanks(comm, local.num_slots()), o.routing.num_experts);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, MoeLayerMpiTest,
    ::testing::Values(Case{4, Activation::kGelu, 0.0}, Case{4, Activation::kGelu, 0.6},
                      Case{3, Activation::kSwiglu, 0.0},
                      Case{3, Activation::kSwiglu, 0.6}, Case{5, Activation::kGelu, 0.0},
                      Case{1, Activation::kGelu, 0.0}, Case{8, Activation::kSwiglu, 0.8}),
    [](const auto& info) {
      return "E" + std::to_string(info.param.num_experts) + "_" +
             std::string(ActivationName(info.param.activation)) +
             (info.param.capacity_factor > 0.0 ? "_capacity" : "_dropless");
    });

}  // namespace
}  // namespace mpimoe::moe
