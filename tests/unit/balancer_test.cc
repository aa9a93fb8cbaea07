// Tests of the balancer's pure planning half: parallel/load_forecast.h,
// parallel/quota_split.h, parallel/placement_policies.h and parallel/balancer.h.
//
// Covered: the fixed-point EMA; quota conservation, locality and water-filling; hand
// checks of RankImbalance / PlacementBound; slot limits, anti-affinity and the replica
// budget for every policy on many shapes (E % P != 0, E < P); determinism (same input
// twice, shuffled source ranks, relabelled experts); stability under stationary skew
// (no plan comes back once replaced, home moves within the G5 budget of one per expert
// per 100 steps, no change at all while the forecast stays below imbalance_low); and
// the simulation targets at reduced length (E=64, R=8, one spare slot per rank:
// cost_aware <= 1.05 for s <= 1.5, greedy_place within 2% of the placement bound).
//
// Counts are synthetic: each source's routes of expert e are drawn from the normal
// approximation of its Zipf(s) multinomial (mean n p_e, variance n p_e (1 - p_e)),
// which is much faster than drawing every route and has the same per-step noise.
#include "parallel/balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "parallel/load_forecast.h"
#include "parallel/placement_policies.h"
#include "parallel/quota_split.h"
#include "runtime/core/random.h"
#include "tests/tools/default_balancer_options.h"

namespace mpimoe::parallel {
namespace {

constexpr BalancerPolicy kAllPolicies[] = {
    BalancerPolicy::kStatic, BalancerPolicy::kGreedyPlace, BalancerPolicy::kReplicate,
    BalancerPolicy::kCostAware};

// The benchmark's cost model: fixed costs a small fraction of an expert's rows.
CostModel SimulationCost() {
  CostModel cost;
  cost.row_cost = 1000;
  cost.copy_cost = 8000;
  cost.replica_refresh_cost = 16000;
  cost.replica_create_cost = 64000;
  cost.home_move_cost = 192000;
  return cost;
}

// Zipf(s) shares over a seeded random popularity order of the experts.
std::vector<double> ZipfShares(int32_t num_experts, double s, uint64_t seed) {
  std::vector<int32_t> order(static_cast<size_t>(num_experts));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int32_t i = num_experts - 1; i > 0; --i) {
    std::swap(order[static_cast<size_t>(i)],
              order[rng.Below(static_cast<uint64_t>(i + 1))]);
  }
  std::vector<double> shares(static_cast<size_t>(num_experts));
  double total = 0.0;
  for (int32_t i = 0; i < num_experts; ++i) {
    const double w = 1.0 / std::pow(static_cast<double>(i + 1), s);
    shares[static_cast<size_t>(order[static_cast<size_t>(i)])] = w;
    total += w;
  }
  for (double& x : shares) x /= total;
  return shares;
}

// counts[s * E + e] for `world` sources of `routes` routes each.
std::vector<int64_t> SampleCounts(const std::vector<double>& shares, int32_t world,
                                  int64_t routes, Rng& rng) {
  const size_t num_experts = shares.size();
  std::vector<int64_t> counts(num_experts * static_cast<size_t>(world));
  for (size_t s = 0; s < static_cast<size_t>(world); ++s) {
    for (size_t e = 0; e < num_experts; ++e) {
      const double mean = static_cast<double>(routes) * shares[e];
      const double draw = mean + std::sqrt(mean * (1.0 - shares[e])) * rng.Normal();
      counts[s * num_experts + e] = std::max<int64_t>(0, std::llround(draw));
    }
  }
  return counts;
}

// Every (source, expert) count split exactly over the expert's copies, none negative.
void ExpectConserved(const Plan& plan, const QuotaTable& quotas,
                     const std::vector<int64_t>& counts) {
  const std::vector<std::vector<int32_t>> copies = plan.ExpertCopies();
  ASSERT_EQ(quotas.rows.size(), static_cast<size_t>(plan.num_experts));
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    const int32_t n = static_cast<int32_t>(copies[static_cast<size_t>(e)].size());
    ASSERT_EQ(quotas.rows[static_cast<size_t>(e)].size(),
              static_cast<size_t>(n * plan.world_size));
    for (int32_t s = 0; s < plan.world_size; ++s) {
      int64_t sum = 0;
      for (int32_t c = 0; c < n; ++c) {
        EXPECT_GE(quotas.get(e, c, s), 0);
        sum += quotas.get(e, c, s);
      }
      EXPECT_EQ(sum, counts[static_cast<size_t>(s * plan.num_experts + e)])
          << "expert " << e << " source " << s;
    }
  }
}

