#include "runtime/train/trainer.h"

#include <cmath>

#include "parallel/collectives.h"
#include "parallel/link_probe.h"
#include "runtime/core/timer.h"
#include "runtime/train/expert_placement.h"

namespace mpimoe::train {
namespace {

double SumOfSquares(const std::vector<Parameter*>& params) {
  double total = 0.0;
  for (const Parameter* p : params) {
    const float* g = p->grad.data<float>();
    double sum = 0.0;
    const int64_t n = p->grad.numel();
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
    total += sum;
  }
  return total;
}

}  // namespace

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainConfig& config,
                                                   ops::OpsContext* ctx,
                                                   parallel::Communicator* comm) {
  std::unique_ptr<Trainer> trainer(new Trainer(config, comm));
  parallel::CollectiveOptions collectives = comm->options();
  collectives.allreduce = config.parallel.allreduce_algorithm;
  collectives.alltoall = config.parallel.a2a_algorithm;
  comm->set_options(collectives);
  MPIMOE_ASSIGN_OR_RETURN(trainer->dataset_, MakeDataset(config));
  MPIMOE_ASSIGN_OR_RETURN(trainer->model_, MoeTransformer::Create(config, ctx, comm));
  trainer->CollectParameters();
  trainer->grad_sync_ = std::make_unique<GradSync>(
      comm, trainer->model_->ReplicatedParametersInBackwardOrder(),
      static_cast<int64_t>(config.parallel.grad_bucket_kb) * 1024);
  GradSync* grad_sync = trainer->grad_sync_.get();
  trainer->model_->SetGradsReady([grad_sync](std::span<Parameter* const> params) {
    return grad_sync->Ready(params);
  });
  trainer->optimizer_ =
      std::make_unique<AdamWOptimizer>(config.optimizer, config.run.steps);
  if (comm->topology().num_nodes > 1) {
    if (config.balancer.cost_inter_node_gbps > 0.0f) {
      trainer->inter_node_bytes_per_s_ = 1e9 * config.balancer.cost_inter_node_gbps;
    } else {
      MPIMOE_ASSIGN_OR_RETURN(trainer->inter_node_bytes_per_s_,
                              parallel::MeasureInterNodeBandwidth(*comm));
      trainer->inter_node_measured_ = true;
    }
  }
  MPIMOE_ASSIGN_OR_RETURN(
      trainer->placement_,
      ExpertPlacement::Create(config, *trainer->model_, comm->topology(),
                              trainer->inter_node_bytes_per_s_));
  trainer->plan_controller_ = trainer->placement_->Controller();
  return trainer;
}

Trainer::Trainer(const TrainConfig& config, parallel::Communicator* comm)
    : config_(config), comm_(comm), expert_sync_(comm) {}

Trainer::~Trainer() = default;

void Trainer::CollectParameters() {
  replicated_ = model_->ReplicatedParameters();
  experts_ = model_->ExpertParameters();
  replicas_.clear();
  for (moe::MoeLayer* layer : model_->MoeLayers()) {
    for (Parameter* p : layer->experts().ReplicaParameters()) replicas_.push_back(p);
  }
  trained_ = replicated_;
  trained_.insert(trained_.end(), experts_.begin(), experts_.end());
  all_ = trained_;
  all_.insert(all_.end(), replicas_.begin(), replicas_.end());
}

