// `mpimoe-bench balancer` under mpirun (no --simulate): what the balancer buys on real
// ranks. It trains a 2-layer MoE transformer (d_model, d_ffn, experts, top-k from the
// flags; 32-token sequences, --tokens per rank per step) through the real trainer three
// times in one run:
//   uniform: skew 0, static placement   -> uniform_step_ms (the ideal)
//   static:  skew S, static placement   -> static_step_ms
//   policy:  skew S, --policy           -> step_ms
// and reports, for the policy run: step_ms (median after --warmup steps, slowest rank),
// rank_imbalance (mean after warm-up of max/mean expert rows per rank),
// busy_max_over_mean (mean of max/mean per-rank expert compute time), migration_bytes
// and replica_bytes (all ranks), plan_changes, planner_us (per step), and
// recovered = (static_step_ms - step_ms) / (static_step_ms - uniform_step_ms).
// cpu_* repeat the step times and recovered fraction from each rank's process CPU time
// (slowest rank), which a shared machine's preemption disturbs less than wall time.
// The skew is a router bias (model.moe.skew): it changes the model, as experiments do.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "examples/bench/bench_balancer.h"
#include "ops/ops_context.h"
#include "parallel/collectives.h"
#include "runtime/core/json_line.h"
#include "runtime/core/timer.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/trainer.h"

namespace mpimoe::bench {
namespace {

constexpr int64_t kSeqLen = 32;

// CPU time of this process (all its threads), in ms. Open MPI polls while it waits, so
// time spent waiting for a slower rank still counts; time the OS gives to other
// processes does not.
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

struct MpiRunStats {
  double step_ms = 0.0;
  double cpu_step_ms = 0.0;  // the same from each rank's CPU time (robust to preemption)
  double rank_imbalance = 0.0;
  double busy_max_over_mean = 0.0;
  int64_t migration_bytes = 0;
  int64_t replica_bytes = 0;
  int64_t plan_changes = 0;
  double planner_us = 0.0;
};

StatusOr<train::TrainConfig> BenchConfig(const BalancerBenchOptions& o, int ranks,
                                         double skew, const std::string& policy) {
  const int64_t sequences = std::max<int64_t>(1, o.tokens / kSeqLen) * ranks;
  char text[1024];
  std::snprintf(text, sizeof(text),
                "model { seq_len: %lld d_model: %lld num_layers: 2 num_heads: 4 "
                "moe { num_experts: %lld top_k: %lld d_ffn: %lld skew: %g "
                "skew_drift_steps: %lld } } "
                "data { global_batch_size: %lld eval_batches: 0 } "
                "optimizer { lr: 0.001 warmup_steps: 5 } "
                "run { steps: %lld seed: %lld } "
                "balancer { replica_slots_per_rank: %lld replan_interval: %lld }",
                static_cast<long long>(kSeqLen), static_cast<long long>(o.d_model),
                static_cast<long long>(o.experts), static_cast<long long>(o.top_k),
                static_cast<long long>(o.d_ffn), skew, static_cast<long long>(o.drift),
                static_cast<long long>(sequences), static_cast<long long>(o.steps),
                static_cast<long long>(o.seed + 1), static_cast<long long>(o.slots),
                static_cast<long long>(o.replan_interval));
  std::string upper = policy;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  return train::ParseTrainConfig(text, "balancer-bench", {"balancer.policy=" + upper});
}

StatusOr<MpiRunStats> TrainAndMeasure(const BalancerBenchOptions& o,
                                      parallel::Communicator& world, double skew,
                                      const std::string& policy) {
  MPIMOE_ASSIGN_OR_RETURN(train::TrainConfig config,
                          BenchConfig(o, world.size(), skew, policy));
  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> trainer,
                          train::Trainer::Create(config, &ctx, &world));
  MpiRunStats stats;
  std::vector<double> step_ms, cpu_step_ms;
  double imbalance_sum = 0.0, busy_sum = 0.0;
  int64_t measured = 0;
  const int ranks = world.size();
  std::vector<double> per_rank(2 * static_cast<size_t>(ranks));
  for (int64_t step = 0; step < o.steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    train::StepRecord record;
    const double cpu_before = ProcessCpuMs();
    MPIMOE_RETURN_IF_ERROR(trainer->Step(&record));
    double cpu_ms = ProcessCpuMs() - cpu_before;
    double rows = 0.0;
    for (moe::MoeLayer* layer : trainer->model().MoeLayers()) {
      rows += static_cast<double>(layer->stats().rows_computed);
    }
    const double mine[2] = {rows, record.phases.Get(train::Phase::kExperts)};
    MPIMOE_RETURN_IF_ERROR(parallel::Allgather(world, std::span<const double>(mine, 2),
                                               std::span<double>(per_rank)));
    double step_time = record.step_ms;
    int64_t bytes[2] = {
        record.placement.migration_bytes,
        record.placement.replica_refresh_bytes + record.placement.replica_grad_bytes};
    MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
        world, std::span<double>(&step_time, 1), {parallel::ReduceOp::kMax}));
    MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
        world, std::span<double>(&cpu_ms, 1), {parallel::ReduceOp::kMax}));
    MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<int64_t>(bytes)));
    stats.migration_bytes += bytes[0];
    stats.replica_bytes += bytes[1];
    stats.plan_changes += record.placement.plan_changes;
    stats.planner_us += record.placement.planner_us;
    if (step < o.warmup) continue;
    step_ms.push_back(step_time);
    cpu_step_ms.push_back(cpu_ms);
    double max_rows = 0.0, sum_rows = 0.0, max_busy = 0.0, sum_busy = 0.0;
    for (int r = 0; r < ranks; ++r) {
      max_rows = std::max(max_rows, per_rank[2 * static_cast<size_t>(r)]);
      sum_rows += per_rank[2 * static_cast<size_t>(r)];
      max_busy = std::max(max_busy, per_rank[2 * static_cast<size_t>(r) + 1]);
      sum_busy += per_rank[2 * static_cast<size_t>(r) + 1];
    }
    imbalance_sum += sum_rows > 0 ? max_rows * ranks / sum_rows : 1.0;
    busy_sum += sum_busy > 0 ? max_busy * ranks / sum_busy : 1.0;
    ++measured;
  }
  stats.step_ms = Median(step_ms);
  stats.cpu_step_ms = Median(cpu_step_ms);
  stats.rank_imbalance = imbalance_sum / static_cast<double>(measured);
  stats.busy_max_over_mean = busy_sum / static_cast<double>(measured);
  stats.planner_us /= static_cast<double>(o.steps);
  return stats;
}

}  // namespace

