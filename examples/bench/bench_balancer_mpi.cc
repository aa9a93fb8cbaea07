// `mpimoe-bench balancer` under mpirun (no --simulate): what the balancer buys on real
// ranks. It trains a 2-layer MoE transformer (d_model, d_ffn, experts, top-k from the
// flags; 32-token sequences, --tokens per rank per step) through the real trainer, in
// these configurations:
//   uniform: skew 0, static placement   -> uniform_step_ms (the ideal)
//   static:  skew S, static placement   -> static_step_ms
//   policy:  skew S, --policy           -> step_ms   (and one run per --also POLICY)
// --repeats N runs the configurations interleaved (uniform, static, policy, uniform,
// static, policy, ...) in one process, so slow drifts of a shared machine's load hit
// every configuration alike, and reports medians over the repeats plus, per repeat, the
// recovered fraction F = (static - policy) / (static - uniform) from wall time and from
// process CPU time. Per configuration and repeat: step_ms (median after --warmup steps,
// slowest rank), cpu_step_ms (the same from process CPU time, slowest rank),
// rank_imbalance (mean after warm-up of max/mean expert rows per rank),
// busy_max_over_mean (per-rank expert compute time), the median per-phase times (slowest
// rank), migration and replica bytes (all ranks), plan changes, replicas, planner time.
// --calibrate first measures the machine (expert time per row, memcpy and rank-to-rank
// bandwidth for an expert's weights), prints the balancer.cost_* values that fit it, and
// uses them in every run. The load average (/proc/loadavg) is reported at the start and
// end. The skew is a router bias (model.moe.skew): it changes the model, as experiments
// do; --aux-loss (default 0) sets the router's load-balancing loss, which would
// otherwise learn to cancel the skew within a few dozen steps.
#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "examples/bench/bench_balancer.h"
#include "ops/ops_context.h"
#include "parallel/collectives.h"
#include "runtime/core/json.h"
#include "runtime/core/tensor.h"
#include "runtime/core/timer.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/phase_times.h"
#include "runtime/train/trainer.h"

