// launch_flags.cc: see launch_flags.h.
#include "examples/launch/launch_flags.h"

#include <CLI/CLI.hpp>

#include "examples/cli/command_line.h"

namespace mpimoe::launch {
namespace {

constexpr char kDescription[] =
    "Runs a sweep of mpimoe-train jobs described by an experiment file and gathers\n"
    "their results, tables and plots.";

constexpr char kExitCodes[] =
    "Exit codes: 0 all points ok, 1 a point failed, 2 bad input (nothing run),\n"
    "130 stopped by SIGINT/SIGTERM (the running point is stopped and recorded).";

}  // namespace

std::optional<int> ParseLaunchFlags(int argc, const char* const* argv, bool print,
                                    LaunchFlags* flags) {
  CLI::App app{kDescription, "mpimoe-launch"};
  cli::UseProjectStyle(app);
  app.footer(kExitCodes);
  app.add_option("EXPERIMENT", flags->experiment,
                 "a sweep (.textproto, schema configs/experiment.proto)")
      ->required()
      ->type_name("FILE");
  app.add_flag("--dry-run", flags->dry_run,
               "print the points and their commands; run and write nothing");
  app.add_option("--only", flags->only,
                 "run only the point named NAME (exact, or a unique part of a\n"
                 "name); like every point, it is skipped when it finished in an\n"
                 "earlier run with the same config (add --force to run it again)")
      ->type_name("NAME")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Validator(
          [](const std::string& name) {
            return name.empty() ? std::string("needs a non-empty name") : std::string();
          },
          ""));
  app.add_flag("--force", flags->force,
               "run the points even when they finished in an earlier run");
  app.add_option("--out", flags->out_dir,
                 "output directory (default: the experiment's output_dir)")
      ->type_name("DIR")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  return cli::ParseCommandLine(app, argc, argv, print);
}

}  // namespace mpimoe::launch
