// Quota split: how one step's routes of each expert are shared among its copies, and
// the per-rank cost model the balancer optimises.
//
// Cost of rank r for one step (CostModel, integer units so every rank agrees bitwise):
//   sum over the copies on r that receive rows: copy_cost + row_cost * rows
//   + the refresh cost of every replica r holds (refresh + gradient partials, charged
//     to the replica's rank): replica_refresh_cost when the replica and its home share a
//     node, remote_replica_refresh_cost across nodes (CostModel::node_of_rank).
// SplitExpertLoads water-fills each replicated expert's rows over its copies so that
// rank costs equalise: unreplicated experts are fixed load; replicated experts are
// filled one at a time (heaviest first, ties to the lower id) into the ranks' current
// cost levels, then refined by re-filling each in the same order until a pass changes
// nothing or `max_passes` passes are done. Each re-fill is the exact minimiser of the
// sum of squared rank costs over that expert's split, so the passes are block
// coordinate descent on a convex function; the fixed point is the balanced split. Integer
// levels; leftover rows go one at a time to the copy whose cost would be lowest (ties to
// the lower copy index). SplitQuotas then turns per-copy row totals into per-source
// quotas, locality first: a source that holds a copy of e keeps its own rows of e there
// (up to that copy's total) before any row is sent elsewhere; then, with a topology
// (CostModel::node_of_rank), each copy takes rows from the other sources on its node
// (copies in order, sources in rank order); the rest fills copies in (source, copy)
// order. Every (source, expert) count is conserved.
//
// CopyLayout is a placement in the planner's working form (home rank + replica ranks per
// expert); its copy order (home, then replicas by ascending rank) is the order of
// Plan::ExpertCopies, since a rank holds at most one copy of an expert.
//
// Everything here is a pure function of its arguments. Thread-safety: no shared state.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/plan.h"

namespace mpimoe::parallel {

struct CostModel {                   // integers/fixed point so every rank agrees bitwise
  int64_t row_cost = 1000;           // cost of one row through an expert (fwd+bwd)
  int64_t copy_cost = 0;             // fixed cost of one active expert copy per step
  int64_t replica_refresh_cost = 0;  // per step per replica: refresh + gradient reduction
  int64_t replica_create_cost = 0;   // one-off: copying weights to a new replica
  int64_t home_move_cost = 0;        // one-off: weights + optimizer moments
  // The same three where the two ranks involved are on different nodes (a slower link).
  int64_t remote_replica_refresh_cost = 0;
  int64_t remote_replica_create_cost = 0;
  int64_t remote_home_move_cost = 0;
  // Moving one row across nodes (both directions, forward and backward), charged in
  // the planner's predictions (PredictRankCosts) to the copy that receives it.
  int64_t remote_row_cost = 0;
  // [world_size] node of each rank (parallel/topology.h); empty = all on one node, and
  // the remote costs are never used.
  std::vector<int32_t> node_of_rank;

  bool remote(int32_t a, int32_t b) const {
    return !node_of_rank.empty() &&
           node_of_rank[static_cast<size_t>(a)] != node_of_rank[static_cast<size_t>(b)];
  }
  // A replica on rank `replica` of an expert whose home is rank `home`, per step.
  int64_t refresh_cost(int32_t home, int32_t replica) const {
    return remote(home, replica) ? remote_replica_refresh_cost : replica_refresh_cost;
  }
  // One-off: a new replica on `replica` (weights from `home`).
  int64_t create_cost(int32_t home, int32_t replica) const {
    return remote(home, replica) ? remote_replica_create_cost : replica_create_cost;
  }
  // One-off: a home moving from `from` to `to` (weights and moments).
  int64_t move_cost(int32_t from, int32_t to) const {
    return remote(from, to) ? remote_home_move_cost : home_move_cost;
  }
  bool operator==(const CostModel& other) const = default;
};

struct CopyLayout {
  std::vector<int32_t> home;                   // [E] home rank
  std::vector<std::vector<int32_t>> replicas;  // [E] ranks holding a replica, ascending