namespace mpimoe::bench {
namespace {

constexpr int64_t kSeqLen = 32;
constexpr size_t kPhases = static_cast<size_t>(train::Phase::kCount);

// CPU time of this process (all its threads), in ms. Open MPI polls while it waits, so
// time spent waiting for a slower rank still counts; time the OS gives to other
// processes does not.
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

// The 1-minute load average, or -1 if unreadable.
double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1.0;
  in >> load;
  return in ? load : -1.0;
}

struct MpiRunStats {
  double step_ms = 0.0;
  double cpu_step_ms = 0.0;  // the same from each rank's CPU time (robust to preemption)
  double rank_imbalance = 0.0;
  double busy_max_over_mean = 0.0;
  std::array<double, kPhases> phase_ms{};  // median per phase, slowest rank
  double expert_ms_per_row = 0.0;          // forward expert time per row (mean rank)
  int64_t migration_bytes = 0;
  int64_t replica_bytes = 0;
  int64_t plan_changes = 0;
  int64_t replicas = 0;  // replicas of the last plan, all MoE layers
  double planner_us = 0.0;
};

// What one configuration is: a skew and a policy.
struct RunSpec {
  std::string name;  // "uniform", "static" or the policy
  double skew = 0.0;
  std::string policy;
};

StatusOr<train::TrainConfig> BenchConfig(const BalancerBenchOptions& o, int ranks,
                                         double skew, const std::string& policy,
                                         const std::vector<std::string>& extra) {
  const int64_t sequences = std::max<int64_t>(1, o.tokens / kSeqLen) * ranks;
  char text[1024];
  std::snprintf(text, sizeof(text),
                "model { seq_len: %lld d_model: %lld num_layers: 2 num_heads: 4 "
                "moe { num_experts: %lld top_k: %lld d_ffn: %lld skew: %g "
                "skew_drift_steps: %lld aux_loss_coef: %g } } "
                "data { global_batch_size: %lld eval_batches: 0 } "
                "optimizer { lr: 0.001 warmup_steps: 5 } "
                "run { steps: %lld seed: %lld } "
                "balancer { replica_slots_per_rank: %lld replan_interval: %lld }",
                static_cast<long long>(kSeqLen), static_cast<long long>(o.d_model),
                static_cast<long long>(o.experts), static_cast<long long>(o.top_k),
                static_cast<long long>(o.d_ffn), skew, static_cast<long long>(o.drift),
                o.aux_loss, static_cast<long long>(sequences),
                static_cast<long long>(o.steps), static_cast<long long>(o.seed + 1),
                static_cast<long long>(o.slots),
                static_cast<long long>(o.replan_interval));
  std::string upper = policy;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  std::vector<std::string> overrides = {"balancer.policy=" + upper};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return train::ParseTrainConfig(text, "balancer-bench", overrides);
}

// One step as the job saw it: the times of the slowest rank, the bytes of all ranks,
// and every rank's expert rows and expert-phase time.
struct JobStep {
  std::array<double, 2 + kPhases> times{};  // step ms, CPU ms, then the phases' ms
  int64_t migration_bytes = 0;
  int64_t replica_bytes = 0;
  std::vector<double> per_rank;  // [rank][expert rows, expert ms]
};

// Gathers the step just run (`record`, begun at process CPU time `cpu_before` ms).
StatusOr<JobStep> ReduceStep(parallel::Communicator& world, train::Trainer& trainer,
                             const train::StepRecord& record, double cpu_before) {
  JobStep step;
  double rows = 0.0;
  for (moe::MoeLayer* layer : trainer.model().MoeLayers()) {
    rows += static_cast<double>(layer->stats().rows_computed);
  }
  const double mine[2] = {rows, record.phases.Get(train::Phase::kExperts)};
  step.per_rank.resize(2 * static_cast<size_t>(world.size()));
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(world, std::span<const double>(mine, 2),
                                             std::span<double>(step.per_rank)));
  step.times[0] = record.step_ms;
  step.times[1] = ProcessCpuMs() - cpu_before;
  for (size_t p = 0; p < kPhases; ++p) step.times[2 + p] = record.phases.ms[p];
  int64_t bytes[2] = {
      record.placement.migration_bytes,
      record.placement.replica_refresh_bytes + record.placement.replica_grad_bytes};
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<double>(step.times),
                                                    {parallel::ReduceOp::kMax}));
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<int64_t>(bytes)));
  step.migration_bytes = bytes[0];
  step.replica_bytes = bytes[1];
  return step;
}

// The steps after warm-up, and what they sum up to.
class MeasuredSteps {
 public:
  void Add(const JobStep& step) {
    step_ms_.push_back(step.times[0]);
    cpu_step_ms_.push_back(step.times[1]);
    for (size_t p = 0; p < kPhases; ++p) phases_[p].push_back(step.times[2 + p]);
    const size_t ranks = step.per_rank.size() / 2;
    double max_rows = 0.0, sum_rows = 0.0, max_busy = 0.0, sum_busy = 0.0;
    for (size_t r = 0; r < ranks; ++r) {
      max_rows = std::max(max_rows, step.per_rank[2 * r]);
      sum_rows += step.per_rank[2 * r];
      max_busy = std::max(max_busy, step.per_rank[2 * r + 1]);
      sum_busy += step.per_rank[2 * r + 1];
    }
    const double n = static_cast<double>(ranks);
    imbalance_sum_ += sum_rows > 0 ? max_rows * n / sum_rows : 1.0;
    busy_sum_ += sum_busy > 0 ? max_busy * n / sum_busy : 1.0;
    if (sum_rows > 0) per_row_.push_back(sum_busy / sum_rows);
    ++count_;
  }

