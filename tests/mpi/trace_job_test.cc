// MPI test of --trace (JobOptions::trace): recording a timeline never changes the math
// (per-step losses bitwise equal with and without tracing, with a balancer that
// re-plans), and the document rank 0 gathers through the communicator is valid JSON with
// one process per rank, every phase, and properly nested events per thread.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "runtime/core/json.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/training_job.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/tools/trace_check.h"

namespace mpimoe::train {
namespace {

using mpimoe::testing::World;

// Two MoE blocks and a dense one; the replicate policy re-plans every 2 steps, so the
// balancer phase moves weights (replicas) while tracing.
const char kConfig[] = R"pb(
  model {
    seq_len: 10
    d_model: 16
    num_layers: 3
    num_heads: 2
    dense_layers: 1
    moe { num_experts: 6 top_k: 2 d_ffn: 24 skew: 1.5 }
  }
  data {
    global_batch_size: 12
    eval_batches: 1
    synthetic { num_symbols: 6 }
  }
  balancer { policy: REPLICATE replica_slots_per_rank: 1 replan_interval: 2 }
  run { steps: 6 seed: 11 log_every: 2 eval_every: 3 }
)pb";

StatusOr<JobSummary> TrainJob(bool trace) {
  MPIMOE_ASSIGN_OR_RETURN(TrainConfig config,
                          ParseTrainConfig(kConfig, "trace.textproto", {}));
  JobOptions options;
  options.write_outputs = false;
  options.print_progress = false;
  options.trace = trace;
  options.trace_steps = 4;
  ops::OpsContext ctx;
  return RunTrainingJob(config, options, &ctx, &World());
}

TEST(TraceJobTest, TracingDoesNotChangeTheLossesAndMergesEveryRank) {
  StatusOr<JobSummary> plain = TrainJob(false);
  StatusOr<JobSummary> traced = TrainJob(true);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  ASSERT_TRUE(traced.ok()) << traced.status().ToString();
  ASSERT_EQ(plain->losses.size(), 6u);
  ASSERT_EQ(traced->losses.size(), 6u);
  EXPECT_EQ(std::memcmp(plain->losses.data(), traced->losses.data(),
                        plain->losses.size() * sizeof(double)),
            0);
  EXPECT_EQ(plain->final_eval_loss, traced->final_eval_loss);
  EXPECT_TRUE(plain->trace_json.empty());
  if (World().rank() != 0) {
    EXPECT_TRUE(traced->trace_json.empty());
    return;
  }
  const StatusOr<Json> parsed = ParseJson(traced->trace_json, "trace.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Json& doc = *parsed;
  mpimoe::testing::TraceCheckOptions options;
  options.num_ranks = World().size();
  options.required_names = {"step",     "attention", "router",    "dispatch",
                            "experts",  "combine",   "dense_ffn", "embed_head",
                            "backward", "grad_sync", "optimizer", "balancer",
                            "alltoall", "alltoallv", "allreduce", "eval"};
  if (World().size() > 1) options.required_names.push_back("allreduce_wait");
  const mpimoe::testing::TraceCheckResult result =
      mpimoe::testing::CheckTrace(doc, options);
  for (const std::string& e : result.errors) ADD_FAILURE() << e;
  EXPECT_GE(result.max_depth, 3);  // step > phase > communication
  // trace_steps = 4 of 6 steps: steps 3..6 per rank.
  size_t steps = 0;
  for (const Json& e : doc.at("traceEvents")) {
    if (e.at("name") != "step") continue;
    ++steps;
    EXPECT_GE(e.at("args").at("step").get<double>(), 3);
  }
  EXPECT_EQ(steps, 4u * static_cast<size_t>(World().size()));
}

}  // namespace
}  // namespace mpimoe::train
