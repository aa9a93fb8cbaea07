// MPI tests of expert placement mechanics (replicas, quotas, migration): training with
// a different random plan every step — homes moved, replicas added and dropped, rows
// split among copies — gives the losses and weights of the static placement; a home
// move carries the AdamW moments and step counts bitwise; after a refresh every replica
// equals its home bitwise; runs are bitwise reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "parallel/collectives.h"
#include "runtime/core/random.h"
#include "runtime/moe/expert_sync.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/trainer.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/mpi/test_compare.h"

namespace mpimoe::train {
namespace {

using mpimoe::testing::RelativeDifference;
using mpimoe::testing::SumOverRanks;
using mpimoe::testing::World;

constexpr int kSteps = 12;
constexpr int32_t kExperts = 6;

const char kConfig[] = R"pb(
  model {
    seq_len: 10
    d_model: 16
    num_layers: 2
    num_heads: 2
    moe { num_experts: 6 top_k: 2 d_ffn: 24 activation: SWIGLU }
  }
  data {
    global_batch_size: 12
    synthetic { num_symbols: 6 }
  }
  optimizer { lr: 0.01 warmup_steps: 3 grad_clip: 0.5 }
  run { steps: 12 seed: 9 }
)pb";

// A random valid plan: homes shuffled over the ranks (at most ceil(E/P) per rank), then
// one replica per rank of a random expert it does not hold.
parallel::Plan RandomPlan(uint64_t seed, int32_t world_size) {
  Rng rng(seed);
  std::vector<int32_t> order(kExperts);
  std::iota(order.begin(), order.end(), 0);
  for (int32_t i = kExperts - 1; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);
  parallel::Plan plan;
  plan.version = static_cast<int64_t>(seed);
  plan.num_experts = kExperts;
  plan.world_size = world_size;
  plan.homes.resize(kExperts);
  plan.rank_slots.resize(static_cast<size_t>(world_size));
  const int32_t per_rank = (kExperts + world_size - 1) / world_size;
  for (int32_t i = 0; i < kExperts; ++i) {
    const int32_t r = i / per_rank;
    plan.homes[static_cast<size_t>(order[i])] = {r, plan.num_slots(r)};
    plan.rank_slots[static_cast<size_t>(r)].push_back(order[i]);
  }
  for (int32_t r = 0; r < world_size && world_size > 1; ++r) {
    const int32_t e = static_cast<int32_t>(rng.Below(kExperts));
    auto& slots = plan.rank_slots[static_cast<size_t>(r)];
    if (std::find(slots.begin(), slots.end(), e) == slots.end()) slots.push_back(e);
  }
  return plan;
}

// Splits each source's routes of an expert evenly over its copies.
parallel::QuotaTable EvenQuotas(const parallel::Plan& plan,
                                const std::vector<int64_t>& counts) {
  parallel::QuotaTable q = parallel::HomeOnlyQuotas(plan, counts);
  const auto copies = plan.ExpertCopies();
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int64_t n = static_cast<int64_t>(copies[static_cast<size_t>(e)].size());
    for (int32_t s = 0; s < plan.world_size; ++s) {
      const int64_t total = counts[static_cast<size_t>(s * plan.num_experts + e)];
      for (int64_t c = 0; c < n; ++c) {
        q.rows[static_cast<size_t>(e)][static_cast<size_t>(c * plan.world_size + s)] =
            total / n + (c < total % n ? 1 : 0);
      }
    }
  }
  return q;
}

void EvenQuotasInto(const parallel::Plan& plan, const std::vector<int64_t>& counts,
                    parallel::QuotaTable* quotas) {
  *quotas = EvenQuotas(plan, counts);
}

// Every expert's field (values or moments) of every MoE layer, gathered from the homes:
// [layers][E * numel], the same on every rank.
enum class Field { kValue, kMoment1, kMoment2 };
std::vector<std::vector<float>> GatherExperts(Trainer& trainer, Field field) {
  std::vector<std::vector<float>> all;
  for (moe::MoeLayer* layer : trainer.model().MoeLayers()) {
    moe::Experts& ex = layer->experts();
    const int64_t numel = ex.expert_numel();
    std::vector<float> full(static_cast<size_t>(kExperts * numel), 0.0f);
    for (int64_t s = 0; s < ex.num_slots(); ++s) {
      if (!ex.is_home(s)) continue;
      float* out = full.data() + ex.slot_experts()[static_cast<size_t>(s)] * numel;
      for (Parameter* p : ex.SlotParameters(s)) {
        const Tensor& t = field == Field::kValue     ? p->value
                          : field == Field::kMoment1 ? p->moment1
                                                     : p->moment2;
        std::memcpy(out, t.data<float>(), static_cast<size_t>(t.size_bytes()));
        out += t.numel();
      }
    }
    EXPECT_TRUE(parallel::AllreduceInPlace(World(), std::span<float>(full)).ok());
    all.push_back(std::move(full));
  }
  return all;
}

