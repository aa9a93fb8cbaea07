// TrainConfig: the plain C++ form of a training config (configs/mpimoe.proto).
//
// config_loader.h builds it from a .textproto (parse, overrides, validation); every
// other part of mpimoe reads these structs, never protobuf types. Field meanings and
// defaults are those of the proto schema (see its comments); the defaults below repeat
// them for code that builds a config by hand (tests, benchmarks).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/moe/ffn.h"

namespace mpimoe::train {

struct MoeSection {
  int32_t num_experts = 8;
  int32_t top_k = 2;
  int32_t d_ffn = 256;
  moe::Activation activation = moe::Activation::kGelu;
  float capacity_factor = 0.0f;
  bool normalize_gates = true;
  float aux_loss_coef = 0.01f;
  float z_loss_coef = 0.001f;
  float skew = 0.0f;  // experiments only: Zipf router bias (changes the model)
  int32_t skew_drift_steps = 0;
};

struct ModelSection {
  int32_t vocab_size = 0;  // after loading: the resolved vocabulary (never 0)
  int32_t seq_len = 64;
  int32_t d_model = 128;
  int32_t num_layers = 2;
  int32_t num_heads = 4;
  MoeSection moe;
  std::vector<int32_t> dense_layers;
  int32_t dense_d_ffn = 0;  // after loading: resolved (never 0)
  float layernorm_eps = 1e-5f;
  float init_std = 0.02f;
};

enum class DataSource { kSynthetic, kText };
enum class SyntheticTask { kCopy, kReverse, kSort, kModAdd };

struct DataSection {
  DataSource source = DataSource::kSynthetic;
  std::string text_path;
  int32_t global_batch_size = 16;
  int32_t eval_batches = 4;
  float eval_fraction = 0.1f;
  std::vector<SyntheticTask> tasks;  // after loading: never empty for kSynthetic
  int32_t num_symbols = 16;
};

struct OptimizerSection {
  float lr = 3e-3f;
  float min_lr_ratio = 0.1f;
  int32_t warmup_steps = 20;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.01f;
  float grad_clip = 1.0f;
};

// What a step with a non-finite loss or gradient norm does (config run.on_nonfinite).
enum class NonFiniteAction { kStop, kSkipStep };

struct RunSection {
  std::string name;  // after loading: never empty
  int32_t steps = 200;
  uint64_t seed = 1;
  int32_t log_every = 10;
  int32_t eval_every = 50;
  std::string out_dir;  // empty = runs/<name>-<timestamp>
  int32_t warmup_steps_for_timing = 3;
  int32_t checkpoint_every = 0;  // 0 = only at the end
  int32_t keep_checkpoints = 3;  // 0 = all
  NonFiniteAction on_nonfinite = NonFiniteAction::kStop;
  int32_t max_skipped_steps = 10;
};

struct ParallelSection {
  int32_t world_size = 0;
  int32_t threads_per_rank = 0;
  int32_t grad_bucket_kb = 4096;
};

struct BalancerSection {
  std::string policy = "cost_aware";  // static | greedy_place | replicate | cost_aware
  int32_t replica_slots_per_rank = 1;
  int32_t replan_interval = 10;
  float imbalance_high = 1.1f;
  float imbalance_low = 1.05f;
  int32_t plan_lifetime_steps = 100;
  float kappa = 1.0f;
  float min_relative_gain = 0.01f;
  int32_t ema_shift = 3;
  bool fit_cost_online = false;
  float noise_sigmas = 3.0f;          // cost_aware: gain must beat forecast noise
  float cost_expert_gflops = 100.0f;  // cost model: expert fwd+bwd FLOP rate per rank
  float cost_memory_gbps = 10.0f;     // ... memory bandwidth (weight streaming)
  float cost_network_gbps = 5.0f;     // ... rank-to-rank bandwidth (refresh, moves)
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
