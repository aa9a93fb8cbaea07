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
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "examples/cli/command_line.h"
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

constexpr int kExitBadInput = 2;
constexpr int kExitNonFinite = 3;

struct Args {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out_dir;
  std::string resume;
  bool trace = false;
  int64_t trace_steps = 20;
};

// The command line; every rank parses it, rank 0 prints help and usage errors.
void DeclareFlags(CLI::App& app, Args* args) {
  mpimoe::cli::UseProjectStyle(app);
  app.footer(
      "CONFIG is a .textproto of schema configs/mpimoe.proto. --set takes a field path\n"
      "and a value as in a config file (lists: --set model.dense_layers=0,2). --out\n"
      "defaults to runs/<name>-<timestamp>, or, when resuming, the run directory of\n"
      "the checkpoint. --trace writes OUT/trace.json, a timeline of every rank's phases\n"
      "and communication (open it in ui.perfetto.dev or chrome://tracing).\n"
      "Signals: SIGTERM/SIGINT/SIGUSR1/SIGUSR2 finish the step, save a checkpoint and\n"
      "exit 0 (to stop through mpirun, send it SIGUSR1: it forwards that without a\n"
      "kill).\n"
      "Exit codes: 0 done or stopped with a checkpoint, 2 bad input, 3 non-finite loss\n"
      "or gradient (the last good step is saved), 1 any other failure (the job is\n"
      "aborted).");
  app.add_option("CONFIG", args->config_path, "the training config")->required();
  app.add_option("--set", args->overrides, "override one field (repeatable)")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false)
      ->default_str("");
  // Given twice, the last --out, --resume or --trace-steps wins.
  app.add_option("--out", args->out_dir, "output directory")
      ->type_name("DIR")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--resume", args->resume,
                 "continue from a checkpoint directory, or the newest one in --out")
      ->type_name("DIR|latest")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--trace", args->trace, "record a timeline of every rank");
  app.add_option("--trace-steps", args->trace_steps,
                 "keep the last N steps in the trace (0 = all)")
      ->type_name("N")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(mpimoe::cli::IntegerCheck(mpimoe::cli::Sign::kNonNegative));
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

// Loads and checks the config, the world size, the data and the directories; every
// rank gets the same verdict (a bad input ends every rank with exit code 2).
mpimoe::Status PrepareJob(const Args& args, mpimoe::parallel::Communicator& world,
                          mpimoe::train::TrainConfig* config,
                          mpimoe::train::JobOptions* options) {
  namespace train = mpimoe::train;
  mpimoe::Status status;
  auto loaded = train::LoadTrainConfig(args.config_path, args.overrides);
  if (loaded.ok()) {
    *config = std::move(loaded).value();
    status = train::ValidateForWorldSize(*config, world.size());
    if (status.ok()) status = train::MakeDataset(*config).status();
  } else {
    status = loaded.status();
  }
  MPIMOE_RETURN_IF_ERROR(mpimoe::parallel::AgreeOnStatus(world, status));
  return mpimoe::parallel::AgreeOnStatus(
      world, ResolveDirs(args, *config, world, &options->out_dir, &options->resume_from));
}

// The exit code of a training job that returned `error` on every rank, or nullopt when
// the error is not one the ranks agreed on (then the job must be aborted).
std::optional<int> AgreedExitCode(const mpimoe::Status& error) {
  switch (error.code()) {
    case mpimoe::StatusCode::kAborted:  // a non-finite step; the last good one is saved
      return kExitNonFinite;
    case mpimoe::StatusCode::kFailedPrecondition:  // a checkpoint that cannot be resumed
      return kExitBadInput;
    default:
      return std::nullopt;
  }
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

  // Everything about the input is checked before anything is written.
  Args args;
  CLI::App app("Trains an MoE transformer from a config, on every rank of an mpirun job.",
               "mpimoe-train");
  DeclareFlags(app, &args);
  if (const auto exit_code = mpimoe::cli::ParseCommandLine(app, argc, argv, root)) {
    return *exit_code;
  }
  train::TrainConfig config;
  train::JobOptions options;
  if (const mpimoe::Status bad = PrepareJob(args, *world, &config, &options); !bad.ok()) {
    if (root) std::fprintf(stderr, "mpimoe-train: %s\n", bad.message().c_str());
    return kExitBadInput;
  }

  if (config.parallel.threads_per_rank > 0)
    mpimoe::SetNumThreads(config.parallel.threads_per_rank);
  mpimoe::StopSignals stop_signals;
  options.stop_requested = &stop_signals.requested();
  options.trace = args.trace;
  options.trace_steps = args.trace_steps;
  mpimoe::ops::OpsContext ctx;
  auto summary = train::RunTrainingJob(config, options, &ctx, &*world);
  if (summary.ok()) return 0;
  const std::optional<int> agreed = AgreedExitCode(summary.status());
  if (!agreed) (*env)->Abort(1, "mpimoe-train: " + summary.status().ToString());
  // Every rank returns this error together, so no rank is left waiting: exit cleanly.
  if (root)
    std::fprintf(stderr, "mpimoe-train: %s\n", summary.status().message().c_str());
  return *agreed;
}