struct RunResult {
  std::vector<double> losses;
  std::map<std::string, std::vector<float>> replicated;
  std::vector<std::vector<float>> experts;
};

RunResult Train(bool rotate_plans) {
  RunResult run;
  auto config = ParseTrainConfig(kConfig, "placement.textproto", {});
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  config->balancer.policy = "static";  // the reference placement, or the test's plans
  ops::OpsContext ctx;
  auto trainer = Trainer::Create(*config, &ctx, &World());
  EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
  if (rotate_plans) {
    for (moe::MoeLayer* layer : (*trainer)->model().MoeLayers())
      layer->SetQuotaFunction(EvenQuotasInto);
    (*trainer)->SetPlanController([](int64_t step, int layer, const parallel::Plan&,
                                     const std::vector<int64_t>&, std::string* decision) {
      *decision = "test rotation";
      return RandomPlan(MixSeed(step, {static_cast<uint64_t>(layer)}), World().size());
    });
  }
  int64_t replica_bytes = 0, migration_bytes = 0;
  for (int s = 0; s < kSteps; ++s) {
    StepRecord record;
    Status status = (*trainer)->Step(&record);
    EXPECT_TRUE(status.ok()) << status.ToString();
    run.losses.push_back(record.losses.total());
    replica_bytes +=
        record.placement.replica_refresh_bytes + record.placement.replica_grad_bytes;
    migration_bytes += record.placement.migration_bytes;
  }
  if (rotate_plans && World().size() > 1) {
    EXPECT_GT(SumOverRanks(World(), replica_bytes), 0)
        << "no replica traffic: the test exercised nothing";
    EXPECT_GT(SumOverRanks(World(), migration_bytes), 0)
        << "no migration traffic: the test exercised nothing";
  }
  for (Parameter* p : (*trainer)->model().ReplicatedParameters()) {
    run.replicated[p->name].assign(p->value.data<float>(),
                                   p->value.data<float>() + p->value.numel());
  }
  run.experts = GatherExperts(**trainer, Field::kValue);
  return run;
}

TEST(PlacementTest, ReplanningEveryStepKeepsTheMath) {
  const RunResult fixed = Train(false);
  const RunResult moving = Train(true);
  ASSERT_EQ(fixed.losses.size(), moving.losses.size());
  for (size_t s = 0; s < fixed.losses.size(); ++s) {
    EXPECT_NEAR(moving.losses[s], fixed.losses[s], 1e-5 * std::abs(fixed.losses[s]))
        << "step " << s + 1;
  }
  for (const auto& [name, values] : fixed.replicated) {
    EXPECT_LE(RelativeDifference(moving.replicated.at(name), values), 1e-5) << name;
  }
  ASSERT_EQ(fixed.experts.size(), moving.experts.size());
  for (size_t l = 0; l < fixed.experts.size(); ++l) {
    EXPECT_LE(RelativeDifference(moving.experts[l], fixed.experts[l]), 1e-5)
        << "layer " << l;
  }
  // Bitwise reproducible with the same moving plans.
  const RunResult again = Train(true);
  EXPECT_EQ(0, std::memcmp(again.losses.data(), moving.losses.data(),
                           moving.losses.size() * sizeof(double)));
  for (size_t l = 0; l < moving.experts.size(); ++l) {
    EXPECT_EQ(again.experts[l], moving.experts[l]) << "layer " << l;
  }
}