  // Medians of the times, means of the imbalances.
  void Summarize(MpiRunStats* stats) const {
    stats->step_ms = Median(step_ms_);
    stats->cpu_step_ms = Median(cpu_step_ms_);
    for (size_t p = 0; p < kPhases; ++p) stats->phase_ms[p] = Median(phases_[p]);
    stats->expert_ms_per_row = Median(per_row_);
    stats->rank_imbalance = imbalance_sum_ / static_cast<double>(count_);
    stats->busy_max_over_mean = busy_sum_ / static_cast<double>(count_);
  }

 private:
  std::vector<double> step_ms_, cpu_step_ms_, per_row_;
  std::array<std::vector<double>, kPhases> phases_;
  double imbalance_sum_ = 0.0;
  double busy_sum_ = 0.0;
  int64_t count_ = 0;
};

// Replicas in the current plans of all MoE layers.
int64_t CountReplicas(train::Trainer& trainer) {
  int64_t replicas = 0;
  for (moe::MoeLayer* layer : trainer.model().MoeLayers()) {
    const parallel::Plan& plan = layer->dispatcher().plan();
    for (int32_t r = 0; r < plan.world_size; ++r) {
      for (int32_t s = 0; s < plan.num_slots(r); ++s) replicas += !plan.IsHome(r, s);
    }
  }
  return replicas;
}

// Trains one configuration for --steps steps, every rank starting each step together.
StatusOr<MpiRunStats> TrainAndMeasure(const BalancerBenchOptions& o,
                                      parallel::Communicator& world, const RunSpec& spec,
                                      const std::vector<std::string>& extra) {
  MPIMOE_ASSIGN_OR_RETURN(train::TrainConfig config,
                          BenchConfig(o, world.size(), spec.skew, spec.policy, extra));
  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> trainer,
                          train::Trainer::Create(config, &ctx, &world));
  MpiRunStats stats;
  MeasuredSteps measured;
  for (int64_t step = 0; step < o.steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    train::StepRecord record;
    const double cpu_before = ProcessCpuMs();
    MPIMOE_RETURN_IF_ERROR(trainer->Step(&record));
    MPIMOE_ASSIGN_OR_RETURN(const JobStep job,
                            ReduceStep(world, *trainer, record, cpu_before));
    stats.migration_bytes += job.migration_bytes;
    stats.replica_bytes += job.replica_bytes;
    stats.plan_changes += record.placement.plan_changes;
    stats.planner_us += record.placement.planner_us;
    if (o.verbose && world.rank() == 0) {
      for (const std::string& d : record.placement.decisions) {
        std::fprintf(stderr, "[%s] step %lld: %s\n", spec.name.c_str(),
                     static_cast<long long>(step + 1), d.c_str());
      }
    }
    if (step >= o.warmup) measured.Add(job);
  }
  measured.Summarize(&stats);
  stats.replicas = CountReplicas(*trainer);
  stats.planner_us /= static_cast<double>(o.steps);
  return stats;
}

// Machine constants for the balancer's cost model, measured collectively; every rank
// returns the same values (allreduced).
struct Calibration {
  double expert_gflops = 0.0;  // fwd+bwd expert FLOP rate (from the uniform run)
  double memory_gbps = 0.0;    // memcpy of one expert's weights
  double network_gbps = 0.0;   // one expert's weights between two ranks, both ways
};

