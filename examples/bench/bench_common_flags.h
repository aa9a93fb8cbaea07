// What the subcommands of mpimoe-bench share when they declare their flags on a CLI11
// command (CLI::App): the flags several subcommands have (--json, --threads, CONFIG with
// repeatable --set) and checks of relations between flags. The checks of numeric values
// are the programs' common ones (examples/cli/command_line.h).
//
// Thread-safety: the functions are pure; a validator is a value.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "examples/cli/command_line.h"
#include "runtime/core/status.h"

namespace mpimoe::bench {

using cli::IntegerCheck;
using cli::RealCheck;
using cli::Sign;

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
