// The subcommands of mpimoe-bench. Each one is a Subcommand object owning its options:
// it declares its flags on its CLI11 subcommand (bound to those options, with their
// checks; bench_common_flags.h has the shared pieces), checks relations between flags
// once they are parsed, then runs and prints its report (one JSON line with --json, a
// short human-readable summary otherwise).
//
// bench_main.cc maps exit codes: a flag or Validate() error is a usage error (exit 2),
// a Status from Run() is a library failure (exit 1). A new subcommand adds a factory
// here and a line in bench_main.cc's table.
//
// mpimoe-bench always runs inside MPI (a plain start is a one-rank job): every rank
// parses the same flags and runs the same subcommand; only rank 0 prints.
//
// Thread-safety: one host thread; Run() sets the process's OpenMP thread count.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "parallel/communicator.h"
#include "runtime/core/status.h"

namespace mpimoe::bench {

// What a subcommand runs in: the job's world communicator (size 1 without mpirun).
struct BenchContext {
  parallel::Communicator* world = nullptr;
  bool is_root() const { return world->rank() == 0; }
};

class Subcommand {
 public:
  virtual ~Subcommand() = default;

  // Declares the subcommand's flags on `command`, bound to its options (whose values
  // are the defaults --help shows); called once, before parsing. The Subcommand must
  // outlive the parse.
  virtual void DeclareFlags(CLI::App* command) = 0;
  // InvalidArgument naming the offending flags (e.g. --top-k above --experts), or OK.
  virtual Status Validate() const { return Status::Ok(); }
  // Runs the benchmark (collectively on every rank) and prints its report to stdout
  // on rank 0.
  virtual Status Run(BenchContext& context) = 0;
};

// Expert-FFN forward+backward GFLOP/s against one large oneDNN f32 matmul (the peak).
std::unique_ptr<Subcommand> NewGemmSubcommand();
// MoeLayer forward+backward (experts spread over the ranks) against DenseFfn over T*k
// rows per rank.
std::unique_ptr<Subcommand> NewMoeLayerSubcommand();
// Dispatch + combine of an MoE layer's rows against raw all-to-alls of the same bytes.
std::unique_ptr<Subcommand> NewAlltoallSubcommand();
// The gradient all-reduce: flat against hierarchical, on the job's own topology.
std::unique_ptr<Subcommand> NewAllreduceSubcommand();
// A config's training step: tokens/s and model FLOP utilisation.
std::unique_ptr<Subcommand> NewTrainSubcommand();
// Balancer planning quality on simulated skewed routing (--simulate R, no MPI).
std::unique_ptr<Subcommand> NewBalancerSubcommand();
// Checkpoint save and load time against cp of the same files.
std::unique_ptr<Subcommand> NewCheckpointSubcommand();

}  // namespace mpimoe::bench
