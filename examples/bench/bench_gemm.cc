// `mpimoe-bench gemm`: how close the expert FFN gets to the machine's matmul peak.
//
// Times one expert's FFN forward+backward (moe::FfnForward/FfnBackward, GeLU) on the
// shapes of the moe-layer default config (rows = T*k/E = 2048*2/8 = 512, d = 512,
// f = 2048) and, in the same run and on the same threads, one fixed-shape oneDNN f32
// matmul 2048x2048x2048 (the "peak"). Repetitions alternate FFN, peak, FFN, peak, ... so
// machine noise hits both alike; each side reports the median. Both computations are
// checked against a double-precision reference on sampled entries before timing.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "examples/bench/bench_tensors.h"
#include "ops/matmul.h"
#include "ops/ops_context.h"
#include "runtime/core/json.h"
#include "runtime/core/omp.h"
#include "runtime/core/process_stats.h"
#include "runtime/core/random.h"
#include "runtime/core/tensor.h"
#include "runtime/core/timer.h"
#include "runtime/moe/ffn.h"

namespace mpimoe::bench {
namespace {

// Expert shape of the moe-layer default config: T*k/E rows, d_model, d_ffn.
constexpr int64_t kRows = 2048 * 2 / 8;
constexpr int64_t kDModel = 512;
constexpr int64_t kDFfn = 2048;
// The peak: C[n, n] = A[n, n] B[n, n].
constexpr int64_t kPeakDim = 2048;
constexpr int kWarmupRepetitions = 3;
constexpr int kTimedRepetitions = 11;
// Sampled entries compared with the double reference, and the allowed error relative
// to sum |terms| of each entry.
constexpr int kCheckSamples = 16;
constexpr double kRelativeTolerance = 1e-4;

double GeluTanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

Status CheckClose(const char* what, int64_t row, int64_t col, double got, double want,
                  double magnitude) {
  if (std::isfinite(got) &&
      std::fabs(got - want) <= kRelativeTolerance * magnitude + 1e-6) {
    return Status::Ok();
  }
  return InternalError(std::string(what) + " result wrong at [" + std::to_string(row) +
                       ", " + std::to_string(col) + "]: got " + std::to_string(got) +
                       ", reference " + std::to_string(want));
}

// One expert FFN forward+backward on [rows, d] inputs, with all its buffers.
class FfnCase {
 public:
  FfnCase(const moe::FfnDims& dims, int64_t rows, Rng& rng)
      : dims_(dims),
        rows_(rows),
        x_(NormalTensor({rows, dims.d_model}, rng)),
        dy_(FilledTensor({rows, dims.d_model}, 1.0f)),
        w1_(NormalTensor({dims.d_model, dims.d_ffn}, rng,
                         1.0f / std::sqrt(static_cast<float>(dims.d_model)))),
        w2_(NormalTensor({dims.d_ffn, dims.d_model}, rng,
                         1.0f / std::sqrt(static_cast<float>(dims.d_ffn)))),
        dw1_(Tensor::Zeros(DType::kF32, {dims.d_model, dims.d_ffn})),
        dw2_(Tensor::Zeros(DType::kF32, {dims.d_ffn, dims.d_model})),
        y_(DType::kF32, {rows, dims.d_model}),
        dx_(DType::kF32, {rows, dims.d_model}),
        h1_(DType::kF32, {rows, dims.d_ffn}),
        a_(DType::kF32, {rows, dims.d_ffn}),
        da_(DType::kF32, {rows, dims.d_ffn}),
        dh1_(DType::kF32, {rows, dims.d_ffn}) {}

  // Forward + backward. Weight gradients keep accumulating across calls, which does
  // not change the work done.
  Status Run(ops::OpsContext& ctx) {
    const moe::FfnWeights w{w1_.data<float>(), nullptr, w2_.data<float>()};
    const moe::FfnSaved saved{h1_.data<float>(), nullptr, a_.data<float>()};
    MPIMOE_RETURN_IF_ERROR(
        moe::FfnForward(ctx, dims_, w, x_.data<float>(), rows_, saved, y_.data<float>()));
    const moe::FfnScratch scratch{da_.data<float>(), dh1_.data<float>(), nullptr};
    const moe::FfnGrads grads{dw1_.data<float>(), nullptr, dw2_.data<float>()};
    return moe::FfnBackward(ctx, dims_, w, x_.data<float>(), rows_, saved,
                            dy_.data<float>(), scratch, grads, dx_.data<float>());
  }