// Validate (one home per expert, no two copies of an expert on a rank), slot limits and
// the replica budget.
void ExpectWithinLimits(const Plan& plan, const BalancerOptions& options) {
  ASSERT_TRUE(plan.Validate().ok()) << plan.Validate().ToString();
  const int32_t home_slots = (plan.num_experts + plan.world_size - 1) / plan.world_size;
  const int32_t total = home_slots + options.replica_slots_per_rank;
  const std::vector<int32_t> replicas = plan.ReplicasPerRank();
  int32_t all_replicas = 0;
  for (int32_t r = 0; r < plan.world_size; ++r) {
    EXPECT_LE(plan.num_slots(r), total) << plan.DebugString();
    const int32_t homes = plan.num_slots(r) - replicas[static_cast<size_t>(r)];
    if (options.policy != BalancerPolicy::kGreedyPlace) {
      EXPECT_LE(homes, home_slots) << plan.DebugString();
    }
    all_replicas += replicas[static_cast<size_t>(r)];
  }
  EXPECT_LE(all_replicas, plan.world_size * options.replica_slots_per_rank);
  if (options.policy == BalancerPolicy::kGreedyPlace ||
      options.policy == BalancerPolicy::kStatic) {
    EXPECT_EQ(all_replicas, 0);
  }
}

TEST(BalancerPolicyTest, ParsesNamesAndRejectsOthers) {
  for (BalancerPolicy policy : kAllPolicies) {
    auto parsed = ParseBalancerPolicy(BalancerPolicyName(policy));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, policy);
  }
  EXPECT_EQ(BalancerPolicyName(BalancerPolicy::kCostAware), "cost_aware");
  EXPECT_FALSE(ParseBalancerPolicy("replicate_budget").ok());
  EXPECT_FALSE(ParseBalancerPolicy("").ok());
}

TEST(BalancerPolicyTest, ValidatesOptions) {
  EXPECT_TRUE(ValidateBalancerOptions(testing::DefaultBalancerOptions()).ok());
  // No hidden defaults below the config schema: zero-initialised options are invalid.
  EXPECT_FALSE(ValidateBalancerOptions(BalancerOptions{}).ok());
  BalancerOptions o = testing::DefaultBalancerOptions();
  o.replan_interval = 0;
  EXPECT_FALSE(ValidateBalancerOptions(o).ok());
  o = testing::DefaultBalancerOptions();
  o.imbalance_low = 1.2;  // above imbalance_high
  EXPECT_FALSE(ValidateBalancerOptions(o).ok());
  o = testing::DefaultBalancerOptions();
  o.cost.row_cost = 0;
  EXPECT_FALSE(ValidateBalancerOptions(o).ok());
  o = testing::DefaultBalancerOptions();
  o.replica_slots_per_rank = -1;
  EXPECT_FALSE(ValidateBalancerOptions(o).ok());
}

TEST(LoadForecastTest, FixedPointEma) {
  LoadForecast forecast(2, /*shift=*/3);
  EXPECT_TRUE(forecast.empty());
  forecast.Observe({100, 8});
  EXPECT_EQ(forecast.Loads(),
            (std::vector<int64_t>{100, 8}));  // first step is taken as is
  forecast.Observe({0, 16});
  // 100 + (0 - 100) / 8 = 87.5 -> 88 (half up); 8 + (16 - 8) / 8 = 9.
  EXPECT_EQ(forecast.Loads(), (std::vector<int64_t>{88, 9}));
  for (int i = 0; i < 400; ++i) forecast.Observe({40, 16});
  EXPECT_EQ(forecast.Loads(), (std::vector<int64_t>{40, 16}));  // converges exactly
}

TEST(LoadForecastTest, ExpertTotalsSumSources) {
  // 2 sources x 3 experts.
  EXPECT_EQ(ExpertTotals({1, 2, 3, 10, 20, 30}, 3, 2),
            (std::vector<int64_t>{11, 22, 33}));
}

