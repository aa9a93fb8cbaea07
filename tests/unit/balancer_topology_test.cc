// The balancer's cost model across nodes (parallel/quota_split.h CostModel with
// node_of_rank): replicas and migrations between nodes are charged the remote prices,
// the quota split fills a copy from its own node's sources before others, and with a
// dear inter-node link cost_aware keeps a hot expert's replicas on its home's node
// where a topology-blind model spreads them.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "parallel/balancer.h"
#include "parallel/placement_policies.h"
#include "parallel/quota_split.h"
#include "tests/tools/default_balancer_options.h"

namespace mpimoe::parallel {
namespace {

// Two nodes of two ranks: {0, 1} and {2, 3}.
CostModel TwoNodeCost() {
  CostModel cost;
  cost.row_cost = 1000;
  cost.replica_refresh_cost = 10;
  cost.replica_create_cost = 20;
  cost.home_move_cost = 30;
  cost.remote_replica_refresh_cost = 100;
  cost.remote_replica_create_cost = 200;
  cost.remote_home_move_cost = 300;
  cost.node_of_rank = {0, 0, 1, 1};
  return cost;
}

// Expert 0 at home on rank 0 with one replica on `replica`; experts 1-3 alone on 1-3.
CopyLayout OneReplica(int32_t replica) {
  CopyLayout layout;
  layout.home = {0, 1, 2, 3};
  layout.replicas = {{replica}, {}, {}, {}};
  return layout;
}

TEST(BalancerTopologyTest, LinkCostsFollowTheNodes) {
  const CostModel cost = TwoNodeCost();
  EXPECT_FALSE(cost.remote(0, 1));
  EXPECT_TRUE(cost.remote(1, 2));
  EXPECT_EQ(cost.refresh_cost(0, 1), 10);
  EXPECT_EQ(cost.refresh_cost(0, 2), 100);
  EXPECT_EQ(cost.create_cost(3, 2), 20);
  EXPECT_EQ(cost.move_cost(1, 3), 300);
  CostModel one_node = cost;
  one_node.node_of_rank.clear();
  EXPECT_EQ(one_node.refresh_cost(0, 2), 10);  // no topology: every link is local
}

TEST(BalancerTopologyTest, ReplicaRefreshIsChargedAtItsLinkPrice) {
  const CostModel cost = TwoNodeCost();
  const std::vector<int64_t> no_load(4, 0);
  const std::vector<int64_t> near = PredictRankCosts(OneReplica(1), 4, no_load, cost);
  const std::vector<int64_t> far = PredictRankCosts(OneReplica(2), 4, no_load, cost);
  EXPECT_EQ(near[1], 10);
  EXPECT_EQ(far[2], 100);
  EXPECT_EQ(near[0] + far[0] + near[3] + far[3], 0);
}

TEST(BalancerTopologyTest, PredictionsChargeRowsFromOtherNodes) {
  // Expert 0 alone on rank 0 with 400 routes: node 0 (ranks 0, 1) supplies half of
  // them, so 200 rows come from node 1, each charged remote_row_cost on rank 0.
  CostModel cost = TwoNodeCost();
  cost.remote_row_cost = 7;
  const std::vector<int64_t> loads{400, 0, 0, 0};
  const std::vector<int64_t> alone = PredictRankCosts(OneReplica(1), 4, loads, cost);
  CopyLayout home_only = OneReplica(1);
  home_only.replicas[0].clear();
  const std::vector<int64_t> costs = PredictRankCosts(home_only, 4, loads, cost);
  EXPECT_EQ(costs[0], 400 * 1000 + 200 * 7);
  // With a replica on node 1 (rank 2), each copy takes its own node's 200 rows: none
  // cross, and only the replica's refresh is added.
  const std::vector<int64_t> spread = PredictRankCosts(OneReplica(2), 4, loads, cost);
  EXPECT_EQ(spread[0], 200 * 1000);
  EXPECT_EQ(spread[2], 200 * 1000 + 100);
  // Within node 0 (replica on rank 1) the 200 rows from node 1 still cross.
  EXPECT_EQ(alone[0] + alone[1], 400 * 1000 + 10 + 200 * 7);
}

TEST(BalancerTopologyTest, MigrationCostsDependOnTheLink) {
  const CostModel cost = TwoNodeCost();
  CopyLayout from;
  from.home = {0, 1, 2, 3};
  from.replicas = {{}, {}, {}, {}};
  CopyLayout to = from;
  to.home = {1, 2, 2, 3};  // expert 0 moves within node 0, expert 1 across
  to.replicas = {
      {}, {}, {3}, {0}};  // expert 2 gains a local replica, expert 3 a remote one
  const Migration m = CountMigration(from, to, cost);
  EXPECT_EQ(m.home_moves, 2);
  EXPECT_EQ(m.replicas_added, 2);
  EXPECT_EQ(m.cost, 30 + 300 + 20 + 200);
}

TEST(BalancerTopologyTest, QuotasFillACopyFromItsOwnNodeFirst) {
  // Expert 2 at home on rank 2 (node 1) with a replica on rank 0 (node 0); every source
  // routes 10 rows to it, nothing else is loaded. Each copy takes 20 rows: its own
  // rank's 10 and its node neighbour's 10, so no row of expert 2 crosses nodes.
  Plan plan = StaticPlan(4, 4);
  plan.rank_slots[0].push_back(2);
  ASSERT_TRUE(plan.Validate().ok()) << plan.Validate().ToString();
  std::vector<int64_t> counts(16, 0);
  for (int s = 0; s < 4; ++s) counts[static_cast<size_t>(s * 4 + 2)] = 10;
  const CostModel cost = TwoNodeCost();
  const QuotaTable quotas = SplitQuotas(plan, counts, cost);
  for (int s = 0; s < 4; ++s) {
    const int copy = s < 2 ? 1 : 0;  // the replica (rank 0) for node 0, home for node 1
    EXPECT_EQ(quotas.get(2, copy, s), 10) << "source " << s;
    EXPECT_EQ(quotas.get(2, 1 - copy, s), 0) << "source " << s;
  }
  // Without a topology, after each copy's own rank the rest fill copies in order, and
  // ranks 1 and 3 send their rows across nodes.
  CostModel blind = cost;
  blind.node_of_rank.clear();
  const QuotaTable spread = SplitQuotas(plan, counts, blind);
  EXPECT_EQ(spread.get(2, 0, 1), 10);  // rank 1 (node 0) -> home on rank 2 (node 1)
  EXPECT_EQ(spread.get(2, 1, 3), 10);  // rank 3 (node 1) -> replica on rank 0 (node 0)
}

// A hot expert (0, at home on rank 0) on 8 ranks in 2 nodes of 4: with the inter-node
// link 500x dearer (a remote replica costs more than the rows it could take), cost_aware
// puts its replicas on node 0; without a topology it also
// uses node 1.
std::vector<int32_t> HotReplicaNodes(bool topology_aware, std::string* log) {
  BalancerOptions options = testing::DefaultBalancerOptions();
  options.policy = BalancerPolicy::kCostAware;
  options.replica_slots_per_rank = 1;
  options.cost.row_cost = 1000;
  options.cost.replica_refresh_cost = 2000;
  options.cost.replica_create_cost = 4000;
  options.cost.home_move_cost = 1000000;  // keep homes where they are
  if (topology_aware) {
    options.cost.node_of_rank = {0, 0, 0, 0, 1, 1, 1, 1};
    options.cost.remote_replica_refresh_cost = 500 * options.cost.replica_refresh_cost;
    options.cost.remote_replica_create_cost = 500 * options.cost.replica_create_cost;
    options.cost.remote_home_move_cost = 500 * options.cost.home_move_cost;
  }
  Balancer balancer(options, 8, 8);
  std::vector<int64_t> counts(64, 10);
  for (int s = 0; s < 8; ++s) counts[static_cast<size_t>(s * 8)] = 200;  // expert 0
  for (int64_t step = 1; step <= 40; ++step) {
    const PlanDecision d = balancer.Observe(step, counts);
    if (d.changed) *log += d.reason + "\n";
  }
  *log += balancer.plan().DebugString();
  std::vector<int32_t> nodes;
  const CopyLayout layout = LayoutOf(balancer.plan());
  for (int32_t r : layout.replicas[0]) nodes.push_back(r / 4);
  return nodes;
}

TEST(BalancerTopologyTest, DearLinksKeepHotReplicasOnTheHomeNode) {
  std::string aware_log, blind_log;
  const std::vector<int32_t> aware = HotReplicaNodes(true, &aware_log);
  const std::vector<int32_t> blind = HotReplicaNodes(false, &blind_log);
  ASSERT_FALSE(aware.empty()) << "no replica of the hot expert\n" << aware_log;
  for (int32_t node : aware) EXPECT_EQ(node, 0) << aware_log;
  EXPECT_NE(std::count(blind.begin(), blind.end(), 1), 0)
      << "the topology-blind planner kept every replica on node 0 as well\n"
      << blind_log;
}

}  // namespace
}  // namespace mpimoe::parallel
