// mpimoe-demo: trains one MoE layer, single process, to imitate a fixed "teacher" MoE
// layer on synthetic data generated from a seed, and prints the loss as it falls.
//
// It exercises the whole single-rank stack: router (softmax, top-k, aux loss), layout,
// dispatch, expert FFNs on oneDNN, combine, the backward of all of it, and AdamW. It is
// what ./scripts/quickstart.sh runs until the full transformer trainer lands.
//
//   mpimoe-demo [--steps N] [--tokens T] [--threads H]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ops/adamw.h"
#include "ops/ops_context.h"
#include "parallel/plan.h"
#include "parallel/self_communicator.h"
#include "runtime/core/logging.h"
#include "runtime/core/omp.h"
#include "runtime/core/random.h"
#include "runtime/core/timer.h"
#include "runtime/moe/expert_parallel_dispatcher.h"
#include "runtime/moe/moe_layer.h"

namespace {

using mpimoe::Status;

int Usage(const char* problem) {
  std::fprintf(
      stderr,
      "mpimoe-demo: %s\nusage: mpimoe-demo [--steps N] [--tokens T] [--threads H]\n",
      problem);
  return 2;
}

bool ParsePositive(const char* text, int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0) return false;
  *out = v;
  return true;
}

int Run(int64_t steps, int64_t tokens) {
  namespace moe = mpimoe::moe;
  mpimoe::ops::OpsContext ctx;

  // The student learns to imitate a teacher with the same shape and other weights.
  moe::MoeLayerOptions options;
  options.expert = moe::FfnDims{64, 128, moe::Activation::kGelu};
  options.routing.num_experts = 8;
  options.routing.top_k = 2;
  options.routing.normalize_gates = true;
  options.routing.aux_loss_coef = 0.01f;
  options.seed = 1;
  // One process: a one-rank communicator holds every expert.
  mpimoe::parallel::SelfCommunicator comm;
  auto dispatcher = moe::ExpertParallelDispatcher::Create(
      &comm,
      mpimoe::parallel::StaticPlan(static_cast<int32_t>(options.routing.num_experts), 1));
  if (!dispatcher.ok()) {
    std::fprintf(stderr, "mpimoe-demo: %s\n", dispatcher.status().ToString().c_str());
    return 1;
  }
  moe::MoeLayerOptions teacher_options = options;
  teacher_options.seed = 12345;
  auto teacher = moe::MoeLayer::Create(teacher_options, &ctx, &comm, dispatcher->get());
  auto student = moe::MoeLayer::Create(options, &ctx, &comm, dispatcher->get());
  if (!teacher.ok() || !student.ok()) {
    std::fprintf(stderr, "mpimoe-demo: %s\n",
                 (teacher.ok() ? student.status() : teacher.status()).ToString().c_str());
    return 1;
  }
  std::vector<mpimoe::Parameter*> params = (*student)->Parameters();
  std::vector<mpimoe::Tensor> adam_m, adam_v;
  for (mpimoe::Parameter* p : params) {
    adam_m.push_back(mpimoe::Tensor::Zeros(mpimoe::DType::kF32, p->value.shape()));
    adam_v.push_back(mpimoe::Tensor::Zeros(mpimoe::DType::kF32, p->value.shape()));
  }
  mpimoe::ops::AdamWOptions adam;
  adam.lr = 3e-3f;
  adam.beta1 = 0.9f;
  adam.beta2 = 0.999f;
  adam.eps = 1e-8f;
  adam.weight_decay = 0.0f;

  const int64_t d = options.expert.d_model;
  mpimoe::Tensor x(mpimoe::DType::kF32, {tokens, d});
  mpimoe::Tensor target(mpimoe::DType::kF32, {tokens, d});
  mpimoe::Tensor y(mpimoe::DType::kF32, {tokens, d});
  mpimoe::Tensor dy(mpimoe::DType::kF32, {tokens, d});
  mpimoe::Tensor dx(mpimoe::DType::kF32, {tokens, d});
  mpimoe::Rng rng(mpimoe::MixSeed(7, {0}));
  double first_loss = 0.0, last_loss = 0.0;
  mpimoe::Stopwatch watch;
  std::printf(
      "mpimoe-demo: fitting an MoE layer (d=%lld f=%lld E=%lld k=%lld) to a teacher, "
      "%lld tokens/step, %d threads\n",
      static_cast<long long>(d), static_cast<long long>(options.expert.d_ffn),
      static_cast<long long>(options.routing.num_experts),
      static_cast<long long>(options.routing.top_k), static_cast<long long>(tokens),
      mpimoe::MaxThreads());
  for (int64_t step = 1; step <= steps; ++step) {
    // A fresh batch from the seeded stream; the teacher provides the targets.
    float* xs = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) xs[i] = rng.Normal();
    Status status = (*teacher)->Forward(x.view(), target.view());
    if (status.ok()) status = (*student)->Forward(x.view(), y.view());
    if (!status.ok()) {
      std::fprintf(stderr, "mpimoe-demo: step %lld: %s\n", static_cast<long long>(step),
                   status.ToString().c_str());
      return 1;
    }
    // Mean squared error and its gradient.
    double loss = 0.0;
    const float scale = 2.0f / static_cast<float>(y.numel());
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float diff = y.data<float>()[i] - target.data<float>()[i];
      loss += static_cast<double>(diff) * diff;
      dy.data<float>()[i] = scale * diff;
    }
    loss /= static_cast<double>(y.numel());
    mpimoe::ZeroGrad(params);
    status = (*student)->Backward(dy.view(), dx.view());
    if (!status.ok()) {
      std::fprintf(stderr, "mpimoe-demo: step %lld: %s\n", static_cast<long long>(step),
                   status.ToString().c_str());
      return 1;
    }
    for (size_t p = 0; p < params.size(); ++p) {
      mpimoe::ops::AdamWStep(adam, step, params[p]->value.data<float>(),
                             params[p]->grad.data<float>(), adam_m[p].data<float>(),
                             adam_v[p].data<float>(), params[p]->value.numel());
    }
    if (step == 1) first_loss = loss;
    last_loss = loss;
    if (step == 1 || step % 25 == 0 || step == steps) {
      const double elapsed = watch.ElapsedSeconds();
      std::printf(
          "step %4lld/%lld  loss %.5f  aux %.4f  %.0f tokens/s  ETA %.1fs\n",
          static_cast<long long>(step), static_cast<long long>(steps), loss,
          (*student)->stats().losses.aux, static_cast<double>(step * tokens) / elapsed,
          elapsed / static_cast<double>(step) * static_cast<double>(steps - step));
      std::fflush(stdout);
    }
  }
  std::printf("mpimoe-demo: loss %.5f -> %.5f (%.1f%% of the start) in %.1fs\n",
              first_loss, last_loss, 100.0 * last_loss / first_loss,
              watch.ElapsedSeconds());
  return last_loss < first_loss ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 300, tokens = 512, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (std::strcmp(flag, "--help") == 0) {
      std::printf("usage: mpimoe-demo [--steps N] [--tokens T] [--threads H]\n");
      return 0;
    }
    int64_t* target = std::strcmp(flag, "--steps") == 0     ? &steps
                      : std::strcmp(flag, "--tokens") == 0  ? &tokens
                      : std::strcmp(flag, "--threads") == 0 ? &threads
                                                            : nullptr;
    if (target == nullptr) return Usage(("unknown flag " + std::string(flag)).c_str());
    if (i + 1 >= argc) return Usage((std::string(flag) + " needs a value").c_str());
    if (!ParsePositive(argv[++i], target)) {
      return Usage(
          (std::string(flag) + " needs a positive integer, got '" + argv[i] + "'")
              .c_str());
    }
  }
  if (threads > 0) mpimoe::SetNumThreads(static_cast<int>(threads));
  return Run(steps, tokens);
}
