// MetricsLog: a run's metrics.jsonl, one JSON object per logged step, owned by rank 0.
//
// A record (MetricsRecord) holds: step, loss (cross-entropy + aux), cross_entropy,
// aux_loss, eval_loss (when evaluated), lr, grad_norm, tokens_per_s, step_ms, phase_ms
// {attention, ..., balancer, comm_wait} (this rank's; comm_wait overlaps the others),
// comm_wait_ms (the same: time blocked in communication calls), expert_tokens
// [layer][E] (global routes),
// expert_rows_per_rank [P], rank_imbalance (max/mean rows), placement_bound, a2a_bytes,
// replica_bytes, migration_bytes (summed over ranks), plan_changes and planner_us (since
// the last record), skipped_steps, and replans (the decisions, when there were any).
//
// A fresh run truncates the file; a resumed run keeps the records of the steps up to
// its checkpoint (later ones belonged to the interrupted life of the run; a torn last
// line is dropped) and appends after them. Every record is flushed as it is written.
//
// Ownership: owns the open file. Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/json.h"
#include "runtime/core/status.h"
#include "runtime/train/step_load.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {

// Everything one record reports.
struct LoggedStep {
  int64_t step = 0;
  const StepRecord* record = nullptr;  // the step's own numbers
  std::optional<double> eval_loss;     // when the step was evaluated
  double tokens_per_s = 0.0;
  RankLoad load;
  std::vector<std::vector<int64_t>> expert_tokens;  // [layer][E]
  double placement_bound = 1.0;
  const PlacementTotals* placement = nullptr;  // since the last record
  int64_t skipped_steps = 0;
};

// The metrics.jsonl object of `step`.
Json MetricsRecord(const LoggedStep& step);

class MetricsLog {
 public:
  // Opens out_dir/metrics.jsonl: truncated when first_step is 1, else trimmed to the
  // records of steps < first_step and appended to.
  static StatusOr<MetricsLog> Open(const std::string& out_dir, int64_t first_step);

  // Writes one record as a line and flushes it.
  Status Append(const LoggedStep& step);

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  MetricsLog(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

// Rewrites the metrics file at `path` (if any) with only its records of steps
// <= last_step, atomically.
Status TrimMetrics(const std::string& path, int64_t last_step);

}  // namespace mpimoe::train
