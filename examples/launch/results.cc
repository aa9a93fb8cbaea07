// results.cc: summary.json / metrics.jsonl reading and the results tables (see
// results.h).
#include "examples/launch/results.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <type_traits>

#include "runtime/core/file_io.h"
#include "runtime/core/json.h"

namespace mpimoe::launch {
namespace {

// The file's contents; a missing file is NotFound "<path>: cannot open".
StatusOr<std::string> ReadFile(const std::string& path) {
  StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) {
    return NotFoundError(path + ": cannot open");
  }
  return text;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string MdCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += (c == '\n' ? ' ' : c);
  }
  return out;
}

// The value columns of a row (after point, axes, rep), as text.
std::vector<std::string> ValueCells(const ResultRow& row, int digits) {
  std::vector<std::string> cells = {PointStatusName(row.status)};
  const auto number = [&](std::optional<double> v) {
    return v ? FormatNumber(*v, digits) : std::string();
  };
  const std::optional<RunSummary>& s = row.summary;
  cells.push_back(number(s ? std::optional(s->final_loss) : std::nullopt));
  cells.push_back(number(s ? std::optional(s->final_eval_loss) : std::nullopt));
  cells.push_back(number(s ? std::optional(std::round(s->tokens_per_s)) : std::nullopt));
  cells.push_back(number(row.rank_imbalance));
  cells.push_back(number(s ? std::optional(s->peak_rss_mb) : std::nullopt));
  cells.push_back(number(s ? std::optional(s->wall_s) : std::nullopt));
  cells.push_back(row.failure);
  return cells;
}

}  // namespace

std::string FormatNumber(double v, int significant) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  // Whole numbers up to 1e9 print in full (tokens/s, MB).
  if (v == std::round(v) && std::abs(v) < 1e9) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.0f", v);
    return buffer;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*g", significant, v);
  return buffer;
}

const char* PointStatusName(PointStatus status) {
  switch (status) {
    case PointStatus::kOk:
      return "ok";
    case PointStatus::kResumed:
      return "ok (earlier run)";
    case PointStatus::kFailed:
      return "failed";
    case PointStatus::kNotRun:
      return "not run";
    case PointStatus::kInterrupted:
      return "interrupted";
  }
  return "?";
}

StatusOr<RunSummary> ParseSummary(const std::string& text, const std::string& source) {
  MPIMOE_ASSIGN_OR_RETURN(const Json json, ParseJson(text, source));
  if (!json.is_object()) return InvalidArgumentError(source + ": not a JSON object");
  RunSummary s;
  const auto need = [&](const char* key, auto* out) -> Status {
    const auto it = json.find(key);
    if (it == json.end() || !it->is_number()) {
      return InvalidArgumentError(source + ": incomplete: no number \"" +
                                  std::string(key) + "\"");
    }
    *out = it->template get<std::remove_pointer_t<decltype(out)>>();
    return Status::Ok();
  };
  MPIMOE_RETURN_IF_ERROR(need("final_loss", &s.final_loss));
  MPIMOE_RETURN_IF_ERROR(need("final_eval_loss", &s.final_eval_loss));
  MPIMOE_RETURN_IF_ERROR(need("tokens_per_s", &s.tokens_per_s));
  MPIMOE_RETURN_IF_ERROR(need("world_size", &s.world_size));
  MPIMOE_RETURN_IF_ERROR(need("steps", &s.steps));
  MPIMOE_RETURN_IF_ERROR(need("peak_rss_mb", &s.peak_rss_mb));
  MPIMOE_RETURN_IF_ERROR(need("wall_s", &s.wall_s));
  return s;
}

StatusOr<RunSummary> ReadSummary(const std::string& path) {
  MPIMOE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseSummary(text, path);
}

