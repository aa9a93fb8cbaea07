// The options of `mpimoe-bench balancer`, shared by its simulation (bench_balancer.cc)
// and MPI (bench_balancer_mpi.cc) modes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examples/bench/bench_subcommands.h"
#include "runtime/core/status.h"

namespace mpimoe::bench {

struct BalancerBenchOptions {
  int64_t simulate = 0;
  int64_t experts = 64;
  int64_t top_k = 2;
  double skew = 1.0;
  int64_t drift = 0;
  int64_t slots = 1;
  int64_t steps = 200;
  int64_t warmup = 20;
  int64_t routes_per_rank = 16384;
  int64_t replan_interval = 10;
  int64_t seed = 1;
  // Simulation: ranks per node (0 = one node). With nodes, copies across nodes cost
  // kInterNodeSlowdown times more to refresh, create and move, and the report adds the
  // inter-node bytes per step and a topology-blind cost_aware for comparison.
  int64_t ranks_per_node = 0;
  bool json = false;
  // MPI mode only.
  std::string policy = "cost_aware";
  int64_t tokens = 1024;  // tokens per rank per step
  int64_t d_model = 256;
  int64_t d_ffn = 1024;
  int64_t repeats = 1;            // interleaved repeats of every configuration
  std::vector<std::string> also;  // further policies measured in the same run
  bool calibrate = false;         // measure the cost model's constants first
  // Router load-balancing aux loss of the trained model. The default 0 keeps the forced
  // skew in place: at the config default 0.01 the router learns to cancel it within a
  // few dozen steps (static rank imbalance 1.5-1.6 at step 10, 1.14 by step 30).
  double aux_loss = 0.0;
  bool verbose = false;  // print every re-plan decision (stderr)
};

// MPI mode: trains a small MoE transformer with forced skew through the real trainer on
// `context.world`, for the chosen policy, the static placement and uniform routing.
Status RunBalancerMpi(const BalancerBenchOptions& o, BenchContext& context);

}  // namespace mpimoe::bench
