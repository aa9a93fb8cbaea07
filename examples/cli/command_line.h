// ParseCommandLine: how every mpimoe program (mpimoe-train, mpimoe-launch,
// mpimoe-bench) turns its argv into options with CLI11 (Debian's libcli11-dev), with
// one set of conventions:
//   - `--flag value` and `--flag=value`; numbers, ranges and choices are checked by
//     CLI11 validators declared with the option; `--help`/`-h` prints the usage (with
//     defaults) to stdout;
//   - a usage error prints "<program> [<subcommand>]: <problem>" and the usage of the
//     (sub)command to stderr, exactly once: MPI programs parse on every rank but only the
//     printing rank (rank 0) writes.
// The result says whether to run and, if not, the exit code (0 after --help, 2 after a
// usage error), so exit codes never depend on message text.
//
// Thread-safety: call from one thread; `app` is modified (it holds the parse results).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <optional>

namespace mpimoe::cli {

inline constexpr int kUsageExitCode = 2;

// Parses argv into `app`'s bound options. Returns std::nullopt when the program should
// run, otherwise the exit code to return from main.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv,
                                    bool print);

// Checks of numeric option values with messages in the words of our usage errors:
// "--steps: must be positive, got '-1'", "--threads: expected an integer, got 'abc'".
// (CLI11 2.1's own PositiveNumber / NonNegativeNumber are double ranges that let "nan"
// through and print DBL_MAX in full in their message.)
enum class Sign { kPositive, kNonNegative };
// A whole number (decimal, int64) that is positive or non-negative and at most `max`.
CLI::Validator IntegerCheck(Sign sign, int64_t max = std::numeric_limits<int64_t>::max());
// A finite number that is positive or non-negative.
CLI::Validator RealCheck(Sign sign);

// Shows every option's default in --help (for options added after this call) and
// widens the option column: call once on a fresh App.
void UseProjectStyle(CLI::App& app);

}  // namespace mpimoe::cli