  // Compares sampled entries of the last forward's y with y = gelu(x W1) W2 in double.
  Status Check(Rng& rng) const {
    const int64_t d = dims_.d_model;
    const int64_t f = dims_.d_ffn;
    const float* x = x_.data<float>();
    const float* w1 = w1_.data<float>();
    const float* w2 = w2_.data<float>();
    std::vector<double> a(static_cast<size_t>(f));
    for (int sample = 0; sample < kCheckSamples; ++sample) {
      const int64_t r = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(rows_)));
      const int64_t c = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(d)));
      double want = 0.0;
      double magnitude = 0.0;
      for (int64_t j = 0; j < f; ++j) {
        double h = 0.0;
        for (int64_t i = 0; i < d; ++i) h += double{x[r * d + i]} * w1[i * f + j];
        const double term = GeluTanh(h) * w2[j * d + c];
        want += term;
        magnitude += std::fabs(term);
      }
      MPIMOE_RETURN_IF_ERROR(
          CheckClose("ffn forward", r, c, y_.data<float>()[r * d + c], want, magnitude));
    }
    const float* dx = dx_.data<float>();
    for (int64_t i = 0; i < dx_.numel(); ++i) {
      if (!std::isfinite(dx[i])) return InternalError("ffn backward: non-finite dx");
    }
    return Status::Ok();
  }

  int64_t flops() const { return moe::FfnTrainFlops(dims_, rows_); }

 private:
  moe::FfnDims dims_;
  int64_t rows_;
  Tensor x_, dy_, w1_, w2_, dw1_, dw2_, y_, dx_, h1_, a_, da_, dh1_;
};

// One fixed-shape (runtime_m = false) f32 matmul C[n, n] = A[n, n] B[n, n].
class PeakCase {
 public:
  PeakCase(int64_t n, Rng& rng)
      : n_(n),
        a_(NormalTensor({n, n}, rng)),
        b_(NormalTensor({n, n}, rng)),
        c_(DType::kF32, {n, n}) {}

  Status Run(ops::OpsContext& ctx) {
    ops::MatmulDesc desc;
    desc.m = n_;
    desc.k = n_;
    desc.n = n_;
    desc.runtime_m = false;
    return ops::Matmul(ctx, desc, a_.data<float>(), b_.data<float>(), nullptr,
                       c_.data<float>());
  }

  Status Check(Rng& rng) const {
    const float* a = a_.data<float>();
    const float* b = b_.data<float>();
    for (int sample = 0; sample < kCheckSamples; ++sample) {
      const int64_t r = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n_)));
      const int64_t c = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n_)));
      double want = 0.0;
      double magnitude = 0.0;
      for (int64_t i = 0; i < n_; ++i) {
        const double term = double{a[r * n_ + i]} * b[i * n_ + c];
        want += term;
        magnitude += std::fabs(term);
      }
      MPIMOE_RETURN_IF_ERROR(
          CheckClose("peak matmul", r, c, c_.data<float>()[r * n_ + c], want, magnitude));
    }
    return Status::Ok();
  }

  int64_t flops() const { return 2 * n_ * n_ * n_; }

 private:
  int64_t n_;
  Tensor a_, b_, c_;
};

struct GemmOptions {
  int64_t threads = MaxThreads();
  bool json = false;
};

// Median times of both sides, measured after the checks and the warm-up.
struct GemmTimes {
  double ffn_s = 0.0;
  double peak_s = 0.0;
};

