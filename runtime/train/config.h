// TrainConfig: the plain C++ form of a training config (configs/mpimoe.proto).
//
// config_loader.h builds it from a .textproto (parse, overrides, validation); every
// other part of mpimoe reads these structs, never protobuf types. Field meanings and
// defaults are those of the proto schema (see its comments), their one home: the
// members here are value-initialised (zero, false, empty, the first enumerator) and
// are NOT usable defaults. Code that builds a config by hand (tests, benchmarks)
// starts from DefaultTrainConfig() (config_loader.h) and changes what it needs.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/coll_types.h"
#include "runtime/moe/dispatcher.h"
#include "runtime/moe/ffn.h"

namespace mpimoe::train {

struct MoeSection {
  int32_t num_experts{};
  int32_t top_k{};
  int32_t d_ffn{};
  moe::Activation activation{};
  float capacity_factor{};
  bool normalize_gates{};
  float aux_loss_coef{};
  float z_loss_coef{};
  float skew{};  // experiments only: Zipf router bias (changes the model)
  int32_t skew_drift_steps{};
};

struct ModelSection {
  int32_t vocab_size{};  // after loading: the resolved vocabulary (never 0)
  int32_t seq_len{};
  int32_t d_model{};
  int32_t num_layers{};
  int32_t num_heads{};
  MoeSection moe;
  std::vector<int32_t> dense_layers;
  int32_t dense_d_ffn{};  // after loading: resolved (never 0)
  float layernorm_eps{};
  float init_std{};
};

enum class DataSource { kSynthetic, kText };
enum class SyntheticTask { kCopy, kReverse, kSort, kModAdd };

struct DataSection {
  DataSource source{};
  std::string text_path;
  int32_t global_batch_size{};
  int32_t eval_batches{};
  float eval_fraction{};
  std::vector<SyntheticTask> tasks;  // after loading: never empty for kSynthetic
  int32_t num_symbols{};
};

struct OptimizerSection {
  float lr{};
  float min_lr_ratio{};
  int32_t warmup_steps{};
  float beta1{};
  float beta2{};
  float eps{};
  float weight_decay{};
  float grad_clip{};
};

// What a step with a non-finite loss or gradient norm does (config run.on_nonfinite).
enum class NonFiniteAction { kStop, kSkipStep };

struct RunSection {
  std::string name;  // after loading: never empty
  int32_t steps{};
  uint64_t seed{};
  int32_t log_every{};
  int32_t eval_every{};
  std::string out_dir;  // empty = runs/<name>-<timestamp>
  int32_t warmup_steps_for_timing{};
  int32_t checkpoint_every{};  // 0 = only at the end
  int32_t keep_checkpoints{};  // 0 = all
  NonFiniteAction on_nonfinite{};
  int32_t max_skipped_steps{};
};

struct ParallelSection {
  int32_t world_size{};
  int32_t threads_per_rank{};
  int32_t grad_bucket_kb{};
  parallel::AllreduceAlgorithm allreduce_algorithm{};
  moe::WireDType a2a_wire_dtype{};
  parallel::AlltoallAlgorithm a2a_algorithm{};
};

struct BalancerSection {
  std::string policy;  // static | greedy_place | replicate | cost_aware
  int32_t replica_slots_per_rank{};
  int32_t replan_interval{};
  float imbalance_high{};
  float imbalance_low{};
  int32_t plan_lifetime_steps{};
  float kappa{};
  float min_relative_gain{};
  int32_t ema_shift{};
  bool fit_cost_online{};
  float noise_sigmas{};          // cost_aware: gain must beat forecast noise
  float cost_expert_gflops{};    // cost model: expert fwd+bwd FLOP rate per rank
  float cost_memory_gbps{};      // ... memory bandwidth (weight streaming)
  float cost_network_gbps{};     // ... rank-to-rank bandwidth (refresh, moves)
  float cost_inter_node_gbps{};  // ... across nodes; 0 = measured at start-up
};

struct TrainConfig {
  ModelSection model;
  DataSection data;
  OptimizerSection optimizer;
  RunSection run;
  ParallelSection parallel;
  BalancerSection balancer;
};

}  // namespace mpimoe::train
