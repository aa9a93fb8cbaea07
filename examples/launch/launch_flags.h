// The command line of mpimoe-launch, parsed with CLI11 through the shared conventions
// of examples/cli/command_line.h (`--flag value` and `--flag=value`, --help exit 0, a
// usage error printed once with the usage and exit 2):
//
//   mpimoe-launch EXPERIMENT [--dry-run] [--only NAME] [--force] [--out DIR]
//
// Exactly one EXPERIMENT; --only takes a non-empty name; a repeated --only or --out
// keeps the last value. The flags are only parsed here: what they select is decided
// by PlanSweep (sweep_plan.h).
//
// Thread-safety: ParseLaunchFlags is called once, from main's thread.
#pragma once

#include <optional>
#include <string>

namespace mpimoe::launch {

struct LaunchFlags {
  std::string experiment;  // the experiment file (.textproto)
  bool dry_run = false;    // print the points and their commands; run nothing
  bool force = false;      // run points even when they finished in an earlier run
  std::string only;        // run only this point (a name or a unique part); "" = all
  std::string out_dir;     // the output directory; "" = the experiment's output_dir
};

// Parses argv into `flags`. Returns std::nullopt when the launcher should run, else
// the exit code to return from main: 0 after --help (usage on stdout), 2 after a usage
// error (the problem and the usage on stderr). `print` = false parses silently (tests).
std::optional<int> ParseLaunchFlags(int argc, const char* const* argv, bool print,
                                    LaunchFlags* flags);

}  // namespace mpimoe::launch