StatusOr<Calibration> Calibrate(const BalancerBenchOptions& o,
                                parallel::Communicator& world) {
  Calibration c;
  MPIMOE_ASSIGN_OR_RETURN(const train::TrainConfig config,
                          BenchConfig(o, world.size(), 0.0, "static", {}));
  const int64_t matrices =
      config.model.moe.activation == moe::Activation::kSwiglu ? 3 : 2;
  const int64_t floats = matrices * o.d_model * o.d_ffn;  // one expert's weights
  const double bytes = 4.0 * static_cast<double>(floats);
  Tensor a(DType::kF32, {floats}), b(DType::kF32, {floats});
  std::memset(a.data<float>(), 1, static_cast<size_t>(a.size_bytes()));
  std::memset(b.data<float>(), 0, static_cast<size_t>(b.size_bytes()));
  constexpr int kTrials = 15;
  std::vector<double> copy_s, send_s;
  for (int t = 0; t < kTrials; ++t) {
    Stopwatch watch;
    std::memcpy(b.data<float>(), a.data<float>(), static_cast<size_t>(a.size_bytes()));
    copy_s.push_back(watch.ElapsedSeconds());
  }
  // Rank r sends to r + 1 and receives from r - 1 (a ring), as a replica refresh does.
  const int me = world.rank(), p = world.size();
  for (int t = 0; t < kTrials && p > 1; ++t) {
    const parallel::BlockTransfer send{(me + 1) % p, 0, floats};
    const parallel::BlockTransfer recv{(me + p - 1) % p, 0, floats};
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(world.ExchangeBlocks(a.data<float>(), &send, 1,
                                                b.data<float>(), &recv, 1,
                                                parallel::CollDType::kFloat32));
    send_s.push_back(watch.ElapsedSeconds());
  }
  // Expert time per row from a short uniform run (forward time; backward ~2x).
  BalancerBenchOptions shortened = o;
  shortened.steps = std::min<int64_t>(o.steps, 30);
  shortened.warmup = std::min<int64_t>(o.warmup, 10);
  MPIMOE_ASSIGN_OR_RETURN(
      const MpiRunStats uniform,
      TrainAndMeasure(shortened, world, {"uniform", 0.0, "static"}, {}));
  // Median over trials, the slowest rank's.
  double times[3] = {Median(copy_s), p > 1 ? Median(send_s) : 0.0,
                     uniform.expert_ms_per_row};
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<double>(times, 3),
                                                    {parallel::ReduceOp::kMax}));
  const double flops_per_row = 6.0 * static_cast<double>(matrices * o.d_model * o.d_ffn);
  c.memory_gbps = times[0] > 0 ? bytes / times[0] * 1e-9 : 10.0;
  c.network_gbps = times[1] > 0 ? bytes / times[1] * 1e-9 : 5.0;
  c.expert_gflops = times[2] > 0 ? flops_per_row / (3.0 * times[2] * 1e-3) * 1e-9 : 100.0;
  return c;
}

// The --set overrides that make every run plan with the calibrated constants.
std::vector<std::string> CalibrationOverrides(const Calibration& c) {
  char text[3][96];
  std::snprintf(text[0], sizeof(text[0]), "balancer.cost_expert_gflops=%.6g",
                c.expert_gflops);
  std::snprintf(text[1], sizeof(text[1]), "balancer.cost_memory_gbps=%.6g",
                c.memory_gbps);
  std::snprintf(text[2], sizeof(text[2]), "balancer.cost_network_gbps=%.6g",
                c.network_gbps);
  return {text[0], text[1], text[2]};
}

// F = (static - policy) / (static - uniform); NaN (JSON null) when static was not
// slower than uniform, where F means nothing.
double Recovered(double fixed, double uniform, double policy) {
  const double gap = fixed - uniform;
  return gap > 0.0 ? (fixed - policy) / gap : std::nan("");
}

// Median of the finite values (NaN if none).
double FiniteMedian(const std::vector<double>& values) {
  std::vector<double> finite;
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  return finite.empty() ? std::nan("") : Median(finite);
}

// The field of every run, in repeat order.
std::vector<double> PerRepeat(const std::vector<MpiRunStats>& runs,
                              double MpiRunStats::*field) {
  std::vector<double> values;
  for (const MpiRunStats& s : runs) values.push_back(s.*field);
  return values;
}

// The median run of a configuration (by step_ms) for the detail fields, with the
// median step times and phases over the repeats.
MpiRunStats MedianRun(const std::vector<MpiRunStats>& runs) {
  std::vector<MpiRunStats> sorted = runs;
  std::sort(sorted.begin(), sorted.end(), [](const MpiRunStats& a, const MpiRunStats& b) {
    return a.step_ms < b.step_ms;
  });
  MpiRunStats m = sorted[(sorted.size() - 1) / 2];
  m.step_ms = Median(PerRepeat(runs, &MpiRunStats::step_ms));
  m.cpu_step_ms = Median(PerRepeat(runs, &MpiRunStats::cpu_step_ms));
  for (size_t p = 0; p < kPhases; ++p) {
    std::vector<double> v;
    for (const MpiRunStats& s : runs) v.push_back(s.phase_ms[p]);
    m.phase_ms[p] = Median(v);
  }
  return m;
}