// Correctness first, then warm-up (primitive creation, page faults), then A B A B.
StatusOr<GemmTimes> CheckAndTime(ops::OpsContext& ctx, FfnCase& ffn, PeakCase& peak,
                                 Rng& rng) {
  MPIMOE_RETURN_IF_ERROR(ffn.Run(ctx).WithContext("ffn"));
  MPIMOE_RETURN_IF_ERROR(ffn.Check(rng));
  MPIMOE_RETURN_IF_ERROR(peak.Run(ctx).WithContext("peak matmul"));
  MPIMOE_RETURN_IF_ERROR(peak.Check(rng));
  for (int i = 0; i < kWarmupRepetitions; ++i) {
    MPIMOE_RETURN_IF_ERROR(ffn.Run(ctx));
    MPIMOE_RETURN_IF_ERROR(peak.Run(ctx));
  }
  std::vector<double> ffn_seconds, peak_seconds;
  for (int i = 0; i < kTimedRepetitions; ++i) {
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(ffn.Run(ctx));
    ffn_seconds.push_back(watch.ElapsedSeconds());
    watch.Restart();
    MPIMOE_RETURN_IF_ERROR(peak.Run(ctx));
    peak_seconds.push_back(watch.ElapsedSeconds());
  }
  return GemmTimes{Median(ffn_seconds), Median(peak_seconds)};
}

void PrintReport(const GemmTimes& times, const FfnCase& ffn, const PeakCase& peak,
                 const moe::FfnDims& dims, bool json) {
  const double achieved_gflops = static_cast<double>(ffn.flops()) / times.ffn_s * 1e-9;
  const double peak_gflops = static_cast<double>(peak.flops()) / times.peak_s * 1e-9;
  const double ratio = achieved_gflops / peak_gflops;
  const int threads = MaxThreads();
  if (json) {
    const Json line = {{"bench", "gemm"},
                       {"threads", threads},
                       {"rows", kRows},
                       {"d_model", kDModel},
                       {"d_ffn", kDFfn},
                       {"activation", std::string(moe::ActivationName(dims.activation))},
                       {"ffn_flops", ffn.flops()},
                       {"ffn_ms", times.ffn_s * 1e3},
                       {"achieved_gflops", achieved_gflops},
                       {"peak_m", kPeakDim},
                       {"peak_k", kPeakDim},
                       {"peak_n", kPeakDim},
                       {"peak_ms", times.peak_s * 1e3},
                       {"peak_gflops", peak_gflops},
                       {"ratio", ratio},
                       {"warmup", kWarmupRepetitions},
                       {"repetitions", kTimedRepetitions}};
    std::printf("%s\n", DumpJson(line).c_str());
    return;
  }
  std::printf(
      "gemm: %d threads, median of %d repetitions after %d warm-up\n"
      "  expert FFN fwd+bwd  rows=%lld d=%lld f=%lld gelu  %9.3f ms  %8.1f GFLOP/s\n"
      "  peak f32 matmul     %lldx%lldx%lld            %9.3f ms  %8.1f GFLOP/s\n"
      "  ratio achieved/peak %.3f\n",
      threads, kTimedRepetitions, kWarmupRepetitions, static_cast<long long>(kRows),
      static_cast<long long>(kDModel), static_cast<long long>(kDFfn), times.ffn_s * 1e3,
      achieved_gflops, static_cast<long long>(kPeakDim), static_cast<long long>(kPeakDim),
      static_cast<long long>(kPeakDim), times.peak_s * 1e3, peak_gflops, ratio);
}

class GemmSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    AddThreadsFlag(command, &options_.threads);
    AddJsonFlag(command, &options_.json);
  }

  Status Run(BenchContext& context) override {
    SetNumThreads(static_cast<int>(options_.threads));
    ops::OpsContext ctx;
    Rng rng(MixSeed(1, {0x6e6d6d}));
    const moe::FfnDims dims{kDModel, kDFfn, moe::Activation::kGelu};
    FfnCase ffn(dims, kRows, rng);
    PeakCase peak(kPeakDim, rng);
    MPIMOE_ASSIGN_OR_RETURN(const GemmTimes times, CheckAndTime(ctx, ffn, peak, rng));
    if (context.is_root()) PrintReport(times, ffn, peak, dims, options_.json);
    return Status::Ok();
  }

 private:
  GemmOptions options_;
};

}  // namespace

std::unique_ptr<Subcommand> NewGemmSubcommand() {
  return std::make_unique<GemmSubcommand>();
}

}  // namespace mpimoe::bench
