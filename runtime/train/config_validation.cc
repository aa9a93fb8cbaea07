// config_validation.cc: see config_validation.h. One function per config section; the
// Checker keeps the first failure.
#include "runtime/train/config_validation.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "runtime/train/config_proto.h"
#include "runtime/train/data.h"
#include "runtime/train/quote.h"

namespace mpimoe::train {
namespace {

constexpr int32_t kTextVocabSize = 256;  // byte-level text: every byte is a token

// Shortest text that reads back as the same float.
std::string FormatFloat(float v) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  return std::string(buffer, result.ptr);
}

// Keeps the first failure as "<prefix><field path>: <why>".
class Checker {
 public:
  explicit Checker(std::string prefix) : prefix_(std::move(prefix)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  void Fail(std::string_view path, const std::string& why,
            StatusCode code = StatusCode::kInvalidArgument) {
    if (!status_.ok()) return;
    status_ = Status(code, prefix_ + std::string(path) + ": " + why);
  }

  void Positive(std::string_view path, int64_t v) {
    if (v <= 0) Fail(path, "must be positive, got " + std::to_string(v));
  }
  void NonNegative(std::string_view path, int64_t v) {
    if (v < 0) Fail(path, "must be >= 0, got " + std::to_string(v));
  }
  void PositiveReal(std::string_view path, float v) {
    if (!(v > 0) || !std::isfinite(v)) {
      Fail(path, "must be a positive finite number, got " + FormatFloat(v));
    }
  }
  void NonNegativeReal(std::string_view path, float v) {
    if (!(v >= 0) || !std::isfinite(v)) {
      Fail(path, "must be a finite number >= 0, got " + FormatFloat(v));
    }
  }
  // v in [lo, hi] (or [lo, hi) when !hi_inclusive; (lo, hi...] when !lo_inclusive).
  void RealInRange(std::string_view path, float v, float lo, bool lo_inclusive, float hi,
                   bool hi_inclusive) {
    const bool above = lo_inclusive ? v >= lo : v > lo;
    const bool below = hi_inclusive ? v <= hi : v < hi;
    if (!(above && below)) {
      Fail(path, "must be in " + std::string(lo_inclusive ? "[" : "(") + FormatFloat(lo) +
                     ", " + FormatFloat(hi) + (hi_inclusive ? "]" : ")") + ", got " +
                     FormatFloat(v));
    }
  }

 private:
  std::string prefix_;
  Status status_;
};

void CheckDenseLayers(const ModelSection& m, Checker& check) {
  std::set<int32_t> seen;
  for (int32_t layer : m.dense_layers) {
    if (layer < 0 || layer >= m.num_layers) {
      check.Fail("model.dense_layers", "layer " + std::to_string(layer) +
                                           " is out of range [0, model.num_layers=" +
                                           std::to_string(m.num_layers) + ")");
      return;
    }
    if (!seen.insert(layer).second) {
      check.Fail("model.dense_layers",
                 "layer " + std::to_string(layer) + " listed twice");
      return;
    }
  }
}

void CheckModel(const ModelSection& m, Checker& check) {
  check.NonNegative("model.vocab_size", m.vocab_size);
  check.Positive("model.seq_len", m.seq_len);
  check.Positive("model.d_model", m.d_model);
  check.Positive("model.num_layers", m.num_layers);
  check.Positive("model.num_heads", m.num_heads);
  if (check.ok() && m.d_model % m.num_heads != 0) {
    check.Fail("model.num_heads",
               "must divide model.d_model=" + std::to_string(m.d_model) + ", got " +
                   std::to_string(m.num_heads));
  }
  check.Positive("model.moe.num_experts", m.moe.num_experts);
  if (check.ok() && (m.moe.top_k < 1 || m.moe.top_k > m.moe.num_experts)) {
    check.Fail("model.moe.top_k", "must be in [1, model.moe.num_experts=" +
                                      std::to_string(m.moe.num_experts) + "], got " +
                                      std::to_string(m.moe.top_k));
  }
  check.Positive("model.moe.d_ffn", m.moe.d_ffn);
  check.NonNegativeReal("model.moe.capacity_factor", m.moe.capacity_factor);
  check.NonNegativeReal("model.moe.aux_loss_coef", m.moe.aux_loss_coef);
  check.NonNegativeReal("model.moe.z_loss_coef", m.moe.z_loss_coef);
  check.NonNegativeReal("model.moe.skew", m.moe.skew);
  check.NonNegative("model.moe.skew_drift_steps", m.moe.skew_drift_steps);
  if (check.ok()) CheckDenseLayers(m, check);
  check.NonNegative("model.dense_d_ffn", m.dense_d_ffn);
  check.PositiveReal("model.layernorm_eps", m.layernorm_eps);
  check.PositiveReal("model.init_std", m.init_std);
}

void CheckSyntheticData(const TrainConfig& c, Checker& check) {
  const DataSection& d = c.data;
  check.Positive("data.synthetic.num_symbols", d.num_symbols);
  std::set<SyntheticTask> seen;
  std::string task_names;
  for (SyntheticTask task : d.tasks) {
    if (!seen.insert(task).second) {
      check.Fail("data.synthetic.tasks", std::string(TaskName(task)) + " listed twice");
    }
    task_names += (task_names.empty() ? "" : ", ") + std::string(TaskName(task));
  }
  const int32_t min_seq_len = SyntheticMinSeqLen(d);
  if (check.ok() && c.model.seq_len < min_seq_len) {
    check.Fail("model.seq_len",
               "too short for the synthetic tasks (" + task_names +
                   "): they need at least " + std::to_string(min_seq_len) +
                   " tokens (task, payload, SEP, answer; MOD_ADD needs a 2-symbol "
                   "payload), got " +
                   std::to_string(c.model.seq_len));
  }
}

void CheckTextData(const DataSection& d, Checker& check) {
  if (d.text_path.empty()) {
    check.Fail("data.text_path", "must name a text file when data.source is TEXT");
  } else if (check.ok()) {
    std::error_code ec;
    const auto status = std::filesystem::status(d.text_path, ec);
    if (!std::filesystem::exists(status)) {
      check.Fail("data.text_path", "file " + Quote(d.text_path) + " does not exist",
                 StatusCode::kNotFound);
    } else if (std::filesystem::is_directory(status)) {
      check.Fail("data.text_path", Quote(d.text_path) + " is a directory, not a file");
    }
  }
  if (d.eval_batches > 0 && d.eval_fraction == 0) {
    check.Fail("data.eval_fraction",
               "must be positive for TEXT data with data.eval_batches > 0 (the held-out "
               "part would be empty)");
  }
}

// The data section, and the model fields that must fit the data.
void CheckData(const TrainConfig& c, Checker& check) {
  const DataSection& d = c.data;
  check.Positive("data.global_batch_size", d.global_batch_size);
  check.NonNegative("data.eval_batches", d.eval_batches);
  check.RealInRange("data.eval_fraction", d.eval_fraction, 0, true, 1, false);
  if (d.source == DataSource::kSynthetic) {
    CheckSyntheticData(c, check);
  } else {
    CheckTextData(d, check);
  }
  const int32_t vocab_size = c.model.vocab_size;
  if (check.ok() && vocab_size > 0 && vocab_size < DataVocabSize(d)) {
    check.Fail("model.vocab_size",
               "must be at least " + std::to_string(DataVocabSize(d)) + " (what the " +
                   (d.source == DataSource::kText ? "byte-level text" : "synthetic") +
                   " data needs; 0 = exactly that), got " + std::to_string(vocab_size));
  }
}

void CheckOptimizer(const OptimizerSection& o, Checker& check) {
  check.PositiveReal("optimizer.lr", o.lr);
  check.RealInRange("optimizer.min_lr_ratio", o.min_lr_ratio, 0, true, 1, true);
  check.NonNegative("optimizer.warmup_steps", o.warmup_steps);
  check.RealInRange("optimizer.beta1", o.beta1, 0, true, 1, false);
  check.RealInRange("optimizer.beta2", o.beta2, 0, true, 1, false);
  check.PositiveReal("optimizer.eps", o.eps);
  check.NonNegativeReal("optimizer.weight_decay", o.weight_decay);
  check.NonNegativeReal("optimizer.grad_clip", o.grad_clip);
}

void CheckRun(const RunSection& r, Checker& check) {
  if (r.name.find('/') != std::string::npos || r.name == "." || r.name == "..") {
    check.Fail("run.name", "must not be a path (it names the output directory), got " +
                               Quote(r.name));
  }
  check.Positive("run.steps", r.steps);
  check.Positive("run.log_every", r.log_every);
  check.NonNegative("run.eval_every", r.eval_every);
  check.NonNegative("run.warmup_steps_for_timing", r.warmup_steps_for_timing);
  check.NonNegative("run.checkpoint_every", r.checkpoint_every);
  check.NonNegative("run.keep_checkpoints", r.keep_checkpoints);
  check.Positive("run.max_skipped_steps", r.max_skipped_steps);
}

void CheckParallel(const TrainConfig& c, Checker& check) {
  const ParallelSection& p = c.parallel;
  check.NonNegative("parallel.world_size", p.world_size);
  const int32_t batch = c.data.global_batch_size;
  if (check.ok() && p.world_size > 0 && batch % p.world_size != 0) {
    check.Fail("data.global_batch_size", "must be divisible by parallel.world_size=" +
                                             std::to_string(p.world_size) + ", got " +
                                             std::to_string(batch));
  }
  check.NonNegative("parallel.threads_per_rank", p.threads_per_rank);
  check.Positive("parallel.grad_bucket_kb", p.grad_bucket_kb);
}

void CheckBalancer(const BalancerSection& b, Checker& check) {
  check.NonNegative("balancer.replica_slots_per_rank", b.replica_slots_per_rank);
  check.Positive("balancer.replan_interval", b.replan_interval);
  check.RealInRange("balancer.imbalance_low", b.imbalance_low, 1, true, 1e9, false);
  if (check.ok() && b.imbalance_high < b.imbalance_low) {
    check.Fail("balancer.imbalance_high", "must be >= balancer.imbalance_low");
  }
  check.Positive("balancer.plan_lifetime_steps", b.plan_lifetime_steps);
  check.PositiveReal("balancer.kappa", b.kappa);
  check.RealInRange("balancer.min_relative_gain", b.min_relative_gain, 0, true, 1, false);
  check.RealInRange("balancer.ema_shift", static_cast<float>(b.ema_shift), 0, true, 16,
                    true);
  check.NonNegativeReal("balancer.noise_sigmas", b.noise_sigmas);
  check.PositiveReal("balancer.cost_expert_gflops", b.cost_expert_gflops);
  check.PositiveReal("balancer.cost_memory_gbps", b.cost_memory_gbps);
  check.PositiveReal("balancer.cost_network_gbps", b.cost_network_gbps);
  check.NonNegativeReal("balancer.cost_inter_node_gbps", b.cost_inter_node_gbps);
}

}  // namespace

int32_t DataVocabSize(const DataSection& data) {
  return data.source == DataSource::kText ? kTextVocabSize : SyntheticVocabSize(data);
}

Status ValidateTrainConfig(const TrainConfig& config, const std::string& source_name) {
  Checker check(source_name + ": ");
  CheckModel(config.model, check);
  CheckData(config, check);
  CheckOptimizer(config.optimizer, check);
  CheckRun(config.run, check);
  CheckParallel(config, check);
  CheckBalancer(config.balancer, check);
  return check.status();
}

}  // namespace mpimoe::train
