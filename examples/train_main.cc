// mpimoe-train: trains an MoE transformer from a config file, on every rank of an
// mpirun job.
//
//   mpirun -np P mpimoe-train CONFIG [--set path=value]... [--out DIR]
//                                    [--resume DIR|latest] [--trace [--trace-steps N]]
//
// SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 on any rank (a scheduler pre-empting the job):
// every rank finishes its current step, a checkpoint is saved, and every rank exits 0;
// resume with --resume latest. Open MPI's mpirun forwards SIGUSR1/SIGUSR2 to the ranks
// as they are, while on SIGTERM/SIGINT it sends SIGTERM and then SIGKILL after
// odls_base_sigkill_timeout seconds (default 1), which may cut a slow save short (the
// previous checkpoint then stays valid).
//
// Exit codes: 0 done (or stopped by a signal, with a checkpoint); 2 bad input (flags,
// config parse or validation error, data file, world size, a checkpoint that cannot be
// resumed) — reported by rank 0, every rank exits 2; 3 a non-finite loss or gradient
// stopped training (run.on_nonfinite), after saving the last good step; 1 any other
// failure while training — the whole job is aborted so that no rank waits for a failed
// one.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/collectives.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_environment.h"
#include "runtime/core/omp.h"
#include "runtime/core/stop_signals.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/data.h"
#include "runtime/train/training_job.h"

namespace {

constexpr char kUsage[] =
    "usage: mpirun -np P mpimoe-train CONFIG [--set path=value]... [--out DIR]\n"
    "                                 [--resume DIR|latest] [--trace [--trace-steps N]]\n"
    "  CONFIG             a training config (.textproto, schema configs/mpimoe.proto)\n"
    "  --set path=value   override one field, e.g. --set model.moe.num_experts=16\n"
    "                     (repeatable; lists: --set model.dense_layers=0,2)\n"
    "  --out DIR          output directory (default runs/<name>-<timestamp>; when\n"
    "                     resuming, the run directory of the checkpoint)\n"
    "  --resume DIR       continue from checkpoint DIR (OUT/checkpoints/step-N), or\n"
    "  --resume latest    from the newest checkpoint in --out DIR (or run.out_dir)\n"
    "  --trace            write DIR/trace.json: a timeline of every rank's phases and\n"
    "                     communication (open it in ui.perfetto.dev or "
    "chrome://tracing)\n"
    "  --trace-steps N    keep the last N steps in the trace (default 20; 0 = all)\n"
    "SIGTERM/SIGINT/SIGUSR1/SIGUSR2: finish the step, save a checkpoint, exit 0\n"
    "(to stop via mpirun, send it SIGUSR1: it forwards that without a kill).\n";

struct Args {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out_dir;
  std::string resume;
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
    } else if (arg == "--set" || arg == "--out" || arg == "--resume") {
      if (i + 1 >= argc) return mpimoe::InvalidArgumentError(arg + " needs a value");
      (arg == "--set"   ? args->overrides.emplace_back()
       : arg == "--out" ? args->out_dir
                        : args->resume) = argv[++i];
    } else if (arg.rfind("--set=", 0) == 0) {
      args->overrides.push_back(arg.substr(6));
    } else if (arg.rfind("--out=", 0) == 0) {
      args->out_dir = arg.substr(6);
    } else if (arg.rfind("--resume=", 0) == 0) {
      args->resume = arg.substr(9);
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

// The output directory and the checkpoint to resume from, decided by rank 0 (a
// timestamped default must be the same on every rank) and broadcast.
mpimoe::Status ResolveDirs(const Args& args, const mpimoe::train::TrainConfig& config,
                           mpimoe::parallel::Communicator& comm, std::string* out_dir,
                           std::string* resume_dir) {
  namespace fs = std::filesystem;
  mpimoe::Status status;
  std::string joined;
  if (comm.rank() == 0) {
    *out_dir = args.out_dir.empty() ? config.run.out_dir : args.out_dir;
    if (args.resume == "latest") {
      if (out_dir->empty()) {
        status = mpimoe::InvalidArgumentError(
            "--resume latest needs the run directory: give --out DIR (or set "
            "run.out_dir)");
      } else {
        auto latest = mpimoe::train::FindLatestCheckpoint(*out_dir);
        if (latest.ok()) {
          *resume_dir = *latest;
        } else {
          status = latest.status().WithContext("--resume latest");
        }
      }
    } else if (!args.resume.empty()) {
      *resume_dir = args.resume;
      // OUT/checkpoints/step-N[/] -> OUT
      if (out_dir->empty()) {
        fs::path dir = fs::path(args.resume).lexically_normal();
        if (!dir.has_filename()) dir = dir.parent_path();  // a trailing slash
        const fs::path parent = dir.parent_path();
        if (parent.filename() == "checkpoints") {
          *out_dir = parent.parent_path().empty() ? "." : parent.parent_path().string();
        } else {
          status = mpimoe::InvalidArgumentError(
              "--resume " + args.resume +
              ": not inside a run's checkpoints/ directory; give the output directory "
              "with --out DIR");
        }
      }
    }
    if (out_dir->empty()) *out_dir = mpimoe::train::DefaultOutputDir(config);
    joined = *out_dir + '\n' + *resume_dir;
  }
  status = mpimoe::parallel::AgreeOnStatus(comm, status);
  if (!status.ok()) return status;
  int64_t size = static_cast<int64_t>(joined.size());
  MPIMOE_RETURN_IF_ERROR(mpimoe::parallel::Bcast(comm, std::span<int64_t>(&size, 1)));
  joined.resize(static_cast<size_t>(size));
  MPIMOE_RETURN_IF_ERROR(
      mpimoe::parallel::Bcast(comm, std::span<char>(joined.data(), joined.size())));
  const size_t newline = joined.find('\n');
  *out_dir = joined.substr(0, newline);
  *resume_dir = joined.substr(newline + 1);
  return mpimoe::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  namespace parallel = mpimoe::parallel;
  namespace train = mpimoe::train;
  // Before MPI and OpenMP start threads: stop signals go to the watcher only.
  mpimoe::BlockStopSignals();
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
  status = parallel::AgreeOnStatus(*world, status);
  train::JobOptions options;
  if (status.ok()) {
    status = ResolveDirs(args, config, *world, &options.out_dir, &options.resume_from);
  }
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
  mpimoe::StopSignals stop_signals;
  options.stop_requested = &stop_signals.requested();
  options.trace = args.trace;
  options.trace_steps = args.trace_steps;
  mpimoe::ops::OpsContext ctx;
  auto summary = train::RunTrainingJob(config, options, &ctx, &*world);
  if (!summary.ok()) {
    const mpimoe::Status& error = summary.status();
    // Every rank returns these together, so no rank is left waiting: exit cleanly.
    //   kAborted: a non-finite step stopped training (the last good step is saved);
    //   a checkpoint that cannot be resumed is bad input.
    if (error.code() == mpimoe::StatusCode::kAborted) {
      if (root) std::fprintf(stderr, "mpimoe-train: %s\n", error.message().c_str());
      return 3;
    }
    if (error.message().rfind(train::kResumeErrorContext, 0) == 0 &&
        (error.code() == mpimoe::StatusCode::kInvalidArgument ||
         error.code() == mpimoe::StatusCode::kNotFound)) {
      if (root) std::fprintf(stderr, "mpimoe-train: %s\n", error.message().c_str());
      return 2;
    }
    (*env)->Abort(1, "mpimoe-train: " + error.ToString());
  }
  return 0;
}
