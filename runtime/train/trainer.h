// Trainer: one training step at a time — data, forward, backward, gradient all-reduce,
// clipping, AdamW — on every rank of a communicator.
//
// Step n (1-based) trains on the global batch n of the dataset (this rank's slice).
// Replicated gradients are summed over ranks (GradSync); the global gradient norm counts
// each replicated parameter once and each expert once (its home rank's gradient); AdamW
// then updates every parameter this rank holds. With the same config and seed, the
// per-step losses and weights do not depend on the world size beyond floating-point
// summation order, and runs at a fixed world size are bitwise identical.
//
// Ownership: owns the model, dataset, gradient sync and optimizer; borrows the
// OpsContext and the communicator. Thread-safety: one host thread; collective.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "parallel/plan.h"
#include "runtime/core/status.h"
#include "runtime/core/trace.h"
#include "runtime/moe/expert_sync.h"
#include "runtime/train/config.h"
#include "runtime/train/data.h"
#include "runtime/train/grad_sync.h"
#include "runtime/train/model.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/phase_times.h"

namespace mpimoe::train {

class ExpertPlacement;

// Decides the placement of MoE layer `layer` for the steps after `step`, from the
// layer's current plan and the step's all-gathered kept-route counts [P * E]. Called on
// every rank after every optimizer step, it must return the same plan everywhere;
// returning `current` keeps the placement. `decision` gets a human-readable note when
// the plan changes (for the metrics log).
using PlanController = std::function<parallel::Plan(
    int64_t step, int layer, const parallel::Plan& current,
    const std::vector<int64_t>& counts, std::string* decision)>;

// What the placement machinery did in a step.
struct PlacementRecord {
  int64_t replica_grad_bytes = 0;     // replica gradients sent to homes (this rank)
  int64_t replica_refresh_bytes = 0;  // home weights sent to replicas (this rank)
  int64_t migration_bytes = 0;        // expert state moved by re-plans (this rank)
  int32_t plan_changes = 0;           // MoE layers whose plan changed
  double planner_us = 0.0;            // time in the plan controller
  std::vector<std::string> decisions;
};

struct StepRecord {
  int64_t step = 0;
  // The loss or the gradient norm was not finite and run.on_nonfinite skipped the
  // update: weights, optimizer state and placement are as before the step.
  bool skipped = false;
  StepLosses losses;
  float lr = 0.0f;
  double grad_norm = 0.0;  // before clipping
  double step_ms = 0.0;    // this rank's wall time of the whole step
  PhaseTimes phases;
  PlacementRecord placement;
};

class Trainer {
 public:
  static StatusOr<std::unique_ptr<Trainer>> Create(const TrainConfig& config,
                                                   ops::OpsContext* ctx,
                                                   parallel::Communicator* comm);
  ~Trainer();

  // Runs step next_step() and advances. A non-finite loss or gradient norm (the same
  // verdict on every rank: both are global) either skips the update (run.on_nonfinite =
  // skip_step; record->skipped) or fails with kAborted, leaving weights, optimizer state
  // and placement as after the last good step and next_step() unchanged.
  Status Step(StepRecord* record);
  // Installs a placement controller, replacing the balancer's (config `balancer`).
  void SetPlanController(PlanController controller) {
    plan_controller_ = std::move(controller);
  }

  // Records every step on `trace` (borrowed, must outlive the trainer or be reset;
  // null = off): a "step" event per step holding the phases of phase_times.h and,
  // nested in them, the blocking communication. Each Step opens a new step window of
  // the recorder. Does not change the math.
  void SetTrace(TraceRecorder* trace);

  // Mean cross-entropy over the held-out evaluation batches (global). Collective.
  StatusOr<double> Evaluate();

  int64_t next_step() const { return next_step_; }
  // Steps whose update was skipped (non-finite), in total and in a row just now.
  int64_t skipped_steps() const { return skipped_steps_; }
  int64_t skipped_in_a_row() const { return skipped_in_a_row_; }
  // The learning rate of the last step run (0 before the first).
  float last_lr() const { return last_lr_; }

  // Checkpoint support (runtime/train/checkpoint.h): the step counters a resumed run
  // continues from, the placement machinery, and re-reading the parameter lists after
  // experts were re-placed or loaded.
  void RestoreProgress(int64_t next_step, int64_t skipped_steps, int64_t skipped_in_a_row,
                       float last_lr);
  ExpertPlacement& placement() { return *placement_; }
  // Bandwidth of links across nodes the balancer's cost model uses (0 on one node), and
  // whether it was measured at start-up (balancer.cost_inter_node_gbps = 0).
  double inter_node_bytes_per_s() const { return inter_node_bytes_per_s_; }
  bool inter_node_measured() const { return inter_node_measured_; }
  moe::ExpertSync& expert_sync() { return expert_sync_; }
  void RefreshParameterLists() { CollectParameters(); }
  MoeTransformer& model() { return *model_; }
  const Dataset& dataset() const { return *dataset_; }
  const TrainConfig& config() const { return config_; }
  // Tokens in one global batch.
  int64_t global_tokens_per_step() const {
    return static_cast<int64_t>(config_.data.global_batch_size) * config_.model.seq_len;
  }

 private:
  Trainer(const TrainConfig& config, parallel::Communicator* comm);

  TrainConfig config_;
  parallel::Communicator* comm_;
  double inter_node_bytes_per_s_ = 0.0;
  bool inter_node_measured_ = false;
  std::unique_ptr<Dataset> dataset_;
  std::unique_ptr<MoeTransformer> model_;
  std::unique_ptr<GradSync> grad_sync_;
  std::unique_ptr<AdamWOptimizer> optimizer_;
  // Parameter lists; the expert ones change when a plan moves experts.
  void CollectParameters();
  // A non-finite `what` at `step`: skips the update or fails, per run.on_nonfinite.
  Status NonFinite(int64_t step, const char* what, double value, StepRecord* record);

  std::vector<Parameter*> replicated_, experts_, replicas_, trained_, all_;
  moe::ExpertSync expert_sync_;
  PlanController plan_controller_;
  std::unique_ptr<ExpertPlacement> placement_;
  Batch batch_;
  int64_t next_step_ = 1;
  int64_t skipped_steps_ = 0;
  int64_t skipped_in_a_row_ = 0;
  float last_lr_ = 0.0f;
  TraceRecorder* trace_ = nullptr;
};

}  // namespace mpimoe::train