Status RunBalancerMpi(const BalancerBenchOptions& o, BenchContext& context) {
  parallel::Communicator& world = *context.world;
  MPIMOE_ASSIGN_OR_RETURN(const MpiRunStats uniform,
                          TrainAndMeasure(o, world, 0.0, "static"));
  MPIMOE_ASSIGN_OR_RETURN(const MpiRunStats fixed,
                          TrainAndMeasure(o, world, o.skew, "static"));
  MpiRunStats policy = fixed;
  if (o.policy != "static") {
    MPIMOE_ASSIGN_OR_RETURN(policy, TrainAndMeasure(o, world, o.skew, o.policy));
  }
  const double gap = fixed.step_ms - uniform.step_ms;
  const double recovered = gap > 0.0 ? (fixed.step_ms - policy.step_ms) / gap : 0.0;
  const double cpu_gap = fixed.cpu_step_ms - uniform.cpu_step_ms;
  const double cpu_recovered =
      cpu_gap > 0.0 ? (fixed.cpu_step_ms - policy.cpu_step_ms) / cpu_gap : 0.0;
  if (!context.is_root()) return Status::Ok();
  JsonLine line;
  line.AddString("bench", "balancer")
      .AddString("mode", "mpi")
      .AddString("policy", o.policy)
      .AddInt("world_size", world.size())
      .AddInt("experts", o.experts)
      .AddInt("top_k", o.top_k)
      .AddDouble("skew", o.skew)
      .AddInt("drift", o.drift)
      .AddInt("slots", o.slots)
      .AddInt("steps", o.steps)
      .AddInt("warmup", o.warmup)
      .AddInt("tokens_per_rank", o.tokens)
      .AddDouble("step_ms", policy.step_ms)
      .AddDouble("static_step_ms", fixed.step_ms)
      .AddDouble("uniform_step_ms", uniform.step_ms)
      .AddDouble("recovered", recovered)
      .AddDouble("step_over_uniform", policy.step_ms / uniform.step_ms)
      .AddDouble("cpu_step_ms", policy.cpu_step_ms)
      .AddDouble("static_cpu_step_ms", fixed.cpu_step_ms)
      .AddDouble("uniform_cpu_step_ms", uniform.cpu_step_ms)
      .AddDouble("cpu_recovered", cpu_recovered)
      .AddDouble("cpu_step_over_uniform", policy.cpu_step_ms / uniform.cpu_step_ms)
      .AddDouble("rank_imbalance", policy.rank_imbalance)
      .AddDouble("static_rank_imbalance", fixed.rank_imbalance)
      .AddDouble("busy_max_over_mean", policy.busy_max_over_mean)
      .AddDouble("static_busy_max_over_mean", fixed.busy_max_over_mean)
      .AddInt("migration_bytes", policy.migration_bytes)
      .AddInt("replica_bytes", policy.replica_bytes)
      .AddInt("plan_changes", policy.plan_changes)
      .AddDouble("planner_us", policy.planner_us)
      .AddDouble("planner_fraction", policy.planner_us * 1e-3 / policy.step_ms);
  if (o.json) {
    std::printf("%s\n", line.str().c_str());
  } else {
    std::printf(
        "balancer (mpi): %d ranks, E=%lld k=%lld skew=%g, policy %s\n"
        "  step %.2f ms (static %.2f, uniform %.2f): recovered %.0f%% of the gap\n"
        "  rank imbalance %.3f (static %.3f); busy max/mean %.3f (static %.3f)\n"
        "  %lld plan changes, %lld migration bytes, %lld replica bytes, planner %.1f "
        "us/step\n",
        world.size(), static_cast<long long>(o.experts), static_cast<long long>(o.top_k),
        o.skew, o.policy.c_str(), policy.step_ms, fixed.step_ms, uniform.step_ms,
        recovered * 100.0, policy.rank_imbalance, fixed.rank_imbalance,
        policy.busy_max_over_mean, fixed.busy_max_over_mean,
        static_cast<long long>(policy.plan_changes),
        static_cast<long long>(policy.migration_bytes),
        static_cast<long long>(policy.replica_bytes), policy.planner_us);
  }
  return Status::Ok();
}

}  // namespace mpimoe::bench
