// Placement policies: the pure building blocks the Balancer composes into its policies.
// Each takes forecast loads (whole routes per expert) and a CopyLayout and returns a new
// CopyLayout; none touches MPI, weights or the training loop.
//
//   LptHomes        longest-processing-time packing of homes into bins with a slot cap,
//                   refined by moves and swaps out of the most loaded bin while that
//                   lowers it; bins then relabelled to physical ranks by a maximum-weight
//                   assignment (Hungarian) that keeps the most experts where they are.
//   ReplicaCounts   copies per expert: repeatedly add one to argmax load/copies (ties to
//                   the lower id), at most one copy per rank, within a replica budget.
//   PackReplicas    places those replicas by LPT on load per copy with slot limits and
//                   anti-affinity (no two copies of an expert on one rank); homes stay.
//   ImproveReplicas cost-model local search: drops replicas that do not pay for
//                   themselves, then repeatedly adds (or swaps in) the replica that most
//                   lowers the predicted rank costs in leximax order (the largest first,
//                   then the next...), until nothing strictly improves.
//   PlanFromLayout  turns a CopyLayout into a Plan, keeping copies that stay on a rank in
//                   their previous slot order so an unchanged placement gives an
//                   identical Plan.
//
// Ties are always broken towards the lower expert id, bin, rank or copy index, so equal
// inputs give equal layouts on every rank. Integer arithmetic throughout.
// Thread-safety: pure functions, no shared state.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/plan.h"
#include "parallel/quota_split.h"

namespace mpimoe::parallel {

struct SlotLimits {
  int32_t home_slots = 1;      // ceil(E / P): the static plan's largest rank
  int32_t total_slots = 1;     // home_slots + replica slots per rank
  int32_t replica_budget = 0;  // P * replica slots per rank
};
SlotLimits MakeSlotLimits(int32_t num_experts, int32_t world_size,
                          int32_t replica_slots_per_rank);

// Predicted rank costs of `layout` under forecast loads (SplitExpertLoads with
// kPlannerSplitPasses); with a topology and remote_row_cost, plus the estimated rows
// each copy takes from other nodes (sources assumed spread evenly over the ranks).
std::vector<int64_t> PredictRankCosts(const CopyLayout& layout, int32_t world_size,
                                      const std::vector<int64_t>& loads,
                                      const CostModel& cost);
// The leximax key of rank costs: sorted largest first. Smaller (lexicographically) is
// better.
std::vector<int64_t> LeximaxKey(std::vector<int64_t> rank_costs);

// What changes from one layout to another, and its one-off cost.
struct Migration {
  int32_t home_moves = 0;        // experts whose home rank changes
  int32_t replicas_added = 0;    // (expert, rank) replicas where the rank held no copy
  int32_t replicas_removed = 0;  // (expert, rank) replicas whose rank keeps no copy
  int64_t cost = 0;              // move and create costs, by link (CostModel)
};
Migration CountMigration(const CopyLayout& from, const CopyLayout& to,
                         const CostModel& cost);

// Max-weight perfect assignment of an n x n matrix (Hungarian, O(n^3)):
// result[row] = column. Deterministic.
std::vector<int32_t> MaxWeightAssignment(const std::vector<std::vector<int64_t>>& weight);

// Home ranks by LPT on cost (copy_cost + row_cost * load) into world_size bins of at
// most `cap` experts (cap * P >= E), relabelled to keep the most of `current_home`.
std::vector<int32_t> LptHomes(const std::vector<int64_t>& loads, int32_t world_size,
                              int32_t cap, const std::vector<int32_t>& current_home,
                              const CostModel& cost);

// Copies per expert (>= 1, <= world_size) with at most `budget` extra copies in all.
std::vector<int32_t> ReplicaCounts(const std::vector<int64_t>& loads, int32_t world_size,
                                   int32_t budget);

// Homes from `home`; replicas for `counts` packed by LPT on load per copy into ranks
// with fewer than limits.total_slots slots, never beside another copy of the expert.
// A replica that fits nowhere is dropped.
CopyLayout PackReplicas(const std::vector<int32_t>& home,
                        const std::vector<int32_t>& counts,
                        const std::vector<int64_t>& loads, int32_t world_size,
                        const SlotLimits& limits, const CostModel& cost);

// Local search from `start` (homes fixed) on predicted costs; see the file comment.
// Respects limits (slots per rank, replica budget) and anti-affinity.
CopyLayout ImproveReplicas(CopyLayout start, const std::vector<int64_t>& loads,
                           int32_t world_size, const SlotLimits& limits,
                           const CostModel& cost);

Plan PlanFromLayout(const CopyLayout& layout, const Plan& previous);

}  // namespace mpimoe::parallel
