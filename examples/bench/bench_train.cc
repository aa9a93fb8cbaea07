// `mpimoe-bench train CONFIG [--set path=value]... [--steps N] [--json]`: the training
// step of a config as the trainer runs it, and its model FLOP utilisation.
//
// Every rank builds the config's model (no output files), runs
// run.warmup_steps_for_timing untimed steps, then --steps timed steps (default run.steps,
// capped at 50). A step's time is the slowest rank's. Then rank 0 alone measures the
// matmul peak: a fixed-shape 2048^3 oneDNN f32 matmul on this rank's threads, while the
// other ranks wait. So
//   mfu = model FLOPs per second / (peak_gflops x world size),
// with model FLOPs = the matmul FLOPs of forward + backward over the global batch
// (MoeTransformer::TrainFlopsPerStep). Also reported: tokens/s, the median step time and
// rank 0's median time per phase.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "examples/bench/bench_timing.h"
#include "ops/matmul.h"
#include "parallel/collectives.h"
#include "runtime/core/json.h"
#include "runtime/core/omp.h"
#include "runtime/core/random.h"
#include "runtime/core/tensor.h"
#include "runtime/core/timer.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/phase_times.h"
#include "runtime/train/trainer.h"

namespace mpimoe::bench {
namespace {

constexpr int64_t kPeakDim = 2048;
constexpr int kPeakWarmup = 2;
constexpr int kPeakRepetitions = 5;
constexpr int64_t kDefaultMaxSteps = 50;

struct TrainBenchOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  int64_t steps = 0;  // 0 = min(run.steps, kDefaultMaxSteps)
  bool json = false;
};

// Median GFLOP/s of a fixed-shape n^3 f32 matmul on this process's threads.
StatusOr<double> MatmulPeakGflops(ops::OpsContext& ctx) {
  Rng rng(11);
  Tensor a(DType::kF32, {kPeakDim, kPeakDim}), b(DType::kF32, {kPeakDim, kPeakDim}),
      c(DType::kF32, {kPeakDim, kPeakDim});
  for (int64_t i = 0; i < a.numel(); ++i) {
    a.data<float>()[i] = rng.Normal();
    b.data<float>()[i] = rng.Normal();
  }
  ops::MatmulDesc desc;
  desc.m = desc.k = desc.n = kPeakDim;
  desc.runtime_m = false;
  std::vector<double> seconds;
  for (int i = 0; i < kPeakWarmup + kPeakRepetitions; ++i) {
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(ops::Matmul(ctx, desc, a.data<float>(), b.data<float>(),
                                       nullptr, c.data<float>()));
    if (i >= kPeakWarmup) seconds.push_back(watch.ElapsedSeconds());
  }
  return 2.0 * kPeakDim * kPeakDim * kPeakDim / Median(seconds) * 1e-9;
}

// The timed steps of a run, as the report shows them.
struct TrainTimes {
  std::vector<double> step_seconds;           // [timed steps], slowest rank
  std::vector<std::vector<double>> phase_ms;  // [phase][timed steps], this rank
  double first_loss = 0.0;
  double last_loss = 0.0;
};

// Runs `warmup` untimed then `timed_steps` timed steps, every rank starting each step
// together.
StatusOr<TrainTimes> TimeSteps(train::Trainer& trainer, parallel::Communicator& world,
                               int64_t warmup, int64_t timed_steps) {
  TrainTimes times;
  times.phase_ms.resize(train::kPhaseNames.size());
  for (int64_t step = 0; step < warmup + timed_steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    train::StepRecord record;
    MPIMOE_RETURN_IF_ERROR(trainer.Step(&record));
    MPIMOE_ASSIGN_OR_RETURN(const double seconds,
                            SlowestRank(world, record.step_ms / 1e3));
    if (step == 0) times.first_loss = record.losses.total();
    times.last_loss = record.losses.total();
    if (step < warmup) continue;
    times.step_seconds.push_back(seconds);
    for (size_t p = 0; p < times.phase_ms.size(); ++p)
      times.phase_ms[p].push_back(record.phases.ms[p]);
  }
  return times;
}

struct TrainReport {
  std::string config_path;
  int world_size = 1;
  int64_t timed_steps = 0;
  int64_t warmup = 0;
  double step_s = 0.0;
  double tokens_per_s = 0.0;
  double model_gflops = 0.0;
  double peak_gflops = 0.0;
  double mfu = 0.0;
};

void PrintReport(const TrainReport& r, const TrainTimes& times, bool json) {
  Json phases = Json::object();
  for (size_t p = 0; p < times.phase_ms.size(); ++p)
    phases[train::kPhaseNames[p]] = Median(times.phase_ms[p]);
  if (json) {
    const Json line = {{"bench", "train"},
                       {"config", r.config_path},
                       {"world_size", r.world_size},
                       {"threads", MaxThreads()},
                       {"steps", r.timed_steps},
                       {"warmup", r.warmup},
                       {"step_ms", r.step_s * 1e3},
                       {"tokens_per_s", r.tokens_per_s},
                       {"model_gflops", r.model_gflops},
                       {"peak_gflops", r.peak_gflops},
                       {"mfu", r.mfu},
                       {"first_loss", times.first_loss},
                       {"last_loss", times.last_loss},
                       {"phase_ms", phases}};
    std::printf("%s\n", DumpJson(line).c_str());
    return;
  }
  std::string phase_text;
  for (const auto& [name, ms] : phases.items()) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%s%s %.4g", phase_text.empty() ? "" : ", ",
                  name.c_str(), ms.get<double>());
    phase_text += buffer;
  }
  std::printf(
      "train: %s on %d rank(s) x %d thread(s), median of %lld steps after %lld "
      "warm-up\n"
      "  step %.2f ms, %.0f tokens/s, %.1f model GFLOP/s, peak %.1f GFLOP/s per rank, "
      "mfu %.3f\n  loss %.4f -> %.4f\n  phases (ms, rank 0): %s\n",
      r.config_path.c_str(), r.world_size, MaxThreads(),
      static_cast<long long>(r.timed_steps), static_cast<long long>(r.warmup),
      r.step_s * 1e3, r.tokens_per_s, r.model_gflops, r.peak_gflops, r.mfu,
      times.first_loss, times.last_loss, phase_text.c_str());
}

class TrainSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    AddConfigArguments(command, &options_.config_path, &options_.overrides);
    command->add_option("--steps", options_.steps, "timed steps (0 = min(run.steps, 50))")
        ->check(IntegerCheck(Sign::kNonNegative));
    AddJsonFlag(command, &options_.json);
  }

  Status Run(BenchContext& context) override;

 private:
  TrainBenchOptions options_;
};

Status TrainSubcommand::Run(BenchContext& context) {
  parallel::Communicator& world = *context.world;
  MPIMOE_ASSIGN_OR_RETURN(
      train::TrainConfig config,
      train::LoadTrainConfig(options_.config_path, options_.overrides));
  MPIMOE_RETURN_IF_ERROR(train::ValidateForWorldSize(config, world.size()));
  if (config.parallel.threads_per_rank > 0)
    SetNumThreads(config.parallel.threads_per_rank);
  TrainReport report;
  report.config_path = options_.config_path;
  report.world_size = world.size();
  report.timed_steps = options_.steps > 0
                           ? options_.steps
                           : std::min<int64_t>(config.run.steps, kDefaultMaxSteps);
  report.warmup = config.run.warmup_steps_for_timing;
  // The schedule spans what is run, so the learning rate behaves as in a real run.
  config.run.steps = static_cast<int32_t>(report.warmup + report.timed_steps);

  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> trainer,
                          train::Trainer::Create(config, &ctx, &world));
  MPIMOE_ASSIGN_OR_RETURN(const TrainTimes times,
                          TimeSteps(*trainer, world, report.warmup, report.timed_steps));

  // The peak: rank 0 alone, the others wait.
  if (context.is_root()) {
    MPIMOE_ASSIGN_OR_RETURN(report.peak_gflops, MatmulPeakGflops(ctx));
  }
  MPIMOE_RETURN_IF_ERROR(
      parallel::Bcast(world, std::span<double>(&report.peak_gflops, 1)));

  report.step_s = Median(times.step_seconds);
  const double flops = static_cast<double>(trainer->model().TrainFlopsPerStep());
  report.model_gflops = flops / report.step_s * 1e-9;
  report.mfu = report.model_gflops / (report.peak_gflops * world.size());
  report.tokens_per_s =
      static_cast<double>(trainer->global_tokens_per_step()) / report.step_s;
  if (context.is_root()) PrintReport(report, times, options_.json);
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewTrainSubcommand() {
  return std::make_unique<TrainSubcommand>();
}

}  // namespace mpimoe::bench
