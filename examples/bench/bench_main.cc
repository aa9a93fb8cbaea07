// mpimoe-bench: benchmarks of mpimoe's compute and communication paths.
//
//   [mpirun -np P] mpimoe-bench <subcommand> [flags]   (<subcommand> --help for flags)
//
// This file starts MPI (a plain start is a one-rank job), maps the subcommand name to
// its Subcommand, parses its flags and turns the outcome into the exit code: 0 on
// success or --help, 2 for a usage error (unknown subcommand or flag, bad value; rank 0
// prints the problem and the usage to stderr; every rank parses the same arguments, so
// all exit together), 1 when the library returns an error Status while running — then
// the whole job is aborted so that no rank waits for a failed one.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "examples/bench/bench_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_environment.h"
#include "runtime/core/status.h"

namespace mpimoe::bench {
namespace {

constexpr std::string_view kProgram = "mpimoe-bench";

struct SubcommandEntry {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Subcommand> (*make)();
};

constexpr SubcommandEntry kSubcommands[] = {
    {"gemm",
     "expert FFN forward+backward GFLOP/s against a 2048^3 oneDNN f32 matmul peak",
     NewGemmSubcommand},
    {"moe-layer", "MoeLayer forward+backward step time against DenseFfn over T*k rows",
     NewMoeLayerSubcommand},
    {"alltoall", "dispatch + combine of a layer's rows against raw all-to-alls of them",
     NewAlltoallSubcommand},
    {"train", "a config's training step: tokens/s and model FLOP utilisation (mfu)",
     NewTrainSubcommand},
    {"balancer", "balancer planning quality on simulated Zipf routing (--simulate R)",
     NewBalancerSubcommand},
    {"checkpoint", "checkpoint save/load time of a config's model against cp",
     NewCheckpointSubcommand},
};

// Set by Main for the helpers below: only rank 0 prints usage and help.
bool g_print = true;

std::string ProgramUsage() {
  std::string text = "usage: " + std::string(kProgram) + " <subcommand> [flags]\n";
  text += "subcommands:\n";
  for (const SubcommandEntry& entry : kSubcommands) {
    std::string name = "  " + std::string(entry.name);
    name.resize(14, ' ');
    text += name + std::string(entry.summary) + "\n";
  }
  text += "Run '" + std::string(kProgram) + " <subcommand> --help' for its flags.\n";
  return text;
}

int UsageError(std::string_view context, std::string_view problem,
               std::string_view usage) {
  if (!g_print) return 2;
  std::fprintf(stderr, "%.*s: %.*s\n\n%.*s", static_cast<int>(context.size()),
               context.data(), static_cast<int>(problem.size()), problem.data(),
               static_cast<int>(usage.size()), usage.data());
  return 2;
}

int RunSubcommand(const SubcommandEntry& entry, const std::vector<std::string>& args,
                  const parallel::MpiEnvironment& env, BenchContext& context) {
  const std::string command = std::string(kProgram) + " " + std::string(entry.name);
  std::unique_ptr<Subcommand> subcommand = entry.make();
  FlagSet flags(command, std::string(entry.summary));
  subcommand->DeclareFlags(&flags);
  Status status = flags.Parse(args);
  if (status.ok() && flags.help_requested()) {
    if (g_print) std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (status.ok()) status = subcommand->Validate();
  if (!status.ok()) return UsageError(command, status.message(), flags.Usage());
  status = subcommand->Run(context);
  if (!status.ok()) env.Abort(1, command + ": " + status.ToString());
  return 0;
}

int Main(int argc, char** argv) {
  auto env = parallel::MpiEnvironment::Init(&argc, &argv);
  if (!env.ok()) {
    std::fprintf(stderr, "%s: %s\n", std::string(kProgram).c_str(),
                 env.status().ToString().c_str());
    return 1;
  }
  auto world = parallel::MpiCommunicator::World(**env);
  if (!world.ok()) (*env)->Abort(1, world.status().ToString());
  g_print = world->rank() == 0;
  BenchContext context{&*world};

  if (argc < 2) return UsageError(kProgram, "missing subcommand", ProgramUsage());
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    if (g_print) std::fputs(ProgramUsage().c_str(), stdout);
    return 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const SubcommandEntry& entry : kSubcommands) {
    if (entry.name == name) return RunSubcommand(entry, args, **env, context);
  }
  return UsageError(kProgram, "unknown subcommand '" + std::string(name) + "'",
                    ProgramUsage());
}

}  // namespace

Status ValidateTopK(int64_t top_k, int64_t experts) {
  if (top_k > experts) {
    return InvalidArgumentError("--top-k (" + std::to_string(top_k) +
                                ") must not exceed --experts (" +
                                std::to_string(experts) + ")");
  }
  return Status::Ok();
}

Status ValidateThreads(int64_t threads) {
  if (threads > std::numeric_limits<int>::max()) {
    return InvalidArgumentError("--threads: too large, got " + std::to_string(threads));
  }
  return Status::Ok();
}

}  // namespace mpimoe::bench

int main(int argc, char** argv) { return mpimoe::bench::Main(argc, argv); }
