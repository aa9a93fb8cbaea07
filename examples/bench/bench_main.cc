// mpimoe-bench: benchmarks of mpimoe's compute and communication paths.
//
//   [mpirun -np P] mpimoe-bench <subcommand> [flags]   (<subcommand> --help for flags)
//
// This file starts MPI (a plain start is a one-rank job), builds the command line (one
// CLI11 subcommand per Subcommand), parses it with examples/cli's ParseCommandLine and
// turns the outcome into the exit code: 0 on success or --help, 2 for a usage error
// (missing or unknown subcommand, unknown flag, bad value, a Validate() failure; rank 0
// prints the problem and the usage to stderr; every rank parses the same arguments, so
// all exit together), 1 when the library returns an error Status while running — then
// the whole job is aborted so that no rank waits for a failed one.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "examples/bench/bench_subcommands.h"
#include "examples/cli/command_line.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_environment.h"
#include "runtime/core/status.h"

namespace mpimoe::bench {
namespace {

constexpr char kProgram[] = "mpimoe-bench";

struct SubcommandEntry {
  const char* name;
  const char* summary;
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
    {"allreduce", "the gradient all-reduce: flat against hierarchical (node-aware)",
     NewAllreduceSubcommand},
    {"train", "a config's training step: tokens/s and model FLOP utilisation (mfu)",
     NewTrainSubcommand},
    {"balancer", "balancer planning quality on simulated Zipf routing (--simulate R)",
     NewBalancerSubcommand},
    {"checkpoint", "checkpoint save/load time of a config's model against cp",
     NewCheckpointSubcommand},
};

// Adds `subcommand` as the CLI11 subcommand `entry.name`; its Validate() runs once its
// flags are parsed, and a failure is a usage error of that subcommand.
void AddSubcommand(CLI::App& app, const SubcommandEntry& entry, Subcommand* subcommand) {
  CLI::App* command = app.add_subcommand(entry.name, entry.summary);
  subcommand->DeclareFlags(command);
  command->callback([subcommand] {
    const Status status = subcommand->Validate();
    if (!status.ok()) throw CLI::ValidationError(status.message());
  });
}

// Exactly one subcommand, named first: an unknown word in its place is "unknown
// subcommand 'x'" (CLI11 would call it an unexpected argument), no word is "a
// subcommand is required", `mpimoe-bench help` is --help. The checks run after the
// parse (a final callback), so `--help` anywhere still wins.
void RequireOneKnownSubcommand(CLI::App& app) {
  // Set after the subcommands are added, which copy some of their parent's settings:
  // they keep rejecting extra words, and may have subcommands of their own.
  app.require_subcommand(0, 1);
  app.allow_extras();
  app.callback([&app] {
    const std::vector<std::string> extras = app.remaining();
    if (!app.get_subcommands().empty()) {
      if (!extras.empty()) throw CLI::ExtrasError(extras);
      return;
    }
    if (extras.empty()) throw CLI::RequiredError("a subcommand");
    if (extras.front() == "help") throw CLI::CallForHelp();
    if (extras.front().starts_with("-")) throw CLI::ExtrasError(extras);
    throw CLI::ValidationError("unknown subcommand '" + extras.front() + "'");
  });
}

int Main(int argc, char** argv) {
  auto env = parallel::MpiEnvironment::Init(&argc, &argv);
  if (!env.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, env.status().ToString().c_str());
    return 1;
  }
  auto world = parallel::MpiCommunicator::World(**env);
  if (!world.ok()) (*env)->Abort(1, world.status().ToString());
  BenchContext context{&*world};

  CLI::App app("Benchmarks of mpimoe's compute and communication paths.", kProgram);
  cli::UseProjectStyle(app);
  std::vector<std::unique_ptr<Subcommand>> subcommands;
  for (const SubcommandEntry& entry : kSubcommands) {
    subcommands.push_back(entry.make());
    AddSubcommand(app, entry, subcommands.back().get());
  }
  RequireOneKnownSubcommand(app);
  app.footer(std::string("Run '") + kProgram + " <subcommand> --help' for its flags.");
  if (const std::optional<int> exit_code =
          cli::ParseCommandLine(app, argc, argv, context.is_root())) {
    return *exit_code;
  }
  for (size_t i = 0; i < subcommands.size(); ++i) {
    if (!app.got_subcommand(kSubcommands[i].name)) continue;
    const Status status = subcommands[i]->Run(context);
    if (!status.ok()) {
      (*env)->Abort(1, std::string(kProgram) + " " + kSubcommands[i].name + ": " +
                           status.ToString());
    }
  }
  return 0;
}

}  // namespace
}  // namespace mpimoe::bench

int main(int argc, char** argv) { return mpimoe::bench::Main(argc, argv); }