Status Trainer::Step(StepRecord* record) {
  const int64_t step = next_step_;
  record->step = step;
  record->phases.Clear();
  Stopwatch total;
  const double comm_busy_start = comm_->busy_seconds();
  if (trace_ != nullptr) trace_->BeginStep(step);
  TraceSpan step_span(trace_, "step", "step", step);
  dataset_->TrainBatch(step, comm_->rank(), comm_->size(), &batch_);
  CollectParameters();  // a plan applied since the last step may have moved experts
  placement_->ApplySkew(step, *model_);
  ZeroGrad(all_);
  grad_sync_->BeginStep();  // the backward starts the buckets whose gradients are final
  if (Status failed = model_->ForwardBackward(batch_, /*backward=*/true, &record->losses,
                                              &record->phases);
      !failed.ok()) {
    // This rank alone may have failed: the job aborts; never wait on its buckets.
    grad_sync_->Abandon();
    return failed.WithContext("step " + std::to_string(step));
  }
  // The loss is global (all-reduced in the model): every rank takes the same branch.
  if (!std::isfinite(record->losses.total())) {
    grad_sync_->Drain();
    const Status verdict = NonFinite(step, "loss", record->losses.total(), record);
    record->step_ms = total.ElapsedMs();
    return verdict;
  }

  TraceTimer watch(trace_, "grad_sync");
  MPIMOE_RETURN_IF_ERROR(grad_sync_->Finish());
  // Replicas' expert gradients join their homes' before anything reads them.
  record->placement = PlacementRecord();
  std::vector<moe::MoeLayer*> layers = model_->MoeLayers();
  for (moe::MoeLayer* layer : layers) {
    TraceSpan exchange(trace_, "replica_grads");
    MPIMOE_RETURN_IF_ERROR(expert_sync_.ReduceReplicaGradients(layer->dispatcher().plan(),
                                                               layer->experts()));
    record->placement.replica_grad_bytes += expert_sync_.last_bytes_sent();
  }
  record->phases.Add(Phase::kGradSync, watch.Next("optimizer"));

  // Global norm: replicated gradients are identical everywhere now (count them once);
  // each expert's gradient lives on its home rank only (sum over ranks).
  double expert_sq = SumOfSquares(experts_);
  {
    TraceSpan allreduce(trace_, "allreduce");
    MPIMOE_RETURN_IF_ERROR(
        parallel::AllreduceInPlace(*comm_, std::span<double>(&expert_sq, 1))
            .WithContext("grad norm"));
  }
  record->grad_norm = std::sqrt(SumOfSquares(replicated_) + expert_sq);
  // Global as well (replicated gradients are all-reduced, expert_sq summed).
  if (!std::isfinite(record->grad_norm)) {
    const Status verdict = NonFinite(step, "gradient norm", record->grad_norm, record);
    record->step_ms = total.ElapsedMs();
    return verdict;
  }
  skipped_in_a_row_ = 0;
  record->lr = optimizer_->LearningRate(step);
  last_lr_ = record->lr;
  optimizer_->Step(step, optimizer_->ClipScale(record->grad_norm), trained_);
  record->phases.Add(Phase::kOptimizer, watch.Next("balancer"));
  // Replicas take their homes' new weights; then the placement may change (right after
  // the optimizer step, so the moved optimizer state is final for this step).
  for (moe::MoeLayer* layer : layers) {
    TraceSpan exchange(trace_, "replica_refresh");
    MPIMOE_RETURN_IF_ERROR(
        expert_sync_.RefreshReplicas(layer->dispatcher().plan(), layer->experts()));
    record->placement.replica_refresh_bytes += expert_sync_.last_bytes_sent();
  }
  // With balancer.fit_cost_online, every replan_interval steps: refit the balancer's cost
  // model from this step's measured expert time per row (summed over ranks: the same
  // numbers everywhere, but timing-dependent, so not bitwise reproducible run to run).
  if (config_.balancer.fit_cost_online && step % config_.balancer.replan_interval == 0) {
    double sums[2] = {record->phases.Get(Phase::kExperts), 0.0};
    for (moe::MoeLayer* layer : layers) {
      sums[1] += static_cast<double>(layer->stats().rows_computed);
    }
    TraceSpan allreduce(trace_, "allreduce");
    MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(*comm_, std::span<double>(sums)));
    allreduce.End();
    placement_->ObserveExpertCost(sums[0], static_cast<int64_t>(sums[1]));
  }
  if (plan_controller_) {
    bool changed = false;
    for (size_t l = 0; l < layers.size(); ++l) {
      moe::MoeLayer* layer = layers[l];
      std::string decision;
      TraceSpan plan_span(trace_, "plan");
      Stopwatch planner;
      const parallel::Plan next =
          plan_controller_(step, static_cast<int>(l), layer->dispatcher().plan(),
                           layer->stats().global_counts, &decision);
      record->placement.planner_us += planner.ElapsedSeconds() * 1e6;
      plan_span.End();
      if (next == layer->dispatcher().plan()) continue;
      TraceSpan migrate(trace_, "migrate");
      MPIMOE_RETURN_IF_ERROR(layer->ApplyPlan(next, &expert_sync_)
                                 .WithContext("layer " + std::to_string(l) + " re-plan"));
      record->placement.migration_bytes += expert_sync_.last_bytes_sent();
      ++record->placement.plan_changes;
      record->placement.decisions.push_back("moe layer " + std::to_string(l) + ": " +
                                            decision);
      changed = true;
    }
    if (changed) CollectParameters();
  }
  record->phases.Add(Phase::kBalancer, watch.Stop());
  record->phases.Add(Phase::kCommWait, (comm_->busy_seconds() - comm_busy_start) * 1e3);
  record->step_ms = total.ElapsedMs();
  ++next_step_;
  return Status::Ok();
}

Status Trainer::NonFinite(int64_t step, const char* what, double value,
                          StepRecord* record) {
  const std::string text = "step " + std::to_string(step) + ": the " + what +
                           " is not finite (" + std::to_string(value) + ")";
  if (config_.run.on_nonfinite == NonFiniteAction::kSkipStep &&
      skipped_in_a_row_ < config_.run.max_skipped_steps) {
    record->skipped = true;
    ++skipped_steps_;
    ++skipped_in_a_row_;
    ++next_step_;
    return Status::Ok();
  }
  if (config_.run.on_nonfinite == NonFiniteAction::kSkipStep) {
    return AbortedError(text + " after " + std::to_string(skipped_in_a_row_) +
                        " skipped steps in a row (run.max_skipped_steps); lower "
                        "optimizer.lr or check the data");
  }
  return AbortedError(text +
                      "; lower optimizer.lr or check the data, or set "
                      "run.on_nonfinite: NONFINITE_SKIP_STEP");
}

void Trainer::RestoreProgress(int64_t next_step, int64_t skipped_steps,
                              int64_t skipped_in_a_row, float last_lr) {
  next_step_ = next_step;
  skipped_steps_ = skipped_steps;
  skipped_in_a_row_ = skipped_in_a_row;
  last_lr_ = last_lr;
}

void Trainer::SetTrace(TraceRecorder* trace) {
  trace_ = trace;
  model_->SetTrace(trace);
  grad_sync_->SetTrace(trace);
}

StatusOr<double> Trainer::Evaluate() {
  TraceSpan eval_span(trace_, "eval");
  double weighted = 0.0;
  int64_t counted = 0;
  PhaseTimes unused;
  for (int64_t j = 0; j < config_.data.eval_batches; ++j) {
    dataset_->EvalBatch(j, comm_->rank(), comm_->size(), &batch_);
    StepLosses losses;
    MPIMOE_RETURN_IF_ERROR(
        model_->ForwardBackward(batch_, /*backward=*/false, &losses, &unused)
            .WithContext("evaluation batch " + std::to_string(j)));
    weighted += losses.cross_entropy * static_cast<double>(losses.counted_targets);
    counted += losses.counted_targets;
  }
  return counted > 0 ? weighted / static_cast<double>(counted) : 0.0;
}

}  // namespace mpimoe::train
