// mpimoe-train: trains an MoE transformer from a config file, on every rank of an
// mpirun job.
//
//   mpirun -np P mpimoe-train CONFIG [--set path=value]... [--out DIR]
//                             [--trace [--trace-steps N]]
//
// Exit codes: 0 done; 2 bad input (flags, config parse or validation error, data file,
// world size) — reported by rank 0, nothing written, every rank exits 2; 1 a failure
// while training — the whole job is aborted so that no rank waits for a failed one.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/collectives.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_environment.h"
#include "runtime/core/omp.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/data.h"
#include "runtime/train/training_job.h"

namespace {

constexpr char kUsage[] =
    "usage: mpirun -np P mpimoe-train CONFIG [--set path=value]... [--out DIR]\n"
    "                                 [--trace [--trace-steps N]]\n"
    "  CONFIG             a training config (.textproto, schema configs/mpimoe.proto)\n"
    "  --set path=value   override one field, e.g. --set model.moe.num_experts=16\n"
    "                     (repeatable; lists: --set model.dense_layers=0,2)\n"
    "  --out DIR          output directory (default runs/<name>-<timestamp>)\n"
    "  --trace            write DIR/trace.json: a timeline of every rank's phases and\n"
    "                     communication (open it in ui.perfetto.dev or "
    "chrome://tracing)\n"
    "  --trace-steps N    keep the last N steps in the trace (default 20; 0 = all)\n";

struct Args {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out_dir;
  bool help = false;
  bool trace = false;
  int64_t trace_steps = 20;
};

mpimoe::Status ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      args->help = true;
    } else if (arg == "--trace") {
      args->trace = true;
    } else if (arg == "--trace-steps" || arg.rfind("--trace-steps=", 0) == 0) {
      std::string value;
      if (arg == "--trace-steps") {
        if (i + 1 >= argc) return mpimoe::InvalidArgumentError(arg + " needs a value");
        value = argv[++i];
      } else {
        value = arg.substr(std::strlen("--trace-steps="));
      }
      char* end = nullptr;
      errno = 0;
      const long long steps = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0 || steps < 0) {
        return mpimoe::InvalidArgumentError(
            "--trace-steps: expected a non-negative integer, got '" + value + "'");
      }
      args->trace_steps = steps;
    } else if (arg == "--set" || arg == "--out") {
      if (i + 1 >= argc) return mpimoe::InvalidArgumentError(arg + " needs a value");
      (arg == "--set" ? args->overrides.emplace_back() : args->out_dir) = argv[++i];
    } else if (arg.rfind("--set=", 0) == 0) {
      args->overrides.push_back(arg.substr(6));
    } else if (arg.rfind("--out=", 0) == 0) {
      args->out_dir = arg.substr(6);
    } else if (arg.rfind("--", 0) == 0) {
      return mpimoe::InvalidArgumentError("unknown flag " + arg);
    } else if (args->config_path.empty()) {
      args->config_path = arg;
    } else {
      return mpimoe::InvalidArgumentError(
          "more than one config file: " + args->config_path + " and " + arg);
    }
  }
  if (!args->help && args->config_path.empty()) {
    return mpimoe::InvalidArgumentError("missing CONFIG");
  }
  return mpimoe::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  namespace parallel = mpimoe::parallel;
  namespace train = mpimoe::train;
  auto env = parallel::MpiEnvironment::Init(&argc, &argv);
  if (!env.ok()) {
    std::fprintf(stderr, "mpimoe-train: %s\n", env.status().ToString().c_str());
    return 1;
  }
  auto world = parallel::MpiCommunicator::World(**env);
  if (!world.ok()) (*env)->Abort(1, world.status().ToString());
  const bool root = world->rank() == 0;

  // Everything about the input is checked before anything is written; all ranks agree
  // on the outcome, so a bad input ends every rank with exit code 2.
  Args args;
  mpimoe::Status status = ParseArgs(argc, argv, &args);
  if (status.ok() && args.help) {
    if (root) std::fputs(kUsage, stdout);
    return 0;
  }
  train::TrainConfig config;
  if (status.ok()) {
    auto loaded = train::LoadTrainConfig(args.config_path, args.overrides);
    if (loaded.ok()) {
      config = std::move(loaded).value();
    } else {
      status = loaded.status();
    }
  }
  if (status.ok()) status = train::ValidateForWorldSize(config, world->size());
  if (status.ok()) status = train::MakeDataset(config).status();
  const mpimoe::Status agreed = parallel::AgreeOnStatus(*world, status);
  if (!agreed.ok()) {
    if (root) {
      std::fprintf(stderr, "mpimoe-train: %s\n", agreed.message().c_str());
      if (!status.ok() && status.message().find("CONFIG") != std::string::npos) {
        std::fputs(kUsage, stderr);
      }
    }
    return 2;
  }

  if (config.parallel.threads_per_rank > 0)
    mpimoe::SetNumThreads(config.parallel.threads_per_rank);
  train::JobOptions options;
  options.out_dir = args.out_dir.empty() ? train::DefaultOutputDir(config) : args.out_dir;
  options.trace = args.trace;
  options.trace_steps = args.trace_steps;
  mpimoe::ops::OpsContext ctx;
  auto summary = train::RunTrainingJob(config, options, &ctx, &*world);
  if (!summary.ok()) (*env)->Abort(1, "mpimoe-train: " + summary.status().ToString());
  return 0;
}
