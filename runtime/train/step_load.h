// What a logged training step reports about load and traffic across the job:
// placement traffic accumulated since the last logged step on this rank
// (PlacementTotals), and expert rows and bytes of every rank gathered for the step
// (RankLoad, one Allgather). metrics_log.h turns them into metrics.jsonl fields.
//
// Thread-safety: values; GatherRankLoad is collective over `comm`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/core/status.h"
#include "runtime/train/model.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {

// Placement traffic and decisions on this rank since the last logged step.
struct PlacementTotals {
  int64_t replica_bytes = 0;    // replica refresh + gradient partials
  int64_t migration_bytes = 0;  // re-plans
  int64_t plan_changes = 0;
  double planner_us = 0.0;
  std::vector<std::string> decisions;  // "step N, <decision>"

  void Add(int64_t step, const PlacementRecord& record);
};

// The job-wide view of a step's expert work.
struct RankLoad {
  std::vector<int64_t> rows;  // [P] expert rows computed by each rank
  int64_t a2a_bytes = 0;      // sent between ranks, summed over ranks
  int64_t replica_bytes = 0;  // summed over ranks (from PlacementTotals)
  int64_t migration_bytes = 0;
  double imbalance = 1.0;  // max/mean of rows
};

// Gathers this step's rows and bytes of every MoE layer of `model` and `totals` from
// every rank. Collective.
Status GatherRankLoad(parallel::Communicator& comm, MoeTransformer& model,
                      const PlacementTotals& totals, RankLoad* load);

// [layer][E] global routes per expert of every MoE layer in the last forward.
std::vector<std::vector<int64_t>> ExpertTokens(MoeTransformer& model);

// The worst placement-only imbalance over the MoE layers: the best max/mean over
// `ranks` any placement could reach with these expert loads (parallel::PlacementBound).
double PlacementBoundOf(const std::vector<std::vector<int64_t>>& expert_tokens,
                        int ranks);

}  // namespace mpimoe::train