TEST(QuotaSplitTest, ImbalanceAndBoundByHand) {
  EXPECT_DOUBLE_EQ(RankImbalance({3, 1}), 1.5);
  EXPECT_DOUBLE_EQ(RankImbalance({0, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(RankImbalance({5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(PlacementBound({6, 1, 1}, 2), 1.5);  // 6 * 2 / 8
  EXPECT_DOUBLE_EQ(PlacementBound({1, 1, 1, 1}, 2), 1.0);
  EXPECT_DOUBLE_EQ(PlacementBound({0, 0}, 2), 1.0);
}

// Two ranks; expert 0 (home rank 0) has a replica on rank 1, expert 1 lives on rank 1.
Plan TwoRankReplicatedPlan() {
  Plan plan;
  plan.num_experts = 2;
  plan.world_size = 2;
  plan.rank_slots = {{0}, {1, 0}};
  plan.homes = {ExpertHome{0, 0}, ExpertHome{1, 0}};
  EXPECT_TRUE(plan.Validate().ok());
  return plan;
}

TEST(QuotaSplitTest, WaterFillsByHand) {
  const Plan plan = TwoRankReplicatedPlan();
  CostModel cost;
  cost.row_cost = 1;
  // Source 0 routes 300 rows to expert 0, source 1 routes 100 to expert 1: 400 rows over
  // two ranks is 200 each, so copy 1 (rank 1) takes 100 of expert 0's rows.
  const std::vector<int64_t> counts = {300, 0, 0, 100};
  const QuotaTable q = SplitQuotas(plan, counts, cost);
  EXPECT_EQ(q.get(0, 0, 0), 200);
  EXPECT_EQ(q.get(0, 1, 0), 100);
  EXPECT_EQ(q.get(1, 0, 1), 100);
  EXPECT_EQ(RankCosts(plan, q, cost), (std::vector<int64_t>{200, 200}));

  // With a fixed cost of 20 per active copy and 10 per replica: rank 0 pays 20 + x,
  // rank 1 pays (20 + 100) + (10 + 20 + 300 - x) = 450 - x; equal at x = 215.
  cost.copy_cost = 20;
  cost.replica_refresh_cost = 10;
  const QuotaTable q2 = SplitQuotas(plan, counts, cost);
  EXPECT_EQ(q2.get(0, 0, 0), 215);
  EXPECT_EQ(q2.get(0, 1, 0), 85);
  EXPECT_EQ(RankCosts(plan, q2, cost), (std::vector<int64_t>{235, 235}));
}

TEST(QuotaSplitTest, LocalityFirst) {
  const Plan plan = TwoRankReplicatedPlan();
  CostModel cost;
  cost.row_cost = 1;
  // Expert 0: 150 rows from each source; expert 1: 100 from source 1. The split gives
  // copy 0 200 rows and copy 1 100; source 1 holds copy 1, so its 150 rows of expert 0
  // fill copy 1 first (100) and only the remaining 50 travel to rank 0.
  const std::vector<int64_t> counts = {150, 0, 150, 100};
  const QuotaTable q = SplitQuotas(plan, counts, cost);
  EXPECT_EQ(q.get(0, 1, 1), 100);
  EXPECT_EQ(q.get(0, 1, 0), 0);
  EXPECT_EQ(q.get(0, 0, 0), 150);
  EXPECT_EQ(q.get(0, 0, 1), 50);
}

// Random plans with replicas: conservation, locality (a holder keeps as much of its own
// rows as its copy takes), and the water-fill optimality condition for an expert
// replicated everywhere (no rank receiving its rows sits more than a row above another).
TEST(QuotaSplitTest, ConservesAndBalancesRandomCases) {
  Rng rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t world = 2 + static_cast<int32_t>(rng.Below(6));
    const int32_t num_experts = 1 + static_cast<int32_t>(rng.Below(12));
    CopyLayout layout;
    layout.home.resize(static_cast<size_t>(num_experts));
    layout.replicas.resize(static_cast<size_t>(num_experts));
    for (int32_t e = 0; e < num_experts; ++e) {
      layout.home[static_cast<size_t>(e)] = static_cast<int32_t>(rng.Below(world));
      for (int32_t r = 0; r < world; ++r) {
        if (r != layout.home[static_cast<size_t>(e)] && rng.Below(3) == 0)
          layout.replicas[static_cast<size_t>(e)].push_back(r);
      }
    }
    // Expert 0 everywhere.
    layout.replicas[0].clear();
    for (int32_t r = 0; r < world; ++r) {
      if (r != layout.home[0]) layout.replicas[0].push_back(r);
    }
    Plan empty;
    empty.num_experts = num_experts;
    empty.world_size = world;
    empty.homes.resize(static_cast<size_t>(num_experts));
    empty.rank_slots.resize(static_cast<size_t>(world));
    const Plan plan = PlanFromLayout(layout, empty);
    ASSERT_TRUE(plan.Validate().ok()) << plan.DebugString();
    ASSERT_EQ(LayoutOf(plan), layout);

    std::vector<int64_t> counts(static_cast<size_t>(num_experts * world));
    for (int64_t& c : counts)
      c = static_cast<int64_t>(rng.Below(rng.Below(2) ? 1000 : 5));
    CostModel cost;
    cost.row_cost = 1 + static_cast<int64_t>(rng.Below(50));
    const QuotaTable q = SplitQuotas(plan, counts, cost);
    ExpectConserved(plan, q, counts);

    for (int32_t e = 0; e < num_experts; ++e) {
      for (int32_t c = 0; c < layout.num_copies(e); ++c) {
        const int32_t holder = layout.copy_rank(e, c);
        int64_t copy_total = 0;
        for (int32_t s = 0; s < world; ++s) copy_total += q.get(e, c, s);
        const int64_t own = counts[static_cast<size_t>(holder * num_experts + e)];
        EXPECT_EQ(q.get(e, c, holder), std::min(own, copy_total))
            << "expert " << e << " copy " << c;
      }
    }
    const std::vector<int64_t> costs = RankCosts(plan, q, cost);
    const int64_t lowest = *std::min_element(costs.begin(), costs.end());
    for (int32_t c = 0; c < layout.num_copies(0); ++c) {
      int64_t rows = 0;
      for (int32_t s = 0; s < world; ++s) rows += q.get(0, c, s);
      if (rows > 0) {
        EXPECT_LE(costs[static_cast<size_t>(layout.copy_rank(0, c))],
                  lowest + cost.row_cost)
            << plan.DebugString();
      }
    }
  }
}

// A reused QuotaSplitter gives SplitQuotas' table for every plan and step, and under an
// unchanged plan keeps the table's vectors (no new buffers once warm).
TEST(QuotaSplitTest, ReusedSplitterMatchesAndKeepsBuffers) {
  Rng rng(23);
  QuotaSplitter splitter;
  QuotaTable table;
  const int32_t world = 3, num_experts = 7;
  Plan plan = StaticPlan(num_experts, world);
  for (int trial = 0; trial < 60; ++trial) {
    if (trial % 10 == 0) {  // a new layout every 10 steps (replicas come and go)
      CopyLayout layout = LayoutOf(plan);
      for (auto& r : layout.replicas) r.clear();
      for (int32_t e = 0; e < num_experts; ++e) {
        for (int32_t r = 0; r < world; ++r) {
          if (r != layout.home[static_cast<size_t>(e)] && rng.Below(4) == 0)
            layout.replicas[static_cast<size_t>(e)].push_back(r);
        }
      }
      plan = PlanFromLayout(layout, plan);
      ASSERT_TRUE(plan.Validate().ok());
    }
    std::vector<int64_t> counts(static_cast<size_t>(num_experts * world));
    for (int64_t& c : counts) c = static_cast<int64_t>(rng.Below(500));
    CostModel cost;
    cost.row_cost = 10;
    cost.copy_cost = static_cast<int64_t>(rng.Below(100));
    std::vector<const int64_t*> before;
    for (const auto& row : table.rows) before.push_back(row.data());
    splitter.Split(plan, counts, cost, &table);
    const QuotaTable fresh = SplitQuotas(plan, counts, cost);
    EXPECT_EQ(table.num_experts, fresh.num_experts);
    EXPECT_EQ(table.world_size, fresh.world_size);
    EXPECT_EQ(table.rows, fresh.rows) << "trial " << trial;
    ExpectConserved(plan, table, counts);
    if (trial % 10 > 0) {  // the same plan as the last split: the same buffers
      for (size_t e = 0; e < table.rows.size(); ++e)
        EXPECT_EQ(table.rows[e].data(), before[e])
            << "trial " << trial << " expert " << e;
    }
  }
}

TEST(PlacementPoliciesTest, AssignmentIsMaximal) {
  // Brute force over all permutations of 4.
  Rng rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::vector<int64_t>> w(4, std::vector<int64_t>(4));
    for (auto& row : w) {
      for (int64_t& x : row) x = static_cast<int64_t>(rng.Below(10));
    }
    const std::vector<int32_t> got = MaxWeightAssignment(w);
    std::vector<int32_t> perm = {0, 1, 2, 3};
    int64_t best = 0;
    do {
      int64_t sum = 0;
      for (size_t i = 0; i < 4; ++i) sum += w[i][static_cast<size_t>(perm[i])];
      best = std::max(best, sum);
    } while (std::next_permutation(perm.begin(), perm.end()));
    std::vector<int32_t> sorted = got;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<int32_t>{0, 1, 2, 3}));
    int64_t sum = 0;
    for (size_t i = 0; i < 4; ++i) sum += w[i][static_cast<size_t>(got[i])];
    EXPECT_EQ(sum, best);
  }
}

TEST(PlacementPoliciesTest, ReplicaCountsFollowLoadPerCopy) {
  // Loads 8, 3, 1 with budget 3 over 4 ranks: 8 -> 8/2 = 4 -> still the largest, 8/3 <
  // 3 -> expert 1 gets one (3/2), then 8/3 = 2.67 > 1.5 -> expert 0 again.
  EXPECT_EQ(ReplicaCounts({8, 3, 1}, 4, 3), (std::vector<int32_t>{3, 2, 1}));
  // At most one copy per rank.
  EXPECT_EQ(ReplicaCounts({100, 1}, 2, 5), (std::vector<int32_t>{2, 2}));
}

// Every policy, many shapes: valid plans, slot limits, anti-affinity, the replica
// budget, and conserved quotas at every step.
TEST(BalancerTest, PlansRespectLimitsAndQuotasConserve) {
  struct Shape {
    int32_t experts, world, slots;
  };
  for (const Shape shape : {Shape{16, 4, 1}, Shape{13, 4, 2}, Shape{3, 5, 1},
                            Shape{10, 3, 0}, Shape{64, 8, 1}}) {
    for (BalancerPolicy policy : kAllPolicies) {
      BalancerOptions options = testing::DefaultBalancerOptions();
      options.policy = policy;
      options.replica_slots_per_rank = shape.slots;
      options.replan_interval = 3;
      options.cost = SimulationCost();
      Balancer balancer(options, shape.experts, shape.world);
      Rng rng(MixSeed(5, {static_cast<uint64_t>(shape.experts)}));
      for (int64_t step = 0; step < 40; ++step) {
        // The skew and the hot set change every 10 steps.
        const std::vector<double> shares =
            ZipfShares(shape.experts, 0.5 * static_cast<double>(step / 10),
                       static_cast<uint64_t>(step / 10));
        const std::vector<int64_t> counts = SampleCounts(shares, shape.world, 2000, rng);
        balancer.Observe(step, counts);
        ExpectWithinLimits(balancer.plan(), options);
        ExpectConserved(balancer.plan(), balancer.Quotas(counts), counts);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Relabels expert ids: new id of expert e is perm[e].
Plan RelabelPlan(const Plan& plan, const std::vector<int32_t>& perm) {
  Plan out = plan;
  for (auto& slots : out.rank_slots) {
    for (int32_t& e : slots) e = perm[static_cast<size_t>(e)];
  }
  for (int32_t e = 0; e < plan.num_experts; ++e)
    out.homes[static_cast<size_t>(perm[static_cast<size_t>(e)])] =
        plan.homes[static_cast<size_t>(e)];
  return out;
}

std::vector<int64_t> RelabelCounts(const std::vector<int64_t>& counts,
                                   const std::vector<int32_t>& perm, int32_t world) {
  const size_t num_experts = perm.size();
  std::vector<int64_t> out(counts.size());
  for (size_t s = 0; s < static_cast<size_t>(world); ++s) {
    for (size_t e = 0; e < num_experts; ++e)
      out[s * num_experts + static_cast<size_t>(perm[e])] = counts[s * num_experts + e];
  }
  return out;
}

std::vector<int64_t> PermuteSources(const std::vector<int64_t>& counts,
                                    const std::vector<int32_t>& perm,
                                    int32_t num_experts) {
  std::vector<int64_t> out(counts.size());
  for (size_t s = 0; s < perm.size(); ++s) {
    for (size_t e = 0; e < static_cast<size_t>(num_experts); ++e) {
      out[static_cast<size_t>(perm[s]) * static_cast<size_t>(num_experts) + e] =
          counts[s * static_cast<size_t>(num_experts) + e];
    }
  }
  return out;
}

// Same plan from the same input twice, from shuffled source ranks, and the relabelled
// plan from relabelled experts.
TEST(BalancerTest, DeterministicAndOrderIndependent) {
  const int32_t num_experts = 24, world = 6;
  std::vector<int32_t> expert_perm(static_cast<size_t>(num_experts));
  std::iota(expert_perm.begin(), expert_perm.end(), 0);
  std::vector<int32_t> source_perm(static_cast<size_t>(world));
  std::iota(source_perm.begin(), source_perm.end(), 0);
  Rng shuffle(17);
  for (size_t i = expert_perm.size() - 1; i > 0; --i)
    std::swap(expert_perm[i], expert_perm[shuffle.Below(i + 1)]);
  for (size_t i = source_perm.size() - 1; i > 0; --i)
    std::swap(source_perm[i], source_perm[shuffle.Below(i + 1)]);

  for (BalancerPolicy policy : kAllPolicies) {
    BalancerOptions options = testing::DefaultBalancerOptions();
    options.policy = policy;
    options.replan_interval = 5;
    options.cost = SimulationCost();
    const Plan initial = StaticPlan(num_experts, world);
    Balancer a(options, initial), twin(options, initial), sources(options, initial);
    Balancer relabelled(options, RelabelPlan(initial, expert_perm));
    Rng rng(23);
    int changes = 0;
    for (int64_t step = 0; step < 60; ++step) {
      const std::vector<double> shares = ZipfShares(num_experts, 1.2, step < 30 ? 1 : 2);
      const std::vector<int64_t> counts = SampleCounts(shares, world, 3000, rng);
      const PlanDecision d = a.Observe(step, counts);
      const PlanDecision d_twin = twin.Observe(step, counts);
      const PlanDecision d_sources =
          sources.Observe(step, PermuteSources(counts, source_perm, num_experts));
      const PlanDecision d_relabelled =
          relabelled.Observe(step, RelabelCounts(counts, expert_perm, world));
      changes += d.changed ? 1 : 0;
      EXPECT_EQ(d.reason, d_twin.reason);
      EXPECT_EQ(a.plan(), twin.plan());
      EXPECT_EQ(a.plan().version, twin.plan().version);
      EXPECT_EQ(a.plan(), sources.plan());
      EXPECT_EQ(d.changed, d_sources.changed);
      EXPECT_EQ(d.changed, d_relabelled.changed);
      // The relabelled plan up to slot order: same homes and replica ranks per expert.
      const CopyLayout la = LayoutOf(a.plan());
      const CopyLayout lr = LayoutOf(relabelled.plan());
      for (int32_t e = 0; e < num_experts; ++e) {
        const size_t pe = static_cast<size_t>(expert_perm[static_cast<size_t>(e)]);
        EXPECT_EQ(la.home[static_cast<size_t>(e)], lr.home[pe]) << "step " << step;
        EXPECT_EQ(la.replicas[static_cast<size_t>(e)], lr.replicas[pe])
            << "step " << step;
      }
      if (HasFailure()) return;
    }
    if (policy != BalancerPolicy::kStatic) {
      EXPECT_GT(changes, 0) << BalancerPolicyName(policy) << " never re-planned";
    }
  }
}

// Stationary skew: once a plan is replaced it never comes back (no A-B-A), home moves
// stay within one per expert per 100 steps after the first re-plans, and cost_aware
// does not move anything while the forecast imbalance stays below imbalance_low.
TEST(BalancerTest, StableUnderStationarySkew) {
  const int32_t num_experts = 64, world = 8;
  const int64_t steps = 300, settle = 20;
  for (double s : {0.0, 0.5, 1.0, 2.0}) {
    const std::vector<double> shares = ZipfShares(num_experts, s, 7);
    for (const int64_t routes : {int64_t{16384}, int64_t{1024}}) {  // 1024: noisy
      for (BalancerPolicy policy : kAllPolicies) {
        BalancerOptions options = testing::DefaultBalancerOptions();
        options.policy = policy;
        options.cost = SimulationCost();
        Balancer balancer(options, num_experts, world);
        Rng rng(MixSeed(29, {static_cast<uint64_t>(s * 10)}));
        std::vector<Plan> history = {balancer.plan()};
        int64_t late_home_moves = 0;
        bool always_quiet = true;
        for (int64_t step = 0; step < steps; ++step) {
          const PlanDecision d =
              balancer.Observe(step, SampleCounts(shares, world, routes, rng));
          always_quiet =
              always_quiet && d.forecast_imbalance_before < options.imbalance_low;
          if (step >= settle) late_home_moves += d.home_moves;
          if (!d.changed) continue;
          for (size_t i = 0; i + 1 < history.size(); ++i) {
            EXPECT_FALSE(history[i] == balancer.plan())
                << BalancerPolicyName(policy) << " s=" << s << " step " << step
                << " returned to an earlier plan (routes " << routes << ")";
          }
          history.push_back(balancer.plan());
        }
        EXPECT_LE(late_home_moves, num_experts * (steps - settle) / 100)
            << BalancerPolicyName(policy) << " s=" << s << " routes " << routes;
        if (policy == BalancerPolicy::kCostAware && always_quiet) {
          EXPECT_EQ(history.size(), 1u) << "cost_aware moved while below imbalance_low";
        }
        if (policy == BalancerPolicy::kCostAware && s == 0.0 && routes == 16384) {
          EXPECT_TRUE(always_quiet) << "uniform load should never look imbalanced";
        }
      }
    }
  }
}

// With no minimum gain every strict improvement is applied, so noisy counts make the
// dynamic policies re-plan often; a plan among the last Balancer::kRecentPlans replaced
// ones may still only come back with a gain of at least kRevertMinGain.
TEST(BalancerTest, RecentPlansDoNotComeBackWithoutLargeGain) {
  const int32_t num_experts = 16, world = 4;
  // (replicate is left out: rebuilding from the same homes, it re-plans only when the
  // load-per-copy ranking changes, too rarely to exercise the rule.)
  for (BalancerPolicy policy :
       {BalancerPolicy::kGreedyPlace, BalancerPolicy::kCostAware}) {
    BalancerOptions options = testing::DefaultBalancerOptions();
    options.policy = policy;
    options.min_relative_gain = 0.0;
    options.noise_sigmas = 0.0;  // re-plan on noise: this test needs many re-plans
    options.replan_interval = 1;
    options.ema_shift = 0;  // the forecast is the last step: as noisy as it gets
    options.imbalance_high = options.imbalance_low = 1.0;  // cost_aware: always active
    options.cost = SimulationCost();
    Balancer balancer(options, num_experts, world);
    const std::vector<double> shares = ZipfShares(num_experts, 1.0, 5);
    Rng rng(37);
    std::vector<Plan> replaced;  // newest last
    int changes = 0;
    for (int64_t step = 0; step < 400; ++step) {
      const std::vector<int64_t> counts = SampleCounts(shares, world, 256, rng);
      const Plan before = balancer.plan();
      const PlanDecision d = balancer.Observe(step, counts);
      if (!d.changed) continue;
      ++changes;
      const size_t window = std::min<size_t>(replaced.size(), Balancer::kRecentPlans);
      for (size_t i = replaced.size() - window; i < replaced.size(); ++i) {
        if (replaced[i] == balancer.plan()) {
          // Allowed only with a predicted gain of kRevertMinGain of the max rank cost.
          const std::vector<int64_t> loads = balancer.ForecastLoads();
          const std::vector<int64_t> old_costs =
              PredictRankCosts(LayoutOf(before), world, loads, options.cost);
          const std::vector<int64_t> new_costs =
              PredictRankCosts(LayoutOf(balancer.plan()), world, loads, options.cost);
          const double t0 =
              static_cast<double>(*std::max_element(old_costs.begin(), old_costs.end()));
          const double t1 =
              static_cast<double>(*std::max_element(new_costs.begin(), new_costs.end()));
          EXPECT_GE(t0 - t1, Balancer::kRevertMinGain * t0)
              << BalancerPolicyName(policy) << " step " << step << ": " << d.reason;
        }
      }
      replaced.push_back(before);
    }
    EXPECT_GE(changes, 5) << BalancerPolicyName(policy) << ": too few re-plans to test";
  }
}

// cost_aware's noise floor: on uniform popularity whose counts are pure sampling noise
// (and no imbalance threshold or relative gain to hide behind), the default
// noise_sigmas keeps the plan; without it the noise alone adds replicas. With real
// skew the noise floor still lets the balancer act.
TEST(BalancerTest, CostAwareIgnoresCountNoise) {
  const int32_t num_experts = 16, world = 2;
  auto changes_for = [&](double sigmas, double skew) {
    BalancerOptions options = testing::DefaultBalancerOptions();
    options.policy = BalancerPolicy::kCostAware;
    options.min_relative_gain = 0.0;
    options.noise_sigmas = sigmas;
    options.imbalance_high = options.imbalance_low = 1.0;  // always active
    options.replan_interval = 1;
    options.ema_shift = 1;  // a short memory: a noisy forecast
    options.cost = SimulationCost();
    Balancer balancer(options, num_experts, world);
    const std::vector<double> shares = ZipfShares(num_experts, skew, 7);
    Rng rng(41);
    int changes = 0;
    for (int64_t step = 1; step <= 200; ++step) {
      changes += balancer.Observe(step, SampleCounts(shares, world, 128, rng)).changed;
    }
    return changes;
  };
  EXPECT_GT(changes_for(0.0, 0.0), 0) << "noise never moved the plan: nothing tested";
  EXPECT_EQ(changes_for(testing::DefaultBalancerOptions().noise_sigmas, 0.0), 0);
  EXPECT_GT(changes_for(testing::DefaultBalancerOptions().noise_sigmas, 1.2), 0);
}

// The simulation targets at reduced length: E=64, R=8, top-2 worth of routes
// (16384 per rank), one spare slot per rank, 80 steps with the first 20 excluded.
TEST(BalancerTest, SimulationTargets) {
  const int32_t num_experts = 64, world = 8;
  const int64_t steps = 80, warmup = 20;
  for (double s : {0.0, 0.5, 1.0, 1.5}) {
    const std::vector<double> shares = ZipfShares(num_experts, s, 3);
    BalancerOptions options = testing::DefaultBalancerOptions();
    options.cost = SimulationCost();
    options.replica_slots_per_rank = 1;
    options.policy = BalancerPolicy::kCostAware;
    Balancer cost_aware(options, num_experts, world);
    options.policy = BalancerPolicy::kGreedyPlace;
    Balancer greedy(options, num_experts, world);
    Rng rng(MixSeed(31, {static_cast<uint64_t>(s * 10)}));
    double cost_aware_sum = 0.0, greedy_sum = 0.0, bound_sum = 0.0;
    for (int64_t step = 0; step < steps; ++step) {
      const std::vector<int64_t> counts = SampleCounts(shares, world, 16384, rng);
      cost_aware.Observe(step, counts);
      greedy.Observe(step, counts);
      if (step < warmup) continue;
      cost_aware_sum += RankImbalance(
          RankCosts(cost_aware.plan(), cost_aware.Quotas(counts), options.cost));
      greedy_sum +=
          RankImbalance(RankCosts(greedy.plan(), greedy.Quotas(counts), options.cost));
      bound_sum += PlacementBound(ExpertTotals(counts, num_experts, world), world);
    }
    const double n = static_cast<double>(steps - warmup);
    EXPECT_LE(cost_aware_sum / n, 1.05) << "cost_aware at s=" << s;
    EXPECT_LE(greedy_sum / n, 1.02 * bound_sum / n) << "greedy_place at s=" << s;
  }
}

}  // namespace
}  // namespace mpimoe::parallel