  int32_t num_experts() const { return static_cast<int32_t>(home.size()); }
  bool Holds(int32_t expert, int32_t rank) const;
  int32_t num_copies(int32_t expert) const {
    return 1 + static_cast<int32_t>(replicas[static_cast<size_t>(expert)].size());
  }
  // Rank of copy `copy` of `expert` (0 = home).
  int32_t copy_rank(int32_t expert, int32_t copy) const {
    return copy == 0
               ? home[static_cast<size_t>(expert)]
               : replicas[static_cast<size_t>(expert)][static_cast<size_t>(copy - 1)];
  }
  int32_t total_replicas() const;
  // Slots used on each rank (homes + replicas): [world_size].
  std::vector<int32_t> SlotsPerRank(int32_t world_size) const;
  bool operator==(const CopyLayout& other) const = default;
};

CopyLayout LayoutOf(const Plan& plan);

// Passes of SplitExpertLoads: per-step quotas iterate to the fixed point; the planner,
// which predicts hundreds of candidate layouts per re-plan, stops after a few.
inline constexpr int kQuotaSplitPasses = 64;
inline constexpr int kPlannerSplitPasses = 3;

// Rows per copy ([E][copies], copy order of CopyLayout) that equalise the predicted
// rank costs, for per-expert totals `expert_loads` [E]; returns the rank costs [P].
// `copy_rows` may be null (the planner only needs the costs).
std::vector<int64_t> SplitExpertLoads(const CopyLayout& layout, int32_t world_size,
                                      const std::vector<int64_t>& expert_loads,
                                      const CostModel& cost, int max_passes,
                                      std::vector<std::vector<int64_t>>* copy_rows);

// Scratch of the split (grown, then reused by whoever owns it).
struct SplitWorkspace {
  std::vector<int64_t> rank_cost;
  std::vector<int32_t> replicated;
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> bases, previous;
  std::vector<size_t> order;
};
// SplitExpertLoads with caller-owned scratch: the rank costs land in ws.rank_cost;
// `copy_rows` (may be null) keeps its vectors' capacity.
void SplitExpertLoadsInto(const CopyLayout& layout, int32_t world_size,
                          const std::vector<int64_t>& expert_loads, const CostModel& cost,
                          int max_passes, SplitWorkspace& ws,
                          std::vector<std::vector<int64_t>>* copy_rows);

// This step's quotas under `plan` for counts[s * E + e] (>= 0): every (source, expert)
// count conserved, rank costs equalised, locality first (see above). Deterministic.
QuotaTable SplitQuotas(const Plan& plan, const std::vector<int64_t>& counts,
                       const CostModel& cost);

// SplitQuotas for a caller that splits every step: it keeps the plan's layout (rebuilt
// only when the plan changes) and all scratch, and writes into a caller-owned table
// whose vectors are reused, so a step under an unchanged plan allocates nothing once
// warm. Gives exactly SplitQuotas' table. Thread-safety: one thread per splitter.
class QuotaSplitter {
 public:
  void Split(const Plan& plan, const std::vector<int64_t>& counts, const CostModel& cost,
             QuotaTable* out);

 private:
  bool has_plan_ = false;
  Plan plan_;
  CopyLayout layout_;
  std::vector<int64_t> totals_, left_;
  std::vector<std::vector<int64_t>> copy_rows_;
  SplitWorkspace workspace_;
};

// Per-rank expert cost of a quota assignment under a plan: [world_size].
std::vector<int64_t> RankCosts(const Plan& plan, const QuotaTable& quotas,
                               const CostModel& cost);
// max / mean of the rank costs; 1.0 if all are zero.
double RankImbalance(const std::vector<int64_t>& rank_costs);
// max(1, max_e L_e * P / sum_e L_e): the best imbalance any placement without replicas
// can reach (ignoring fixed costs); 1.0 if all loads are zero.
double PlacementBound(const std::vector<int64_t>& expert_loads, int32_t world_size);

}  // namespace mpimoe::parallel