TEST(PlacementTest, HomeMoveCarriesOptimizerStateAndReplicasMatchHomes) {
  auto config = ParseTrainConfig(kConfig, "placement.textproto", {});
  ASSERT_TRUE(config.ok());
  config->balancer.policy = "static";  // the first steps on the static placement
  ops::OpsContext ctx;
  auto trainer = Trainer::Create(*config, &ctx, &World());
  ASSERT_TRUE(trainer.ok());
  StepRecord record;
  for (int s = 0; s < 3; ++s) EXPECT_TRUE((*trainer)->Step(&record).ok());
  const auto values = GatherExperts(**trainer, Field::kValue);
  const auto m1 = GatherExperts(**trainer, Field::kMoment1);
  const auto m2 = GatherExperts(**trainer, Field::kMoment2);
  // From here on the placement is the test's: keep whatever plan a layer has.
  (*trainer)->SetPlanController([](int64_t, int, const parallel::Plan& current,
                                   const std::vector<int64_t>&,
                                   std::string*) { return current; });
  moe::ExpertSync sync(&World());
  for (moe::MoeLayer* layer : (*trainer)->model().MoeLayers()) {
    layer->SetQuotaFunction(EvenQuotasInto);
    EXPECT_TRUE(layer->ApplyPlan(RandomPlan(77, World().size()), &sync).ok());
  }
  EXPECT_EQ(GatherExperts(**trainer, Field::kValue), values);
  EXPECT_EQ(GatherExperts(**trainer, Field::kMoment1), m1)
      << "AdamW m changed in the move";
  EXPECT_EQ(GatherExperts(**trainer, Field::kMoment2), m2)
      << "AdamW v changed in the move";
  for (moe::MoeLayer* layer : (*trainer)->model().MoeLayers()) {
    moe::Experts& ex = layer->experts();
    for (int64_t s = 0; s < ex.num_slots(); ++s) {
      EXPECT_EQ(ex.w1(s).optimizer_steps, ex.is_home(s) ? 3 : 0);
      EXPECT_EQ(!ex.w1(s).moment1.shape().empty(), ex.is_home(s));  // replicas: no state
    }
  }
  // Train on with the new plan, then check every replica against its home, bitwise.
  EXPECT_TRUE((*trainer)->Step(&record).ok());
  const auto homes = GatherExperts(**trainer, Field::kValue);
  std::vector<moe::MoeLayer*> layers = (*trainer)->model().MoeLayers();
  int64_t replicas_checked = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    moe::Experts& ex = layers[l]->experts();
    const int64_t numel = ex.expert_numel();
    for (int64_t s = 0; s < ex.num_slots(); ++s) {
      if (ex.is_home(s)) continue;
      const float* home =
          homes[l].data() + ex.slot_experts()[static_cast<size_t>(s)] * numel;
      for (Parameter* p : ex.SlotParameters(s)) {
        EXPECT_EQ(0, std::memcmp(p->value.data<float>(), home,
                                 static_cast<size_t>(p->value.size_bytes())))
            << p->name << " replica differs from its home";
        home += p->value.numel();
      }
      ++replicas_checked;
    }
  }
  const int64_t all_replicas_checked = SumOverRanks(World(), replicas_checked);
  if (World().size() > 1) {
    EXPECT_GT(all_replicas_checked, 0);
  }
}

// A plan from each rank's slots (first slot of an expert on the rank named in `homes`
// is its home).
parallel::Plan PlanOf(int64_t version, int32_t num_experts,
                      const std::vector<std::vector<int32_t>>& rank_slots,
                      const std::vector<int32_t>& homes) {
  parallel::Plan plan;
  plan.version = version;
  plan.num_experts = num_experts;
  plan.world_size = static_cast<int32_t>(rank_slots.size());
  plan.rank_slots = rank_slots;
  plan.homes.resize(static_cast<size_t>(num_experts));
  for (int32_t e = 0; e < num_experts; ++e) {
    const int32_t r = homes[static_cast<size_t>(e)];
    const auto& slots = rank_slots[static_cast<size_t>(r)];
    plan.homes[static_cast<size_t>(e)] = {
        r,
        static_cast<int32_t>(std::find(slots.begin(), slots.end(), e) - slots.begin())};
  }
  return plan;
}

