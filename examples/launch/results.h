// Results of a sweep: reading one run's summary.json and metrics.jsonl (written by
// mpimoe-train: runtime/train/training_job.cc and metrics_log.cc) into plain values, and
// rendering the sweep's table as CSV (RFC 4180 quoting) and Markdown. Rendering is pure:
// the launcher writes the text atomically.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::launch {

// summary.json of a finished run. Complete = every field below present as a number.
struct RunSummary {
  double final_loss = 0;
  double final_eval_loss = 0;
  double tokens_per_s = 0;
  int world_size = 0;
  int64_t steps = 0;
  double peak_rss_mb = 0;
  double wall_s = 0;
};

// One metrics.jsonl record (a logged step).
struct MetricsRecord {
  int64_t step = 0;
  double loss = 0;
  std::optional<double> eval_loss;
  std::optional<double> rank_imbalance;
  // expert_tokens[layer][expert]: tokens routed to each expert of each MoE layer.
  std::vector<std::vector<double>> expert_tokens;
};

// Reads summary.json; an error (NotFound, or InvalidArgument naming the missing field)
// when it is absent, malformed or incomplete.
StatusOr<RunSummary> ReadSummary(const std::string& path);
StatusOr<RunSummary> ParseSummary(const std::string& text, const std::string& source);

// Reads metrics.jsonl: one record per non-empty line; errors name the line.
StatusOr<std::vector<MetricsRecord>> ReadMetrics(const std::string& path);
StatusOr<std::vector<MetricsRecord>> ParseMetrics(const std::string& text,
                                                  const std::string& source);

// Mean rank_imbalance over the records that have it; nullopt when none does.
std::optional<double> MeanRankImbalance(const std::vector<MetricsRecord>& records);

// What happened to a point.
enum class PointStatus {
  kOk,           // ran now and finished
  kResumed,      // finished in an earlier run of the launcher, skipped
  kFailed,       // ran and failed (exit code, time-out, or no complete summary.json)
  kNotRun,       // not run (--only chose another, or the sweep was interrupted)
  kInterrupted,  // stopped by SIGINT/SIGTERM to the launcher; runs again next time
};
const char* PointStatusName(PointStatus status);

// One row of the results table.
struct ResultRow {
  std::string name;
  std::vector<std::string> axis_values;  // one per axis
  int repeat = 0;
  PointStatus status = PointStatus::kNotRun;
  std::string failure;  // e.g. "exit code 1" for kFailed
  std::optional<RunSummary> summary;
  std::optional<double> rank_imbalance;  // mean over logged steps
};

// results.csv: header "point,<axis labels>,rep,status,final_loss,eval_loss,tokens_per_s,
// rank_imbalance,peak_rss_mb,wall_s,failure"; unknown numbers are empty.
std::string ResultsCsv(const std::vector<std::string>& axis_labels,
                       const std::vector<ResultRow>& rows);
// results.md: a title line, then a Markdown table with the same columns.
std::string ResultsMarkdown(const std::string& title,
                            const std::vector<std::string>& axis_labels,
                            const std::vector<ResultRow>& rows);

// `v` with `significant` significant digits, shortest form ("0.512", "1.2e+04").
std::string FormatNumber(double v, int significant = 4);

}  // namespace mpimoe::launch
