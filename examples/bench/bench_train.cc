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

#include "examples/bench/bench_subcommands.h"
#include "ops/matmul.h"
#include "parallel/collectives.h"
#include "runtime/core/json_line.h"
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

class TrainSubcommand final : public Subcommand {
 public:
  void DeclareFlags(FlagSet* flags) override {
    flags->SetPositional("CONFIG", &options_.config_path,
                         "a training config (.textproto)");
    flags->AddStringList("set", &options_.overrides,
                         "override a config field, path=value");
    flags->AddInt("steps", &options_.steps, "timed steps (0 = min(run.steps, 50))",
                  Bound::kNonNegative);
    flags->AddBool("json", &options_.json, "print one JSON line instead of a summary");
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
  const int64_t timed_steps = options_.steps > 0
                                  ? options_.steps
                                  : std::min<int64_t>(config.run.steps, kDefaultMaxSteps);
  const int64_t warmup = config.run.warmup_steps_for_timing;
  // The schedule spans what is run, so the learning rate behaves as in a real run.
  config.run.steps = static_cast<int32_t>(warmup + timed_steps);

  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<train::Trainer> trainer,
                          train::Trainer::Create(config, &ctx, &world));
  std::vector<double> step_seconds;
  std::vector<std::vector<double>> phase_ms(train::kPhaseNames.size());
  double first_loss = 0.0, last_loss = 0.0;
  for (int64_t step = 0; step < warmup + timed_steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    train::StepRecord record;
    MPIMOE_RETURN_IF_ERROR(trainer->Step(&record));
    double seconds = record.step_ms / 1e3;
    MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
        world, std::span<double>(&seconds, 1), {parallel::ReduceOp::kMax}));
    if (step == 0) first_loss = record.losses.total();
    last_loss = record.losses.total();
    if (step < warmup) continue;
    step_seconds.push_back(seconds);
    for (size_t p = 0; p < phase_ms.size(); ++p)
      phase_ms[p].push_back(record.phases.ms[p]);
  }

  // The peak: rank 0 alone, the others wait.
  double peak_gflops = 0.0;
  if (context.is_root()) {
    MPIMOE_ASSIGN_OR_RETURN(peak_gflops, MatmulPeakGflops(ctx));
  }
  MPIMOE_RETURN_IF_ERROR(parallel::Bcast(world, std::span<double>(&peak_gflops, 1)));

  const double step_s = Median(step_seconds);
  const double flops = static_cast<double>(trainer->model().TrainFlopsPerStep());
  const double model_gflops = flops / step_s * 1e-9;
  const double mfu = model_gflops / (peak_gflops * world.size());
  const double tokens_per_s =
      static_cast<double>(trainer->global_tokens_per_step()) / step_s;
  if (!context.is_root()) return Status::Ok();
  JsonLine phases(4);
  for (size_t p = 0; p < phase_ms.size(); ++p)
    phases.AddDouble(train::kPhaseNames[p], Median(phase_ms[p]));
  if (options_.json) {
    JsonLine line;
    line.AddString("bench", "train")
        .AddString("config", options_.config_path)
        .AddInt("world_size", world.size())
        .AddInt("threads", MaxThreads())
        .AddInt("steps", timed_steps)
        .AddInt("warmup", warmup)
        .AddDouble("step_ms", step_s * 1e3)
        .AddDouble("tokens_per_s", tokens_per_s)
        .AddDouble("model_gflops", model_gflops)
        .AddDouble("peak_gflops", peak_gflops)
        .AddDouble("mfu", mfu)
        .AddDouble("first_loss", first_loss)
        .AddDouble("last_loss", last_loss)
        .AddRaw("phase_ms", phases.str());
    std::printf("%s\n", line.str().c_str());
  } else {
    std::printf(
        "train: %s on %d rank(s) x %d thread(s), median of %lld steps after %lld "
        "warm-up\n"
        "  step %.2f ms, %.0f tokens/s, %.1f model GFLOP/s, peak %.1f GFLOP/s per rank, "
        "mfu %.3f\n  loss %.4f -> %.4f\n  phases (ms, rank 0): %s\n",
        options_.config_path.c_str(), world.size(), MaxThreads(),
        static_cast<long long>(timed_steps), static_cast<long long>(warmup), step_s * 1e3,
        tokens_per_s, model_gflops, peak_gflops, mfu, first_loss, last_loss,
        phases.str().c_str());
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewTrainSubcommand() {
  return std::make_unique<TrainSubcommand>();
}

}  // namespace mpimoe::bench
