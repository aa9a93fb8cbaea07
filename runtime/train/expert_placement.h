// ExpertPlacement: the training side of the dynamic load balancer.
//
// It owns one parallel::Balancer per MoE layer (config section `balancer`), gives each
// MoE layer the balancer's quota function (how a step's rows of a replicated expert are
// split among its copies) and gives the Trainer a PlanController that feeds every
// step's all-gathered counts to the layer's balancer and returns its plan. The
// balancer's cost model comes from the expert shapes (weights bytes vs. FLOPs per row)
// and the machine constants balancer.cost_expert_gflops, cost_memory_gbps and
// cost_network_gbps (measured by `mpimoe-bench balancer --calibrate`); on a job that
// spans several nodes, copies across nodes are costed at the inter-node bandwidth
// (balancer.cost_inter_node_gbps, or measured at start-up when that is 0); with
// balancer.fit_cost_online it is refitted every balancer.replan_interval steps from the
// measured expert time per row, summed over ranks so that every rank holds the same
// numbers.
//
// It also applies the experiment-only router skew (model.moe.skew): a fixed logit bias
// making expert popularity Zipf(skew), whose ranking rotates every skew_drift_steps.
//
// Ownership: owns the balancers and the layers' quota splitters; borrows nothing between
// calls. Thread-safety: one host thread; every call is made identically on every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "parallel/balancer.h"
#include "parallel/communicator.h"
#include "runtime/core/status.h"
#include "runtime/train/config.h"
#include "runtime/train/model.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {

// The balancer options of a config's `balancer` section: the one conversion (the model
// and the balancer benchmark use it). The cost model is left for the caller: it depends
// on the model's shapes (ExpertPlacement sets it).
StatusOr<parallel::BalancerOptions> BalancerOptionsOf(const BalancerSection& balancer);

class ExpertPlacement {
 public:
  // Builds the balancers for `model`'s MoE layers and installs their quota functions.
  // `topology`: where the job's ranks run; `inter_node_bytes_per_s`: the bandwidth of
  // links across nodes (unused on one node).
  static StatusOr<std::unique_ptr<ExpertPlacement>> Create(
      const TrainConfig& config, MoeTransformer& model,
      const parallel::Topology& topology, double inter_node_bytes_per_s);

  // The controller to install with Trainer::SetPlanController (the object must outlive
  // the trainer's use of it).
  PlanController Controller();

  // Sets every MoE router's skew bias for `step` (nothing when model.moe.skew is 0).
  void ApplySkew(int64_t step, MoeTransformer& model) const;

  // Refits the cost model from one step's expert time and rows, summed over ranks.
  void ObserveExpertCost(double expert_ms_sum, int64_t expert_rows_sum);

  const parallel::Balancer& balancer(int layer) const {
    return *balancers_[static_cast<size_t>(layer)];
  }
  int num_layers() const { return static_cast<int>(balancers_.size()); }
  // Restores layer `layer`'s balancer (and the shared cost model) from a checkpoint.
  Status RestoreBalancer(int layer, const parallel::BalancerState& state);
  const parallel::CostModel& cost() const { return cost_; }

 private:
  ExpertPlacement(const TrainConfig& config, const parallel::Topology& topology,
                  double inter_node_bytes_per_s);
  // Fixed costs (weights streaming, refresh, migration) in rows, for `seconds_per_row`.
  parallel::CostModel CostFor(double seconds_per_row) const;

  TrainConfig config_;
  int world_size_;
  parallel::Topology topology_;
  double inter_node_bytes_per_s_;
  std::vector<std::unique_ptr<parallel::Balancer>> balancers_;
  std::vector<std::unique_ptr<parallel::QuotaSplitter>> splitters_;  // one per layer
  parallel::CostModel cost_;
  std::vector<int32_t> popularity_;  // [E] popularity rank of each expert under skew
};

}  // namespace mpimoe::train
