// ParseCommandLine: how every mpimoe program (mpimoe-train, mpimoe-launch,
// mpimoe-bench) turns its argv into options with CLI11 (Debian's libcli11-dev), with
// one set of conventions:
//   - `--flag value` and `--flag=value`; numbers, ranges and choices are checked by
//     CLI11 validators declared with the option; `--help`/`-h` prints the usage (with
//     defaults) to stdout;
//   - a usage error prints "<program>: <problem>" and the usage of the (sub)command to
//     stderr, exactly once: MPI programs parse on every rank but only the printing rank
//     (rank 0) writes.
// The result says whether to run and, if not, the exit code (0 after --help, 2 after a
// usage error), so exit codes never depend on message text.
//
// Thread-safety: call from one thread; `app` is modified (it holds the parse results).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

namespace mpimoe::cli {

inline constexpr int kUsageExitCode = 2;

// Parses argv into `app`'s bound options. Returns std::nullopt when the program should
// run, otherwise the exit code to return from main.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv,
                                    bool print);

// Validators for numeric options with messages a user can read (CLI11's own print the
// bound as a 300-digit double): "--threads: must be a number > 0, got '-1'".
CLI::Validator Positive();     // > 0
CLI::Validator NonNegative();  // >= 0

// The defaults shown in --help for every option added after this call, and no
// "[Option Group: ...]" noise: call once on a fresh App.
void UseProjectStyle(CLI::App& app);

}  // namespace mpimoe::cli