// Every configuration measured: uniform, static, then each policy other than static;
// runs[spec][repeat].
struct Experiment {
  std::vector<std::string> policies;  // --policy, then the new ones of --also
  std::vector<RunSpec> specs;
  std::vector<std::vector<MpiRunStats>> runs;
  size_t SpecOf(const std::string& policy) const {
    for (size_t i = 2; i < specs.size(); ++i) {
      if (specs[i].name == policy) return i;
    }
    return 1;  // static
  }
};

// Runs the configurations interleaved: uniform, static, policies, uniform, ...
Status RunInterleaved(const BalancerBenchOptions& o, parallel::Communicator& world,
                      const std::vector<std::string>& extra, Experiment* experiment) {
  experiment->policies = {o.policy};
  for (const std::string& p : o.also) {
    if (std::find(experiment->policies.begin(), experiment->policies.end(), p) ==
        experiment->policies.end())
      experiment->policies.push_back(p);
  }
  experiment->specs = {{"uniform", 0.0, "static"}, {"static", o.skew, "static"}};
  for (const std::string& p : experiment->policies) {
    if (p != "static") experiment->specs.push_back({p, o.skew, p});
  }
  experiment->runs.assign(experiment->specs.size(), {});
  for (int64_t rep = 0; rep < o.repeats; ++rep) {
    for (size_t i = 0; i < experiment->specs.size(); ++i) {
      MPIMOE_ASSIGN_OR_RETURN(MpiRunStats stats,
                              TrainAndMeasure(o, world, experiment->specs[i], extra));
      experiment->runs[i].push_back(stats);
    }
  }
  return Status::Ok();
}

// One policy's outcome against uniform and static, per repeat and in medians.
struct PolicyResult {
  std::string name;
  size_t spec = 1;
  MpiRunStats stats;  // the median run
  std::vector<double> f, cpu_f, over_uniform;
  double f_median = 0, cpu_f_median = 0, over_uniform_median = 0, f_of_medians = 0;
};

PolicyResult SummarizePolicy(const Experiment& experiment, const std::string& name,
                             const MpiRunStats& uniform, const MpiRunStats& fixed) {
  PolicyResult r;
  r.name = name;
  r.spec = experiment.SpecOf(name);
  const std::vector<MpiRunStats>& runs = experiment.runs[r.spec];
  r.stats = MedianRun(runs);
  for (size_t rep = 0; rep < runs.size(); ++rep) {
    const MpiRunStats& u = experiment.runs[0][rep];
    const MpiRunStats& s = experiment.runs[1][rep];
    const MpiRunStats& p = runs[rep];
    r.f.push_back(Recovered(s.step_ms, u.step_ms, p.step_ms));
    r.cpu_f.push_back(Recovered(s.cpu_step_ms, u.cpu_step_ms, p.cpu_step_ms));
    r.over_uniform.push_back(p.step_ms / u.step_ms);
  }
  r.f_median = FiniteMedian(r.f);
  r.cpu_f_median = FiniteMedian(r.cpu_f);
  r.over_uniform_median = Median(r.over_uniform);
  r.f_of_medians = Recovered(fixed.step_ms, uniform.step_ms, r.stats.step_ms);
  return r;
}

