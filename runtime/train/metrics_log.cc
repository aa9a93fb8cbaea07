// metrics_log.cc: see metrics_log.h.
#include "runtime/train/metrics_log.h"

#include <fstream>
#include <utility>

#include "runtime/core/atomic_file.h"
#include "runtime/train/phase_times.h"

namespace mpimoe::train {

Json MetricsRecord(const LoggedStep& s) {
  const StepRecord& r = *s.record;
  Json phases = Json::object();
  for (size_t i = 0; i < kPhaseNames.size(); ++i) phases[kPhaseNames[i]] = r.phases.ms[i];
  Json line = {{"step", s.step},
               {"loss", r.losses.total()},
               {"cross_entropy", r.losses.cross_entropy},
               {"aux_loss", r.losses.aux}};
  if (s.eval_loss) line["eval_loss"] = *s.eval_loss;
  line["lr"] = FloatForJson(r.lr);
  line["grad_norm"] = r.grad_norm;
  line["tokens_per_s"] = s.tokens_per_s;
  line["step_ms"] = r.step_ms;
  line["phase_ms"] = std::move(phases);
  line["comm_wait_ms"] = r.phases.Get(Phase::kCommWait);
  line["expert_tokens"] = s.expert_tokens;
  line["expert_rows_per_rank"] = s.load.rows;
  line["rank_imbalance"] = s.load.imbalance;
  line["placement_bound"] = s.placement_bound;
  line["a2a_bytes"] = s.load.a2a_bytes;
  line["replica_bytes"] = s.load.replica_bytes;
  line["migration_bytes"] = s.load.migration_bytes;
  line["plan_changes"] = s.placement->plan_changes;
  line["planner_us"] = s.placement->planner_us;
  line["skipped_steps"] = s.skipped_steps;
  if (!s.placement->decisions.empty()) line["replans"] = s.placement->decisions;
  return line;
}

Status TrimMetrics(const std::string& path, int64_t last_step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Ok();  // nothing to keep
  std::string kept, line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline: a line torn by a crash
    StatusOr<Json> record = ParseJson(line, path);
    if (!record.ok() || !record->is_object()) continue;
    const auto step = record->find("step");
    if (step != record->end() && step->is_number_integer() &&
        step->get<int64_t>() <= last_step) {
      kept += line;
      kept += '\n';
    }
  }
  if (in.bad()) return IoError("reading " + path + " failed");
  return WriteFileAtomically(path, kept);
}

StatusOr<MetricsLog> MetricsLog::Open(const std::string& out_dir, int64_t first_step) {
  const std::string path = out_dir + "/metrics.jsonl";
  if (first_step > 1) MPIMOE_RETURN_IF_ERROR(TrimMetrics(path, first_step - 1));
  std::FILE* file = std::fopen(path.c_str(), first_step > 1 ? "a" : "w");
  if (file == nullptr) return IoError("cannot create " + path);
  return MetricsLog(path, file);
}

Status MetricsLog::Append(const LoggedStep& step) {
  const std::string line = DumpJson(MetricsRecord(step)) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0) {
    return IoError("cannot write " + path_);
  }
  return Status::Ok();
}

}  // namespace mpimoe::train