// Fills every parameter of `ex` with a pattern of (expert, rank, field) and gives homes
// AdamW state with a step count, so a test can tell where each slot's state came from.
void FillExperts(moe::Experts& ex) {
  for (int64_t s = 0; s < ex.num_slots(); ++s) {
    const int32_t e = ex.slot_experts()[static_cast<size_t>(s)];
    float k = 0.0f;
    for (Parameter* p : ex.SlotParameters(s)) {
      for (int64_t i = 0; i < p->value.numel(); ++i) {
        // Replicas equal their homes (as after a refresh); homes differ from each other.
        p->value.data<float>()[i] = static_cast<float>(e) + 0.001f * k++;
      }
      if (!ex.is_home(s)) continue;
      p->moment1 = Tensor(DType::kF32, p->value.shape());
      p->moment2 = Tensor(DType::kF32, p->value.shape());
      for (int64_t i = 0; i < p->value.numel(); ++i) {
        p->moment1.data<float>()[i] = 100.0f + static_cast<float>(e) + 0.5f * i;
        p->moment2.data<float>()[i] = 200.0f + static_cast<float>(e) + 0.25f * i;
      }
      p->optimizer_steps = 7 + e;
    }
  }
}

// Migrate sends only what moves: copies that stay on a rank keep their state bitwise and
// cost no bytes; a replica turned home receives only the AdamW state.
TEST(PlacementTest, MigrateSendsOnlyWhatMoves) {
  const int p = World().size();
  if (p < 2) GTEST_SKIP() << "needs 2+ ranks";
  const int me = World().rank();
  const int32_t experts = 2 * p;  // static: rank r holds 2r, 2r+1
  std::vector<std::vector<int32_t>> from_slots(static_cast<size_t>(p)), to_slots;
  std::vector<int32_t> from_homes(static_cast<size_t>(experts)), to_homes;
  for (int32_t e = 0; e < experts; ++e) {
    from_slots[static_cast<size_t>(e / 2)].push_back(e);
    from_homes[static_cast<size_t>(e)] = e / 2;
  }
  from_slots[1].push_back(0);  // a replica of expert 0 on rank 1
  to_slots = from_slots;
  to_homes = from_homes;
  // Expert 0: home moves to rank 1 (which held a replica); rank 0 keeps a replica.
  to_homes[0] = 1;
  // Expert 1: home moves from rank 0 to rank p - 1 (which held no copy).
  auto& slots0 = to_slots[0];
  slots0.erase(std::find(slots0.begin(), slots0.end(), 1));
  to_slots[static_cast<size_t>(p - 1)].push_back(1);
  to_homes[1] = p - 1;
  // Expert 2 (home on rank 1) gets a new replica on rank 0.
  slots0.push_back(2);
  const parallel::Plan from = PlanOf(1, experts, from_slots, from_homes);
  const parallel::Plan to = PlanOf(2, experts, to_slots, to_homes);
  ASSERT_TRUE(from.Validate().ok()) << from.Validate().ToString();
  ASSERT_TRUE(to.Validate().ok()) << to.Validate().ToString();

  ops::OpsContext ctx;
  const moe::FfnDims dims{4, 6, moe::Activation::kSwiglu};
  auto is_home = [&](const parallel::Plan& plan) {
    std::vector<bool> h;
    for (int32_t s = 0; s < plan.num_slots(me); ++s) h.push_back(plan.IsHome(me, s));
    return h;
  };
  moe::Experts current(dims, from.rank_slots[static_cast<size_t>(me)], 5, &ctx, "x",
                       is_home(from));
  FillExperts(current);
  // The expected state of every slot of `to`: the pattern of a home (weights are the
  // same for all copies; moments only on homes).
  moe::Experts expected(dims, to.rank_slots[static_cast<size_t>(me)], 5, &ctx, "x",
                        is_home(to));
  FillExperts(expected);
  moe::Experts next(dims, to.rank_slots[static_cast<size_t>(me)], 5, &ctx, "x",
                    is_home(to));
  moe::ExpertSync sync(&World());
  ASSERT_TRUE(sync.Migrate(from, current, to, next).ok());
  for (int64_t s = 0; s < next.num_slots(); ++s) {
    std::vector<Parameter*> got = next.SlotParameters(s);
    std::vector<Parameter*> want = expected.SlotParameters(s);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(0, std::memcmp(got[i]->value.data<float>(), want[i]->value.data<float>(),
                               static_cast<size_t>(want[i]->value.size_bytes())))
          << got[i]->name << " on rank " << me;
      if (!next.is_home(s)) continue;
      EXPECT_EQ(got[i]->optimizer_steps, want[i]->optimizer_steps) << got[i]->name;
      ASSERT_EQ(got[i]->moment1.shape(), want[i]->moment1.shape()) << got[i]->name;
      EXPECT_EQ(0,
                std::memcmp(got[i]->moment1.data<float>(), want[i]->moment1.data<float>(),
                            static_cast<size_t>(want[i]->moment1.size_bytes())))
          << got[i]->name;
      EXPECT_EQ(0,
                std::memcmp(got[i]->moment2.data<float>(), want[i]->moment2.data<float>(),
                            static_cast<size_t>(want[i]->moment2.size_bytes())))
          << got[i]->name;
    }
  }
  // Bytes: rank 0 sends expert 0's AdamW state to rank 1 and expert 1's weights + state
  // to rank p - 1; rank 1 sends expert 2's weights to rank 0; nothing else moves.
  const int64_t numel = current.expert_numel();
  const int64_t floats = 4;
  int64_t want_bytes = 0;
  if (me == 0) want_bytes = floats * ((2 * numel + 2) + (3 * numel + 2));
  if (me == 1) want_bytes = floats * numel;
  EXPECT_EQ(sync.last_bytes_sent(), want_bytes) << "rank " << me;
  // A migration to the same plan moves nothing.
  moe::Experts same(dims, from.rank_slots[static_cast<size_t>(me)], 5, &ctx, "x",
                    is_home(from));
  moe::Experts again(dims, from.rank_slots[static_cast<size_t>(me)], 5, &ctx, "x",
                     is_home(from));
  FillExperts(same);
  ASSERT_TRUE(sync.Migrate(from, same, from, again).ok());
  EXPECT_EQ(sync.last_bytes_sent(), 0);
}

