// `mpimoe-bench moe-layer`: the cost of one MoE layer step against the dense FFN that
// does the same expert math without routing.
//
// Each step runs MoeLayer forward+backward on x: [T, d] ~ N(0, 1) per rank with
// dy = ones (loss = sum of outputs), its experts spread over the job's ranks by the
// static plan (one rank: all experts local, same code), then DenseFfn forward+backward
// over T*k rows on every rank, so both see the same machine state; gradients are
// zeroed (outside the timed region) before every step. Ranks start each timed step
// together (barrier) and a step's time is the slowest rank's. After the warm-up steps
// the outputs are checked finite, then the median step time of each side is reported
// with the expert GFLOP/s and tokens/s of the whole job, the AlignedBuffer allocations
// made during the timed steps (expected 0: workspaces are reused) and the peak RSS
// (both the maximum over ranks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "examples/bench/bench_subcommands.h"
#include "ops/ops_context.h"
#include "parallel/collectives.h"
#include "parallel/plan.h"
#include "runtime/core/aligned_buffer.h"
#include "runtime/core/json_line.h"
#include "runtime/core/omp.h"
#include "runtime/core/parameter.h"
#include "runtime/core/process_stats.h"
#include "runtime/core/random.h"
#include "runtime/core/tensor.h"
#include "runtime/core/timer.h"
#include "runtime/moe/dense_ffn.h"
#include "runtime/moe/expert_parallel_dispatcher.h"
#include "runtime/moe/ffn.h"
#include "runtime/moe/moe_layer.h"