StatusOr<std::vector<MetricsRecord>> ParseMetrics(const std::string& text,
                                                  const std::string& source) {
  std::vector<MetricsRecord> records;
  std::istringstream in(text);
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = source + ":" + std::to_string(line_number);
    MPIMOE_ASSIGN_OR_RETURN(const Json json, ParseJson(line, where));
    const auto number = [&json](const char* key) -> std::optional<double> {
      const auto it = json.is_object() ? json.find(key) : json.end();
      if (it == json.end() || !it->is_number()) return std::nullopt;
      return it->get<double>();
    };
    const std::optional<double> step = number("step");
    const std::optional<double> loss = number("loss");
    if (!step || !loss) {
      return InvalidArgumentError(where +
                                  ": a record needs numbers \"step\" and \"loss\"");
    }
    MetricsRecord r;
    r.step = static_cast<int64_t>(*step);
    r.loss = *loss;
    r.eval_loss = number("eval_loss");
    r.rank_imbalance = number("rank_imbalance");
    if (const auto layers = json.find("expert_tokens"); layers != json.end()) {
      if (!layers->is_array()) {
        return InvalidArgumentError(where + ": \"expert_tokens\" is not an array");
      }
      for (const Json& layer : *layers) {
        if (!layer.is_array()) {
          return InvalidArgumentError(where +
                                      ": \"expert_tokens\" is not an array of arrays");
        }
        std::vector<double> counts;
        for (const Json& c : layer) {
          if (!c.is_number()) {
            return InvalidArgumentError(where + ": \"expert_tokens\" holds a non-number");
          }
          counts.push_back(c.get<double>());
        }
        r.expert_tokens.push_back(std::move(counts));
      }
    }
    records.push_back(std::move(r));
  }
  return records;
}

StatusOr<std::vector<MetricsRecord>> ReadMetrics(const std::string& path) {
  MPIMOE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseMetrics(text, path);
}

std::optional<double> MeanRankImbalance(const std::vector<MetricsRecord>& records) {
  double sum = 0;
  int n = 0;
  for (const MetricsRecord& r : records) {
    if (r.rank_imbalance) {
      sum += *r.rank_imbalance;
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

namespace {
const char* const kValueColumns[] = {"status",       "final_loss",     "eval_loss",
                                     "tokens_per_s", "rank_imbalance", "peak_rss_mb",
                                     "wall_s",       "failure"};
const char* const kValueTitles[] = {"status",   "final loss",     "eval loss",
                                    "tokens/s", "rank imbalance", "peak RSS (MB)",
                                    "wall (s)", "failure"};
}  // namespace

std::string ResultsCsv(const std::vector<std::string>& axis_labels,
                       const std::vector<ResultRow>& rows) {
  std::string out = "point";
  for (const std::string& label : axis_labels) out += "," + CsvField(label);
  out += ",rep";
  for (const char* column : kValueColumns) out += std::string(",") + column;
  out += "\n";
  for (const ResultRow& row : rows) {
    out += CsvField(row.name);
    for (const std::string& v : row.axis_values) out += "," + CsvField(v);
    out += "," + std::to_string(row.repeat);
    for (const std::string& cell : ValueCells(row, 7)) out += "," + CsvField(cell);
    out += "\n";
  }
  return out;
}

std::string ResultsMarkdown(const std::string& title,
                            const std::vector<std::string>& axis_labels,
                            const std::vector<ResultRow>& rows) {
  bool any_repeat = false, any_failure = false;
  for (const ResultRow& row : rows) {
    any_repeat |= row.repeat > 0;
    any_failure |= !row.failure.empty();
  }
  // Without axes the point name is the only key.
  std::vector<std::string> header;
  if (axis_labels.empty()) header.push_back("point");
  for (const std::string& label : axis_labels) header.push_back(label);
  if (any_repeat) header.push_back("rep");
  for (const char* t : kValueTitles) header.push_back(t);
  if (!any_failure) header.pop_back();

  std::string out = "## " + MdCell(title) + "\n\n|";
  std::string rule = "|";
  for (const std::string& h : header) {
    out += " " + MdCell(h) + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (const ResultRow& row : rows) {
    std::vector<std::string> cells = row.axis_values;
    if (axis_labels.empty()) cells = {row.name};
    if (any_repeat) cells.push_back(std::to_string(row.repeat));
    for (const std::string& cell : ValueCells(row, 4)) cells.push_back(cell);
    if (!any_failure) cells.pop_back();
    out += "|";
    for (const std::string& c : cells) out += " " + MdCell(c) + " |";
    out += "\n";
  }
  return out;
}

}  // namespace mpimoe::launch