// The real balancer, forced to re-plan whenever it can (every step, no thresholds), on
// skewed routing, against the static placement: the same training.
TEST(PlacementTest, CostAwareReplanningEveryStepKeepsTheMath) {
  auto train = [](const std::vector<std::string>& overrides, int64_t* plan_changes) {
    std::vector<std::string> all = {"model.moe.skew=1.5", "run.steps=20"};
    all.insert(all.end(), overrides.begin(), overrides.end());
    auto config = ParseTrainConfig(kConfig, "placement.textproto", all);
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    ops::OpsContext ctx;
    auto trainer = Trainer::Create(*config, &ctx, &World());
    EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
    std::vector<double> losses;
    *plan_changes = 0;
    for (int s = 0; s < 20; ++s) {
      StepRecord record;
      EXPECT_TRUE((*trainer)->Step(&record).ok());
      losses.push_back(record.losses.total());
      *plan_changes += record.placement.plan_changes;
    }
    return std::make_pair(losses, GatherExperts(**trainer, Field::kValue));
  };
  int64_t static_changes = 0, balanced_changes = 0;
  const auto fixed = train({"balancer.policy=STATIC"}, &static_changes);
  const auto balanced =
      train({"balancer.policy=COST_AWARE", "balancer.replan_interval=1",
             "balancer.imbalance_high=1", "balancer.imbalance_low=1",
             "balancer.min_relative_gain=0", "balancer.noise_sigmas=0",
             "balancer.kappa=0.000001", "balancer.replica_slots_per_rank=2"},
            &balanced_changes);
  EXPECT_EQ(static_changes, 0);
  if (World().size() > 1) {
    EXPECT_GT(balanced_changes, 0) << "the balancer never re-planned";
  }
  for (size_t s = 0; s < fixed.first.size(); ++s) {
    EXPECT_NEAR(balanced.first[s], fixed.first[s], 1e-5 * std::abs(fixed.first[s]))
        << "step " << s + 1;
  }
  for (size_t l = 0; l < fixed.second.size(); ++l) {
    EXPECT_LE(RelativeDifference(balanced.second[l], fixed.second[l]), 1e-5)
        << "layer " << l;
  }
  // Bitwise reproducible.
  int64_t again_changes = 0;
  const auto again =
      train({"balancer.policy=COST_AWARE", "balancer.replan_interval=1",
             "balancer.imbalance_high=1", "balancer.imbalance_low=1",
             "balancer.min_relative_gain=0", "balancer.noise_sigmas=0",
             "balancer.kappa=0.000001", "balancer.replica_slots_per_rank=2"},
            &again_changes);
  EXPECT_EQ(again.first, balanced.first);
  EXPECT_EQ(again.second, balanced.second);
  EXPECT_EQ(again_changes, balanced_changes);
}

}  // namespace
}  // namespace mpimoe::train
