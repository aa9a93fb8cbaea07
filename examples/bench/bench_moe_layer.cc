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

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "examples/bench/bench_tensors.h"
#include "examples/bench/bench_timing.h"
#include "ops/ops_context.h"
#include "parallel/collectives.h"
#include "parallel/plan.h"
#include "runtime/core/aligned_buffer.h"
#include "runtime/core/json.h"
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
#include "runtime/train/config_loader.h"
#include "runtime/train/model.h"

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

moe::Activation ActivationOf(const MoeLayerBenchOptions& o) {
  return o.activation == "swiglu" ? moe::Activation::kSwiglu : moe::Activation::kGelu;
}

// Both sides of the comparison with their inputs and outputs, built once: the MoeLayer
// over T tokens per rank and the DenseFfn over the T*k rows the layer's experts see.
class MoeLayerRig {
 public:
  static StatusOr<std::unique_ptr<MoeLayerRig>> Create(const MoeLayerBenchOptions& o,
                                                       parallel::Communicator* world) {
    std::unique_ptr<MoeLayerRig> rig(new MoeLayerRig(o, world));
    MPIMOE_ASSIGN_OR_RETURN(
        rig->dispatcher_,
        moe::ExpertParallelDispatcher::Create(
            world, parallel::StaticPlan(static_cast<int32_t>(o.experts), world->size())));
    // The layer a config trains (routing hyperparameters and auxiliary losses from the
    // config schema's defaults) at the bench's shapes.
    moe::MoeLayerOptions layer_options =
        train::MoeLayerOptionsOf(train::DefaultTrainConfig().model);
    layer_options.expert = moe::FfnDims{o.d_model, o.d_ffn, ActivationOf(o)};
    layer_options.routing.num_experts = o.experts;
    layer_options.routing.top_k = o.top_k;
    layer_options.capacity_factor = o.capacity_factor;
    layer_options.seed = kSeed;
    MPIMOE_ASSIGN_OR_RETURN(
        rig->layer_,
        moe::MoeLayer::Create(layer_options, &rig->ctx_, world, rig->dispatcher_.get()));
    rig->moe_params_ = rig->layer_->Parameters();
    return rig;
  }

  // One forward+backward of each side, gradients zeroed first (untimed). `seconds` is
  // the job's time of the step: ranks start together, the slowest one decides.
  Status MoeStep(double* seconds) {
    ZeroGrad(moe_params_);
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(*world_));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(
        layer_->Forward(x_.view(), y_.view()).WithContext("moe forward"));
    MPIMOE_RETURN_IF_ERROR(
        layer_->Backward(dy_.view(), dx_.view()).WithContext("moe backward"));
    MPIMOE_ASSIGN_OR_RETURN(*seconds, SlowestRank(*world_, watch.ElapsedSeconds()));
    return Status::Ok();
  }
  Status DenseStep(double* seconds) {
    ZeroGrad(dense_params_);
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(*world_));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(
        dense_.Forward(dense_x_.view(), dense_y_.view()).WithContext("dense forward"));
    MPIMOE_RETURN_IF_ERROR(dense_.Backward(dense_dy_.view(), dense_dx_.view())
                               .WithContext("dense backward"));
    MPIMOE_ASSIGN_OR_RETURN(*seconds, SlowestRank(*world_, watch.ElapsedSeconds()));
    return Status::Ok();
  }

  Status CheckOutputsFinite() const {
    MPIMOE_RETURN_IF_ERROR(CheckFinite(y_, "moe output y"));
    MPIMOE_RETURN_IF_ERROR(CheckFinite(dx_, "moe input gradient dx"));
    MPIMOE_RETURN_IF_ERROR(CheckFinite(dense_y_, "dense output y"));
    return CheckFinite(dense_dx_, "dense input gradient dx");
  }

  moe::MoeLayer& layer() { return *layer_; }
  const moe::FfnDims& dims() const { return dims_; }
  const ops::OpsContext& ctx() const { return ctx_; }

 private:
  MoeLayerRig(const MoeLayerBenchOptions& o, parallel::Communicator* world)
      : world_(world),
        dims_{o.d_model, o.d_ffn, ActivationOf(o)},
        dense_(dims_, kSeed, &ctx_),
        dense_params_(dense_.Parameters()),
        rng_(MixSeed(kSeed, {0x78, static_cast<uint64_t>(world->rank())})),
        x_(NormalTensor({o.tokens, o.d_model}, rng_)),
        dy_(FilledTensor({o.tokens, o.d_model}, 1.0f)),
        y_(DType::kF32, {o.tokens, o.d_model}),
        dx_(DType::kF32, {o.tokens, o.d_model}),
        dense_x_(NormalTensor({o.tokens * o.top_k, o.d_model}, rng_)),
        dense_dy_(FilledTensor({o.tokens * o.top_k, o.d_model}, 1.0f)),
        dense_y_(DType::kF32, {o.tokens * o.top_k, o.d_model}),
        dense_dx_(DType::kF32, {o.tokens * o.top_k, o.d_model}) {}

  parallel::Communicator* world_;
  ops::OpsContext ctx_;
  moe::FfnDims dims_;
  std::unique_ptr<moe::ExpertParallelDispatcher> dispatcher_;
  std::unique_ptr<moe::MoeLayer> layer_;
  moe::DenseFfn dense_;
  std::vector<Parameter*> moe_params_;
  std::vector<Parameter*> dense_params_;
  Rng rng_;
  Tensor x_, dy_, y_, dx_;                          // MoE side: [T, d]
  Tensor dense_x_, dense_dy_, dense_y_, dense_dx_;  // dense side: [T*k, d]
};

