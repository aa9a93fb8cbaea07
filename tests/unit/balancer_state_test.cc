// Balancer::State/Restore (what a checkpoint keeps of a balancer): a balancer restored
// from another's state mid-run takes exactly the same decisions afterwards, and states
// that do not fit are rejected.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "parallel/balancer.h"
#include "runtime/core/random.h"
#include "tests/tools/default_balancer_options.h"

namespace mpimoe::parallel {
namespace {

// Skewed counts[s * E + e] with some noise, the hot set rotating every 40 steps.
std::vector<int64_t> Counts(int32_t experts, int32_t world, int64_t step, Rng& rng) {
  std::vector<int64_t> counts(static_cast<size_t>(experts * world));
  for (int32_t s = 0; s < world; ++s) {
    for (int32_t e = 0; e < experts; ++e) {
      const int32_t rank = static_cast<int32_t>((e + step / 40) % experts);
      const double mean = 4000.0 / std::pow(rank + 1.0, 1.2);
      counts[static_cast<size_t>(s * experts + e)] =
          static_cast<int64_t>(mean + 0.1 * mean * rng.Normal());
    }
  }
  return counts;
}

TEST(BalancerStateTest, RestoredBalancerDecidesTheSame) {
  for (BalancerPolicy policy : {BalancerPolicy::kCostAware, BalancerPolicy::kGreedyPlace,
                                BalancerPolicy::kReplicate}) {
    BalancerOptions options = testing::DefaultBalancerOptions();
    options.policy = policy;
    options.replan_interval = 5;
    options.cost.copy_cost = 8000;
    options.cost.replica_refresh_cost = 16000;
    const int32_t experts = 16, world = 4;
    Balancer original(options, experts, world);
    Rng rng(3);
    int64_t step = 1;
    for (; step <= 60; ++step) original.Observe(step, Counts(experts, world, step, rng));
    Balancer restored(options, experts, world);  // a fresh one, as after a restart
    ASSERT_TRUE(restored.Restore(original.State()).ok());
    EXPECT_TRUE(restored.plan() == original.plan());
    int changes = 0;
    for (; step <= 200; ++step) {
      const std::vector<int64_t> counts = Counts(experts, world, step, rng);
      const PlanDecision a = original.Observe(step, counts);
      const PlanDecision b = restored.Observe(step, counts);
      ASSERT_EQ(a.changed, b.changed) << BalancerPolicyName(policy) << " step " << step;
      ASSERT_TRUE(original.plan() == restored.plan()) << "step " << step;
      EXPECT_EQ(original.plan().version, restored.plan().version);
      changes += a.changed ? 1 : 0;
    }
    EXPECT_EQ(original.ForecastLoads(), restored.ForecastLoads());
    // The rotating hot set makes every dynamic policy re-plan after the restore.
    EXPECT_GT(changes, 0) << BalancerPolicyName(policy);
  }
}

TEST(BalancerStateTest, RejectsStatesThatDoNotFit) {
  BalancerOptions options = testing::DefaultBalancerOptions();
  Balancer balancer(options, 8, 2);
  BalancerState other_world = Balancer(options, 8, 4).State();
  EXPECT_FALSE(balancer.Restore(other_world).ok());
  BalancerState short_forecast = balancer.State();
  short_forecast.forecast.assign(3, 0);
  EXPECT_FALSE(balancer.Restore(short_forecast).ok());
  BalancerState bad_plan = balancer.State();
  bad_plan.plan.rank_slots[0].push_back(bad_plan.plan.rank_slots[0][0]);  // twice
  EXPECT_FALSE(balancer.Restore(bad_plan).ok());
  BalancerState bad_layout = balancer.State();
  bad_layout.recent.push_back(
      CopyLayout{{0, 0, 0, 0, 0, 0, 0, 9}, {{}, {}, {}, {}, {}, {}, {}, {}}});
  EXPECT_FALSE(balancer.Restore(bad_layout).ok());
  EXPECT_TRUE(balancer.Restore(balancer.State()).ok());
}

}  // namespace
}  // namespace mpimoe::parallel
