// What the subcommands of mpimoe-bench share when they declare their flags on a CLI11
// command (CLI::App): checks of numeric values, the flags several subcommands have
// (--json, --threads, CONFIG with repeatable --set) and checks of relations between
// flags.
//
// The numeric checks are CLI11 validators with messages in the words of the bench's
// usage errors: "--steps: must be positive, got '-1'", "--threads: expected an integer,
// got 'abc'". (CLI11 2.1's own PositiveNumber / NonNegativeNumber are double ranges that
// let "nan" through and print DBL_MAX in full in their message.)
//
// Thread-safety: the functions are pure; a validator is a value.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::bench {

enum class Sign { kPositive, kNonNegative };

// A whole number (decimal, int64) that is positive or non-negative and at most `max`.
CLI::Validator IntegerCheck(Sign sign, int64_t max = std::numeric_limits<int64_t>::max());
// A finite number that is positive or non-negative.
CLI::Validator RealCheck(Sign sign);

// --json: one JSON line instead of a human-readable summary.
void AddJsonFlag(CLI::App* command, bool* json);
// --threads N: the OpenMP thread count (an int); the default is the current one.
void AddThreadsFlag(CLI::App* command, int64_t* threads);
// CONFIG (a training config, required positional) and --set path=value (repeatable,
// one override per occurrence).
void AddConfigArguments(CLI::App* command, std::string* config_path,
                        std::vector<std::string>* overrides);

// InvalidArgument if --top-k exceeds --experts, else OK.
Status ValidateTopK(int64_t top_k, int64_t experts);

}  // namespace mpimoe::bench