// What the report shows, the same on every rank.
struct MoeLayerResult {
  double moe_s = 0.0;        // median step time
  double dense_s = 0.0;      // median step time
  int64_t expert_flops = 0;  // expert math of one step, summed over ranks
  int64_t max_expert_rows = 0;
  int64_t dropped_routes = 0;  // summed over ranks
  int64_t allocations_after_warmup = 0;
  double peak_rss_mb = 0.0;
  int64_t matmul_primitives = 0;  // this rank's
};

// Warm-up, the finiteness check, then the timed steps (MoE, dense, MoE, ...): the
// median step time of each side and the AlignedBuffer allocations made while timing.
Status TimeSteps(MoeLayerRig& rig, const MoeLayerBenchOptions& o,
                 MoeLayerResult* result) {
  double seconds = 0.0;
  for (int64_t step = 0; step < o.warmup; ++step) {
    MPIMOE_RETURN_IF_ERROR(rig.MoeStep(&seconds));
    MPIMOE_RETURN_IF_ERROR(rig.DenseStep(&seconds));
  }
  MPIMOE_RETURN_IF_ERROR(rig.CheckOutputsFinite());
  std::vector<double> moe_seconds, dense_seconds;
  moe_seconds.reserve(static_cast<size_t>(o.steps));
  dense_seconds.reserve(static_cast<size_t>(o.steps));
  const int64_t allocations_before = AlignedAllocationCount();
  for (int64_t step = 0; step < o.steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(rig.MoeStep(&seconds));
    moe_seconds.push_back(seconds);
    MPIMOE_RETURN_IF_ERROR(rig.DenseStep(&seconds));
    dense_seconds.push_back(seconds);
  }
  result->allocations_after_warmup = AlignedAllocationCount() - allocations_before;
  result->moe_s = Median(moe_seconds);
  result->dense_s = Median(dense_seconds);
  return Status::Ok();
}

// Expert math of the last step over the job (the routing is the same every step: fixed
// x, no optimizer step): FLOPs and dropped routes summed over ranks; allocations,
// rows per expert and peak RSS the maximum over ranks.
Status GatherJobFigures(MoeLayerRig& rig, parallel::Communicator& world,
                        MoeLayerResult* result) {
  int64_t expert_flops = 0;
  int64_t max_expert_rows = 0;
  for (const int64_t rows : rig.layer().experts().rows_per_slot()) {
    expert_flops += moe::FfnTrainFlops(rig.dims(), rows);
    max_expert_rows = std::max(max_expert_rows, rows);
  }
  int64_t sums[2] = {expert_flops, rig.layer().stats().dropped_routes};
  int64_t maxima[2] = {result->allocations_after_warmup, max_expert_rows};
  double peak_rss_mb = PeakRssMb();
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<int64_t>(sums)));
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<int64_t>(maxima),
                                                    {parallel::ReduceOp::kMax}));
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
      world, std::span<double>(&peak_rss_mb, 1), {parallel::ReduceOp::kMax}));
  result->expert_flops = sums[0];
  result->dropped_routes = sums[1];
  result->allocations_after_warmup = maxima[0];
  result->max_expert_rows = maxima[1];
  result->peak_rss_mb = peak_rss_mb;
  result->matmul_primitives = rig.ctx().num_matmul_primitives();
  return Status::Ok();
}