// A configuration's median run with its per-repeat step times.
Json ConfigJson(const MpiRunStats& s, const std::vector<MpiRunStats>& runs) {
  Json phases = Json::object();
  for (size_t p = 0; p < kPhases; ++p) phases[train::kPhaseNames[p]] = s.phase_ms[p];
  return {{"step_ms", s.step_ms},
          {"cpu_step_ms", s.cpu_step_ms},
          {"rank_imbalance", s.rank_imbalance},
          {"busy_max_over_mean", s.busy_max_over_mean},
          {"migration_bytes", s.migration_bytes},
          {"replica_bytes", s.replica_bytes},
          {"plan_changes", s.plan_changes},
          {"replicas", s.replicas},
          {"planner_us", s.planner_us},
          {"phase_ms", phases},
          {"step_ms_per_repeat", PerRepeat(runs, &MpiRunStats::step_ms)},
          {"cpu_step_ms_per_repeat", PerRepeat(runs, &MpiRunStats::cpu_step_ms)}};
}

Json PolicyJson(const PolicyResult& r, const Experiment& experiment,
                const MpiRunStats& uniform, const MpiRunStats& fixed) {
  Json j = ConfigJson(r.stats, experiment.runs[r.spec]);
  j["recovered_per_repeat"] = r.f;  // NaN dumps as null
  j["recovered"] = r.f_median;
  j["recovered_of_medians"] = r.f_of_medians;
  j["cpu_recovered_per_repeat"] = r.cpu_f;
  j["cpu_recovered"] = r.cpu_f_median;
  j["step_over_uniform"] = r.over_uniform_median;
  j["cpu_step_over_uniform"] = r.stats.cpu_step_ms / uniform.cpu_step_ms;
  j["step_over_static"] = r.stats.step_ms / fixed.step_ms;
  j["planner_fraction"] = r.stats.planner_us * 1e-3 / r.stats.step_ms;
  return j;
}

// What the report shows besides the options.
struct MpiReport {
  int world_size = 1;
  double load_start = 0.0;
  double load_end = 0.0;
  const Calibration* calibration = nullptr;  // with --calibrate
  Experiment experiment;
  MpiRunStats uniform, fixed;  // median runs
  std::vector<PolicyResult> policies;
};

Json ReportJson(const BalancerBenchOptions& o, const MpiReport& r) {
  const PolicyResult& main = r.policies.front();
  Json line = {{"bench", "balancer"},
               {"mode", "mpi"},
               {"policy", o.policy},
               {"world_size", r.world_size},
               {"experts", o.experts},
               {"top_k", o.top_k},
               {"skew", o.skew},
               {"drift", o.drift},
               {"slots", o.slots},
               {"steps", o.steps},
               {"warmup", o.warmup},
               {"repeats", o.repeats},
               {"tokens_per_rank", o.tokens},
               {"load_start", r.load_start},
               {"load_end", r.load_end},
               {"step_ms", main.stats.step_ms},
               {"static_step_ms", r.fixed.step_ms},
               {"uniform_step_ms", r.uniform.step_ms},
               {"recovered", main.f_median},
               {"cpu_recovered", main.cpu_f_median},
               {"step_over_uniform", main.over_uniform_median},
               {"rank_imbalance", main.stats.rank_imbalance},
               {"busy_max_over_mean", main.stats.busy_max_over_mean},
               {"migration_bytes", main.stats.migration_bytes},
               {"replica_bytes", main.stats.replica_bytes},
               {"plan_changes", main.stats.plan_changes},
               {"planner_us", main.stats.planner_us},
               {"planner_fraction", main.stats.planner_us * 1e-3 / main.stats.step_ms}};
  if (r.calibration != nullptr) {
    line["calibration"] = {{"expert_gflops", r.calibration->expert_gflops},
                           {"memory_gbps", r.calibration->memory_gbps},
                           {"network_gbps", r.calibration->network_gbps}};
  }
  Json configs = {{"uniform", ConfigJson(r.uniform, r.experiment.runs[0])},
                  {"static", ConfigJson(r.fixed, r.experiment.runs[1])}};
  for (const PolicyResult& p : r.policies) {
    configs[p.name] = PolicyJson(p, r.experiment, r.uniform, r.fixed);
  }
  line["configs"] = std::move(configs);
  return line;
}