namespace mpimoe::bench {
namespace {

constexpr uint64_t kSeed = 1;

struct MoeLayerBenchOptions {
  int64_t tokens = 2048;
  int64_t d_model = 512;
  int64_t d_ffn = 2048;
  int64_t experts = 8;
  int64_t top_k = 2;
  int64_t steps = 20;
  int64_t warmup = 3;
  int64_t threads = MaxThreads();
  std::string activation = "gelu";
  double capacity_factor = 0.0;
  bool json = false;
};

Tensor FilledTensor(std::vector<int64_t> shape, float value) {
  Tensor t(DType::kF32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t;
}

Tensor NormalTensor(std::vector<int64_t> shape, Rng& rng) {
  Tensor t(DType::kF32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.Normal();
  return t;
}

Status CheckFinite(const Tensor& t, const char* what) {
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (!std::isfinite(p[i])) {
      return InternalError(std::string(what) + " has a non-finite value at element " +
                           std::to_string(i));
    }
  }
  return Status::Ok();
}

class MoeLayerSubcommand final : public Subcommand {
 public:
  void DeclareFlags(FlagSet* flags) override {
    MoeLayerBenchOptions& o = options_;
    flags->AddInt("tokens", &o.tokens, "tokens T per rank per step");
    flags->AddInt("d-model", &o.d_model, "model dimension d");
    flags->AddInt("d-ffn", &o.d_ffn, "expert hidden dimension f");
    flags->AddInt("experts", &o.experts, "number of experts E");
    flags->AddInt("top-k", &o.top_k, "experts per token k (<= E)");
    flags->AddInt("steps", &o.steps, "timed steps N");
    flags->AddInt("warmup", &o.warmup, "untimed warm-up steps W");
    flags->AddInt("threads", &o.threads, "OpenMP threads");
    flags->AddChoice("activation", &o.activation, {"gelu", "swiglu"},
                     "expert activation");
    flags->AddDouble("capacity-factor", &o.capacity_factor,
                     "expert capacity factor C, 0 = dropless", Bound::kNonNegative);
    flags->AddBool("json", &o.json, "print one JSON line instead of a summary");
  }

  Status Validate() const override {
    MPIMOE_RETURN_IF_ERROR(ValidateTopK(options_.top_k, options_.experts));
    return ValidateThreads(options_.threads);
  }

  Status Run(BenchContext& context) override;

 private:
  MoeLayerBenchOptions options_;
};

Status MoeLayerSubcommand::Run(BenchContext& context) {
  const MoeLayerBenchOptions& o = options_;
  SetNumThreads(static_cast<int>(o.threads));
  const moe::Activation activation =
      o.activation == "swiglu" ? moe::Activation::kSwiglu : moe::Activation::kGelu;
  const int64_t num_routes = o.tokens * o.top_k;

  parallel::Communicator& world = *context.world;
  const int world_size = world.size();
  ops::OpsContext ctx;
  MPIMOE_ASSIGN_OR_RETURN(
      std::unique_ptr<moe::ExpertParallelDispatcher> dispatcher,
      moe::ExpertParallelDispatcher::Create(
          &world, parallel::StaticPlan(static_cast<int32_t>(o.experts), world_size)));
  moe::MoeLayerOptions layer_options;
  layer_options.d_model = o.d_model;
  layer_options.d_ffn = o.d_ffn;
  layer_options.num_experts = o.experts;
  layer_options.top_k = o.top_k;
  layer_options.activation = activation;
  layer_options.capacity_factor = o.capacity_factor;
  layer_options.seed = kSeed;
  MPIMOE_ASSIGN_OR_RETURN(
      std::unique_ptr<moe::MoeLayer> layer,
      moe::MoeLayer::Create(layer_options, &ctx, &world, dispatcher.get()));
  const moe::FfnDims dims{o.d_model, o.d_ffn, activation};
  moe::DenseFfn dense(dims, kSeed, &ctx);
  const std::vector<Parameter*> moe_params = layer->Parameters();
  const std::vector<Parameter*> dense_params = dense.Parameters();

  Rng rng(MixSeed(kSeed, {0x78, static_cast<uint64_t>(world.rank())}));
  const Tensor x = NormalTensor({o.tokens, o.d_model}, rng);
  const Tensor dy = FilledTensor({o.tokens, o.d_model}, 1.0f);
  Tensor y(DType::kF32, {o.tokens, o.d_model});
  Tensor dx(DType::kF32, {o.tokens, o.d_model});
  const Tensor dense_x = NormalTensor({num_routes, o.d_model}, rng);
  const Tensor dense_dy = FilledTensor({num_routes, o.d_model}, 1.0f);
  Tensor dense_y(DType::kF32, {num_routes, o.d_model});
  Tensor dense_dx(DType::kF32, {num_routes, o.d_model});

  // The job's time of a step: ranks start together, the slowest one decides.
  auto slowest = [&](double* seconds) -> Status {
    return parallel::AllreduceInPlace(world, std::span<double>(seconds, 1),
                                      {parallel::ReduceOp::kMax});
  };
  auto moe_step = [&](double* seconds) -> Status {
    ZeroGrad(moe_params);
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(layer->Forward(x.view(), y.view()).WithContext("moe forward"));
    MPIMOE_RETURN_IF_ERROR(
        layer->Backward(dy.view(), dx.view()).WithContext("moe backward"));
    *seconds = watch.ElapsedSeconds();
    return slowest(seconds);
  };
  auto dense_step = [&](double* seconds) -> Status {
    ZeroGrad(dense_params);
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(
        dense.Forward(dense_x.view(), dense_y.view()).WithContext("dense forward"));
    MPIMOE_RETURN_IF_ERROR(
        dense.Backward(dense_dy.view(), dense_dx.view()).WithContext("dense backward"));
    *seconds = watch.ElapsedSeconds();
    return slowest(seconds);
  };

  double seconds = 0.0;
  for (int64_t step = 0; step < o.warmup; ++step) {
    MPIMOE_RETURN_IF_ERROR(moe_step(&seconds));
    MPIMOE_RETURN_IF_ERROR(dense_step(&seconds));
  }
  MPIMOE_RETURN_IF_ERROR(CheckFinite(y, "moe output y"));
  MPIMOE_RETURN_IF_ERROR(CheckFinite(dx, "moe input gradient dx"));
  MPIMOE_RETURN_IF_ERROR(CheckFinite(dense_y, "dense output y"));
  MPIMOE_RETURN_IF_ERROR(CheckFinite(dense_dx, "dense input gradient dx"));

  std::vector<double> moe_seconds, dense_seconds;
  moe_seconds.reserve(static_cast<size_t>(o.steps));
  dense_seconds.reserve(static_cast<size_t>(o.steps));
  const int64_t allocations_before = AlignedAllocationCount();
  for (int64_t step = 0; step < o.steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(moe_step(&seconds));
    moe_seconds.push_back(seconds);
    MPIMOE_RETURN_IF_ERROR(dense_step(&seconds));
    dense_seconds.push_back(seconds);
  }
  // Expert math of the last step over the job (the routing is the same every step:
  // fixed x, no optimizer step): FLOPs summed over ranks; the other figures are maxima.
  const moe::MoeStepStats& stats = layer->stats();
  int64_t expert_flops = 0;
  int64_t max_expert_rows = 0;
  for (const int64_t rows : layer->experts().rows_per_slot()) {
    expert_flops += moe::FfnTrainFlops(dims, rows);
    max_expert_rows = std::max(max_expert_rows, rows);
  }
  int64_t sums[2] = {expert_flops, stats.dropped_routes};
  int64_t maxima[2] = {AlignedAllocationCount() - allocations_before, max_expert_rows};
  double peak_rss_mb = PeakRssMb();
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<int64_t>(sums)));
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<int64_t>(maxima),
                                                    {parallel::ReduceOp::kMax}));
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
      world, std::span<double>(&peak_rss_mb, 1), {parallel::ReduceOp::kMax}));
  expert_flops = sums[0];
  const int64_t dropped_routes = sums[1];
  const int64_t allocations_after_warmup = maxima[0];
  max_expert_rows = maxima[1];
  const double moe_s = Median(moe_seconds);
  const double dense_s = Median(dense_seconds);
  const double gflops = static_cast<double>(expert_flops) / moe_s * 1e-9;
  const double dense_gflops = static_cast<double>(moe::FfnTrainFlops(dims, num_routes)) *
                              world_size / dense_s * 1e-9;
  const double tokens_per_s = static_cast<double>(o.tokens) * world_size / moe_s;
  const int threads = MaxThreads();
  if (!context.is_root()) return Status::Ok();

  if (o.json) {
    JsonLine line;
    line.AddString("bench", "moe-layer")
        .AddInt("tokens", o.tokens)
        .AddInt("d_model", o.d_model)
        .AddInt("d_ffn", o.d_ffn)
        .AddInt("experts", o.experts)
        .AddInt("top_k", o.top_k)
        .AddInt("steps", o.steps)
        .AddInt("warmup", o.warmup)
        .AddInt("threads", threads)
        .AddInt("world_size", world_size)
        .AddString("activation", moe::ActivationName(activation))
        .AddDouble("capacity_factor", o.capacity_factor)
        .AddDouble("moe_ms", moe_s * 1e3)
        .AddDouble("dense_ms", dense_s * 1e3)
        .AddDouble("ratio", moe_s / dense_s)
        .AddDouble("tokens_per_s", tokens_per_s)
        .AddDouble("gflops", gflops)
        .AddDouble("dense_gflops", dense_gflops)
        .AddInt("expert_flops", expert_flops)
        .AddInt("max_expert_rows", max_expert_rows)
        .AddInt("dropped_routes", dropped_routes)
        .AddInt("matmul_primitives", ctx.num_matmul_primitives())
        .AddInt("allocations_after_warmup", allocations_after_warmup)
        .AddDouble("peak_rss_mb", peak_rss_mb);
    std::printf("%s\n", line.str().c_str());
  } else {
    std::printf(
        "moe-layer: T=%lld/rank d=%lld f=%lld E=%lld k=%lld %s capacity=%g, %d ranks x "
        "%d threads, "
        "median of %lld steps after %lld warm-up\n"
        "  moe   fwd+bwd %9.3f ms  %10.0f tokens/s  %8.1f GFLOP/s expert math"
        " (max rows/expert %lld, dropped %lld)\n"
        "  dense fwd+bwd %9.3f ms  over %lld rows     %8.1f GFLOP/s\n"
        "  ratio moe/dense %.3f; allocations after warm-up %lld; peak RSS %.1f MB\n",
        static_cast<long long>(o.tokens), static_cast<long long>(o.d_model),
        static_cast<long long>(o.d_ffn), static_cast<long long>(o.experts),
        static_cast<long long>(o.top_k),
        std::string(moe::ActivationName(activation)).c_str(), o.capacity_factor,
        world_size, threads, static_cast<long long>(o.steps),
        static_cast<long long>(o.warmup), moe_s * 1e3, tokens_per_s, gflops,
        static_cast<long long>(max_expert_rows), static_cast<long long>(dropped_routes),
        dense_s * 1e3, static_cast<long long>(num_routes), dense_gflops, moe_s / dense_s,
        static_cast<long long>(allocations_after_warmup), peak_rss_mb);
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewMoeLayerSubcommand() {
  return std::make_unique<MoeLayerSubcommand>();
}

}  // namespace mpimoe::bench