void PrintReport(const MoeLayerBenchOptions& o, const MoeLayerResult& r, int world_size) {
  const moe::FfnDims dims{o.d_model, o.d_ffn, ActivationOf(o)};
  const int64_t num_routes = o.tokens * o.top_k;
  const double gflops = static_cast<double>(r.expert_flops) / r.moe_s * 1e-9;
  const double dense_gflops = static_cast<double>(moe::FfnTrainFlops(dims, num_routes)) *
                              world_size / r.dense_s * 1e-9;
  const double tokens_per_s = static_cast<double>(o.tokens) * world_size / r.moe_s;
  const int threads = MaxThreads();
  const std::string activation(moe::ActivationName(dims.activation));
  if (o.json) {
    const Json line = {{"bench", "moe-layer"},
                       {"tokens", o.tokens},
                       {"d_model", o.d_model},
                       {"d_ffn", o.d_ffn},
                       {"experts", o.experts},
                       {"top_k", o.top_k},
                       {"steps", o.steps},
                       {"warmup", o.warmup},
                       {"threads", threads},
                       {"world_size", world_size},
                       {"activation", activation},
                       {"capacity_factor", o.capacity_factor},
                       {"moe_ms", r.moe_s * 1e3},
                       {"dense_ms", r.dense_s * 1e3},
                       {"ratio", r.moe_s / r.dense_s},
                       {"tokens_per_s", tokens_per_s},
                       {"gflops", gflops},
                       {"dense_gflops", dense_gflops},
                       {"expert_flops", r.expert_flops},
                       {"max_expert_rows", r.max_expert_rows},
                       {"dropped_routes", r.dropped_routes},
                       {"matmul_primitives", r.matmul_primitives},
                       {"allocations_after_warmup", r.allocations_after_warmup},
                       {"peak_rss_mb", r.peak_rss_mb}};
    std::printf("%s\n", DumpJson(line).c_str());
    return;
  }
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
      static_cast<long long>(o.top_k), activation.c_str(), o.capacity_factor, world_size,
      threads, static_cast<long long>(o.steps), static_cast<long long>(o.warmup),
      r.moe_s * 1e3, tokens_per_s, gflops, static_cast<long long>(r.max_expert_rows),
      static_cast<long long>(r.dropped_routes), r.dense_s * 1e3,
      static_cast<long long>(num_routes), dense_gflops, r.moe_s / r.dense_s,
      static_cast<long long>(r.allocations_after_warmup), r.peak_rss_mb);
}

class MoeLayerSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    MoeLayerBenchOptions& o = options_;
    const CLI::Validator positive = IntegerCheck(Sign::kPositive);
    command->add_option("--tokens", o.tokens, "tokens T per rank per step")
        ->check(positive);
    command->add_option("--d-model", o.d_model, "model dimension d")->check(positive);
    command->add_option("--d-ffn", o.d_ffn, "expert hidden dimension f")->check(positive);
    command->add_option("--experts", o.experts, "number of experts E")->check(positive);
    command->add_option("--top-k", o.top_k, "experts per token k (<= E)")
        ->check(positive);
    command->add_option("--steps", o.steps, "timed steps N")->check(positive);
    command->add_option("--warmup", o.warmup, "untimed warm-up steps W")->check(positive);
    AddThreadsFlag(command, &o.threads);
    command->add_option("--activation", o.activation, "expert activation")
        ->check(CLI::IsMember({"gelu", "swiglu"}));
    command
        ->add_option("--capacity-factor", o.capacity_factor,
                     "expert capacity factor C, 0 = dropless")
        ->check(RealCheck(Sign::kNonNegative));
    AddJsonFlag(command, &o.json);
  }

  Status Validate() const override {
    return ValidateTopK(options_.top_k, options_.experts);
  }

  Status Run(BenchContext& context) override {
    SetNumThreads(static_cast<int>(options_.threads));
    parallel::Communicator& world = *context.world;
    MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<MoeLayerRig> rig,
                            MoeLayerRig::Create(options_, &world));
    MoeLayerResult result;
    MPIMOE_RETURN_IF_ERROR(TimeSteps(*rig, options_, &result));
    MPIMOE_RETURN_IF_ERROR(GatherJobFigures(*rig, world, &result));
    if (context.is_root()) PrintReport(options_, result, world.size());
    return Status::Ok();
  }

 private:
  MoeLayerBenchOptions options_;
};

}  // namespace

std::unique_ptr<Subcommand> NewMoeLayerSubcommand() {
  return std::make_unique<MoeLayerSubcommand>();
}

}  // namespace mpimoe::bench