void PrintConfigRow(const std::string& name, const MpiRunStats& s) {
  std::printf("  %-13s %9.2f %9.2f %8.3f %8.3f %6lld %5lld", name.c_str(), s.step_ms,
              s.cpu_step_ms, s.rank_imbalance, s.busy_max_over_mean,
              static_cast<long long>(s.plan_changes), static_cast<long long>(s.replicas));
  for (size_t p = 0; p < kPhases; ++p) std::printf(" %9.2f", s.phase_ms[p]);
  std::printf("\n");
}

void PrintReport(const BalancerBenchOptions& o, const MpiReport& r) {
  std::printf(
      "balancer (mpi): %d ranks, E=%lld k=%lld skew=%g drift=%lld, %lld repeats, load "
      "%.2f -> %.2f\n",
      r.world_size, static_cast<long long>(o.experts), static_cast<long long>(o.top_k),
      o.skew, static_cast<long long>(o.drift), static_cast<long long>(o.repeats),
      r.load_start, r.load_end);
  std::printf("  %-13s %9s %9s %8s %8s %6s %5s", "config", "step_ms", "cpu_ms", "imbal",
              "busy", "plans", "repl");
  for (size_t p = 0; p < kPhases; ++p) {
    std::printf(" %9.9s", std::string(train::kPhaseNames[p]).c_str());
  }
  std::printf("\n");
  PrintConfigRow("uniform", r.uniform);
  PrintConfigRow("static", r.fixed);
  for (const PolicyResult& p : r.policies) PrintConfigRow(p.name, p.stats);
  std::printf("  per repeat, step_ms (cpu_ms):");
  for (size_t i = 0; i < r.experiment.specs.size(); ++i) {
    std::printf(" %s", r.experiment.specs[i].name.c_str());
    for (const MpiRunStats& s : r.experiment.runs[i])
      std::printf(" %.1f (%.1f)", s.step_ms, s.cpu_step_ms);
    std::printf(";");
  }
  std::printf("\n");
  for (const PolicyResult& p : r.policies) {
    std::printf("  %s: recovered per repeat", p.name.c_str());
    for (double f : p.f) std::printf(" %.2f", f);
    std::printf(
        " (median %.2f; cpu median %.2f), step/uniform %.3f, planner %.1f us/step "
        "(%.4f%%), migration %lld B, replica %lld B\n",
        p.f_median, p.cpu_f_median, p.over_uniform_median, p.stats.planner_us,
        p.stats.planner_us * 1e-1 / p.stats.step_ms,
        static_cast<long long>(p.stats.migration_bytes),
        static_cast<long long>(p.stats.replica_bytes));
  }
}

}  // namespace

Status RunBalancerMpi(const BalancerBenchOptions& o, BenchContext& context) {
  parallel::Communicator& world = *context.world;
  MpiReport report;
  report.world_size = world.size();
  report.load_start = LoadAverage();
  std::vector<std::string> extra;
  Calibration calibration;
  if (o.calibrate) {
    MPIMOE_ASSIGN_OR_RETURN(calibration, Calibrate(o, world));
    report.calibration = &calibration;
    extra = CalibrationOverrides(calibration);
    if (context.is_root() && !o.json) {
      std::printf("calibration: --set %s --set %s --set %s\n", extra[0].c_str(),
                  extra[1].c_str(), extra[2].c_str());
    }
  }
  MPIMOE_RETURN_IF_ERROR(RunInterleaved(o, world, extra, &report.experiment));
  report.load_end = LoadAverage();
  if (!context.is_root()) return Status::Ok();

  report.uniform = MedianRun(report.experiment.runs[0]);
  report.fixed = MedianRun(report.experiment.runs[1]);
  for (const std::string& name : report.experiment.policies) {
    report.policies.push_back(
        SummarizePolicy(report.experiment, name, report.uniform, report.fixed));
  }
  if (o.json) {
    std::printf("%s\n", DumpJson(ReportJson(o, report)).c_str());
  } else {
    PrintReport(o, report);
  }
  return Status::Ok();
}

}  // namespace mpimoe::bench
