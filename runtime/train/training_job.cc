#include "runtime/train/training_job.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>

#include "parallel/collectives.h"
#include "parallel/quota_split.h"
#include "runtime/core/atomic_file.h"
#include "runtime/core/json.h"
#include "runtime/core/process_stats.h"
#include "runtime/core/timer.h"
#include "runtime/core/trace.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};

Json PhaseObject(const PhaseTimes& phases) {
  Json object = Json::object();
  for (size_t i = 0; i < kPhaseNames.size(); ++i) object[kPhaseNames[i]] = phases.ms[i];
  return object;
}

// What all ranks contribute to a logged step: expert rows computed and bytes sent.
// Placement traffic since the last logged step, on this rank.
struct PlacementTotals {
  int64_t replica_bytes = 0;    // refresh + gradient partials
  int64_t migration_bytes = 0;  // re-plans
  int64_t plan_changes = 0;
  double planner_us = 0.0;
  std::vector<std::string> decisions;
};

struct RankLoad {
  std::vector<int64_t> rows;  // [P]
  int64_t a2a_bytes = 0;
  int64_t replica_bytes = 0;
  int64_t migration_bytes = 0;
  double imbalance = 1.0;
};

Status GatherRankLoad(parallel::Communicator& comm, MoeTransformer& model,
                      const PlacementTotals& totals, RankLoad* load) {
  constexpr size_t kFields = 4;
  int64_t mine[kFields] = {0, 0, totals.replica_bytes, totals.migration_bytes};
  for (moe::MoeLayer* layer : model.MoeLayers()) {
    mine[0] += layer->stats().rows_computed;
    mine[1] += layer->stats().a2a_bytes_sent;
  }
  std::vector<int64_t> all(kFields * static_cast<size_t>(comm.size()));
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(
      comm, std::span<const int64_t>(mine, kFields), std::span<int64_t>(all)));
  load->rows.assign(static_cast<size_t>(comm.size()), 0);
  load->a2a_bytes = load->replica_bytes = load->migration_bytes = 0;
  int64_t max_rows = 0, sum_rows = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const int64_t* f = all.data() + kFields * static_cast<size_t>(r);
    load->rows[static_cast<size_t>(r)] = f[0];
    load->a2a_bytes += f[1];
    load->replica_bytes += f[2];
    load->migration_bytes += f[3];
    max_rows = std::max(max_rows, f[0]);
    sum_rows += f[0];
  }
  load->imbalance = sum_rows > 0 ? static_cast<double>(max_rows) * comm.size() /
                                       static_cast<double>(sum_rows)
                                 : 1.0;
  return Status::Ok();
}

// The worst placement-only imbalance over the MoE layers (expert loads from the
// router's global counts).
double PlacementBoundOf(const std::vector<std::vector<int64_t>>& expert_tokens,
                        int ranks) {
  double bound = 1.0;
  for (const std::vector<int64_t>& loads : expert_tokens) {
    bound = std::max(bound, parallel::PlacementBound(loads, ranks));
  }
  return bound;
}

// Keeps the records of steps <= `last_step` in an existing metrics file (a resumed run
// continues after its checkpoint; later records belonged to the interrupted run).
Status TrimMetrics(const std::string& path, int64_t last_step) {
  std::FILE* in = std::fopen(path.c_str(), "r");
  if (in == nullptr) return Status::Ok();  // nothing to keep
  std::string kept, line;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), in) != nullptr) {
    line += buffer;
    if (line.empty() || line.back() != '\n') continue;  // a longer line: read on
    long long step = 0;
    if (std::sscanf(line.c_str(), "{\"step\":%lld", &step) == 1 && step <= last_step) {
      kept += line;
    }
    line.clear();
  }
  std::fclose(in);
  return WriteFileAtomically(path, kept);
}

// Gathers every rank's events to rank 0 (sizes by Allgather, bytes by Gatherv, so no
// shared filesystem is needed) and returns the merged document there (empty elsewhere).
StatusOr<std::string> MergeTrace(parallel::Communicator& comm,
                                 const TraceRecorder& trace) {
  std::string mine;
  trace.AppendEventsJson(&mine);
  const int ranks = comm.size();
  std::vector<int64_t> sizes(static_cast<size_t>(ranks));
  const int64_t my_size = static_cast<int64_t>(mine.size());
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(comm, std::span<const int64_t>(&my_size, 1),
                                             std::span<int64_t>(sizes))
                             .WithContext("trace sizes"));
  const bool root = comm.rank() == 0;
  std::vector<int64_t> displs(static_cast<size_t>(ranks), 0);
  int64_t total = 0;
  for (int r = 0; r < ranks; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += sizes[static_cast<size_t>(r)];
  }
  std::string all(root ? static_cast<size_t>(total) : 0, '\0');
  parallel::GathervOptions gather;
  gather.root = 0;
  gather.recv_counts = sizes;
  gather.recv_displs = displs;
  MPIMOE_RETURN_IF_ERROR(
      parallel::Gatherv(comm, std::span<const char>(mine), std::span<char>(all), gather)
          .WithContext("trace gather"));
  if (!root) return std::string();
  std::vector<std::string_view> pieces;
  for (int r = 0; r < ranks; ++r) {
    pieces.push_back(
        std::string_view(all).substr(static_cast<size_t>(displs[static_cast<size_t>(r)]),
                                     static_cast<size_t>(sizes[static_cast<size_t>(r)])));
  }
  return TraceDocument(pieces);
}

std::string FormatDuration(double seconds) {
  char buffer[32];
  if (seconds >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%dh%02dm", static_cast<int>(seconds / 3600),
                  static_cast<int>(seconds / 60) % 60);
  } else if (seconds >= 60) {
    std::snprintf(buffer, sizeof(buffer), "%dm%02ds", static_cast<int>(seconds / 60),
                  static_cast<int>(seconds) % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.0fs", seconds);
  }
  return buffer;
}

}  // namespace

std::string DefaultOutputDir(const TrainConfig& config) {
  if (!config.run.out_dir.empty()) return config.run.out_dir;
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &local);
  return "runs/" + config.run.name + "-" + stamp;
}

StatusOr<JobSummary> RunTrainingJob(const TrainConfig& config, const JobOptions& options,
                                    ops::OpsContext* ctx, parallel::Communicator* comm) {
  const bool root = comm->rank() == 0;
  const bool write = root && options.write_outputs;
  Stopwatch wall;
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                          Trainer::Create(config, ctx, comm));
  if (!options.resume_from.empty()) {
    auto resumed = LoadCheckpoint(options.resume_from, *trainer, *comm);
    if (!resumed.ok()) return resumed.status().WithContext(kResumeErrorContext);
    const CheckpointInfo& loaded = *resumed;
    if (root && options.print_progress) {
      std::printf("mpimoe-train: resumed from %s (step %lld, %.1f MB in %.2f s; %s)\n",
                  loaded.dir.c_str(), static_cast<long long>(loaded.step),
                  static_cast<double>(loaded.total_bytes) / 1e6, loaded.seconds,
                  loaded.plans_restored
                      ? "placement restored"
                      : "static placement: other world size or balancer settings");
      if (!loaded.config_changes.empty()) {
        std::printf("mpimoe-train: config changes since the checkpoint:\n%s\n",
                    loaded.config_changes.c_str());
      }
    }
  }
  const int64_t first_step = trainer->next_step();

  // Rank 0's files; every rank learns whether they could be opened.
  std::unique_ptr<std::FILE, FileCloser> metrics;
  Status opened = [&]() -> Status {
    if (!write) return Status::Ok();
    std::error_code error;
    std::filesystem::create_directories(options.out_dir, error);
    if (error) {
      return IoError("cannot create output directory " + options.out_dir + ": " +
                     error.message());
    }
    MPIMOE_RETURN_IF_ERROR(WriteFileAtomically(options.out_dir + "/config.textproto",
                                               EffectiveConfigText(config)));
    const std::string metrics_path = options.out_dir + "/metrics.jsonl";
    if (first_step > 1) {
      MPIMOE_RETURN_IF_ERROR(TrimMetrics(metrics_path, first_step - 1));
      MPIMOE_ASSIGN_OR_RETURN(const std::vector<std::string> abandoned,
                              SetAsideCheckpointsAfter(options.out_dir, first_step - 1));
      for (const std::string& name : abandoned) {
        std::printf("mpimoe-train: %s is later than the resumed step; renamed to %s\n",
                    name.c_str(), (name + ".abandoned").c_str());
      }
    }
    metrics.reset(std::fopen(metrics_path.c_str(), first_step > 1 ? "a" : "w"));
    if (!metrics) return IoError("cannot create " + metrics_path);
    return Status::Ok();
  }();
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(*comm, opened));
  if (root && options.print_progress) {
    std::printf("mpimoe-train: %s on %d rank(s); %s; %lld steps of %lld tokens%s%s\n",
                config.run.name.c_str(), comm->size(),
                trainer->dataset().Describe().c_str(),
                static_cast<long long>(config.run.steps),
                static_cast<long long>(trainer->global_tokens_per_step()),
                write ? "; output in " : "", write ? options.out_dir.c_str() : "");
    std::fflush(stdout);
  }

  // The timeline: every rank's clock starts together (after a barrier).
  std::unique_ptr<TraceRecorder> trace;
  if (options.trace) {
    TraceOptions trace_options;
    trace_options.pid = comm->rank();
    trace_options.max_steps = options.trace_steps;
    trace = std::make_unique<TraceRecorder>(trace_options);
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(*comm).WithContext("trace start"));
    trace->ResetOrigin();
    trainer->SetTrace(trace.get());
  }

  JobSummary summary;
  summary.first_step = first_step;
  summary.model_flops_per_step = trainer->model().TrainFlopsPerStep();
  // Checkpoints (collective: every rank writes its shard); old ones are deleted in the
  // background.
  BackgroundDeleter deleter;
  std::vector<double> save_seconds;
  int64_t checkpoint_bytes = 0;
  int64_t last_saved_step = first_step - 1 > 0 ? first_step - 1 : -1;  // resumed: on disk
  auto save = [&]() -> Status {
    if (!options.write_outputs) return Status::Ok();
    MPIMOE_ASSIGN_OR_RETURN(const CheckpointInfo info,
                            SaveCheckpoint(*trainer, options.out_dir,
                                           config.run.keep_checkpoints, *comm, &deleter));
    save_seconds.push_back(info.seconds);
    checkpoint_bytes = info.total_bytes;
    last_saved_step = info.step;
    summary.last_checkpoint = info.dir;
    if (root && options.print_progress) {
      std::printf("checkpoint %s: %.1f MB in %.2f s\n", info.dir.c_str(),
                  static_cast<double>(info.total_bytes) / 1e6, info.seconds);
      std::fflush(stdout);
    }
    return Status::Ok();
  };
  std::vector<double> step_seconds;
  const int64_t steps = config.run.steps;
  const double tokens_per_step = static_cast<double>(trainer->global_tokens_per_step());
  Stopwatch run_watch;
  PlacementTotals placement;
  for (int64_t step = first_step; step <= steps; ++step) {
    if (options.before_step) options.before_step(step, *trainer);
    StepRecord record;
    const Status stepped = trainer->Step(&record);
    if (stepped.code() == StatusCode::kAborted) {
      // Every rank sees the same non-finite verdict; the state is the last good step's.
      const Status saved =
          last_saved_step == trainer->next_step() - 1 ? Status::Ok() : save();
      return stepped.WithContext(
          saved.ok() ? (options.write_outputs
                            ? "the last good step is saved in " + summary.last_checkpoint
                            : std::string("no checkpoint written"))
                     : "saving the last good step failed too (" + saved.ToString() + ")");
    }
    MPIMOE_RETURN_IF_ERROR(stepped);
    summary.losses.push_back(record.losses.total());
    if (record.skipped && root && options.print_progress) {
      std::printf(
          "step %lld skipped: the loss or gradient is not finite (%lld skipped)\n",
          static_cast<long long>(step), static_cast<long long>(trainer->skipped_steps()));
    }
    placement.replica_bytes +=
        record.placement.replica_refresh_bytes + record.placement.replica_grad_bytes;
    placement.migration_bytes += record.placement.migration_bytes;
    placement.plan_changes += record.placement.plan_changes;
    placement.planner_us += record.placement.planner_us;
    for (const std::string& d : record.placement.decisions) {
      placement.decisions.push_back("step " + std::to_string(step) + ", " + d);
      if (root && options.print_progress)
        std::printf("re-plan at step %lld: %s\n", static_cast<long long>(step),
                    d.c_str());
    }
    if (step >= first_step + config.run.warmup_steps_for_timing && !record.skipped)
      step_seconds.push_back(record.step_ms / 1e3);

    // Metrics record and progress line of this step (when due).
    auto log_step = [&]() -> Status {
      const bool last = step == steps;
      const bool log = step == 1 || last || step % config.run.log_every == 0;
      const bool eval =
          last || (config.run.eval_every > 0 && step % config.run.eval_every == 0);
      if (!log && !eval) return Status::Ok();
      // Statistics of this step's routing, before an evaluation overwrites them.
      RankLoad load;
      std::vector<std::vector<int64_t>> expert_tokens;
      if (log) {
        MPIMOE_RETURN_IF_ERROR(GatherRankLoad(*comm, trainer->model(), placement, &load));
        for (moe::MoeLayer* layer : trainer->model().MoeLayers()) {
          expert_tokens.push_back(layer->router().global_routes_per_expert());
        }
      }
      double eval_loss = 0.0;
      if (eval) {
        MPIMOE_ASSIGN_OR_RETURN(eval_loss, trainer->Evaluate());
        if (last) summary.final_eval_loss = eval_loss;
      }
      if (!log) return Status::Ok();
      const double tokens_per_s = tokens_per_step / (record.step_ms / 1e3);
      if (metrics) {
        Json line = {{"step", step},
                     {"loss", record.losses.total()},
                     {"cross_entropy", record.losses.cross_entropy},
                     {"aux_loss", record.losses.aux}};
        if (eval) line["eval_loss"] = eval_loss;
        line["lr"] = record.lr;
        line["grad_norm"] = record.grad_norm;
        line["tokens_per_s"] = tokens_per_s;
        line["step_ms"] = record.step_ms;
        line["phase_ms"] = PhaseObject(record.phases);
        line["expert_tokens"] = expert_tokens;
        line["expert_rows_per_rank"] = load.rows;
        line["rank_imbalance"] = load.imbalance;
        line["placement_bound"] = PlacementBoundOf(expert_tokens, comm->size());
        line["a2a_bytes"] = load.a2a_bytes;
        line["replica_bytes"] = load.replica_bytes;
        line["migration_bytes"] = load.migration_bytes;
        line["plan_changes"] = placement.plan_changes;
        line["planner_us"] = placement.planner_us;
        line["skipped_steps"] = trainer->skipped_steps();
        if (!placement.decisions.empty()) line["replans"] = placement.decisions;
        std::fprintf(metrics.get(), "%s\n", line.dump().c_str());
        std::fflush(metrics.get());
      }
      placement = PlacementTotals();
      if (root && options.print_progress) {
        const double elapsed = run_watch.ElapsedSeconds();
        const double eta = elapsed / static_cast<double>(step - first_step + 1) *
                           static_cast<double>(steps - step);
        char eval_text[48] = "";
        if (eval) std::snprintf(eval_text, sizeof(eval_text), " | eval %.4f", eval_loss);
        std::printf(
            "step %*lld/%lld | loss %.4f%s | lr %.2e | %8.0f tok/s | %7.1f ms/step | "
            "imbalance %.2f | ETA %s\n",
            static_cast<int>(std::to_string(steps).size()), static_cast<long long>(step),
            static_cast<long long>(steps), record.losses.total(), eval_text, record.lr,
            tokens_per_s, record.step_ms, load.imbalance, FormatDuration(eta).c_str());
        std::fflush(stdout);
      }
      return Status::Ok();
    };
    MPIMOE_RETURN_IF_ERROR(log_step());

    // A stop request on any rank stops every rank after this step, with a checkpoint
    // (after the last step the run simply finishes).
    if (options.stop_requested != nullptr && step < steps) {
      int32_t stop = options.stop_requested->load() != 0 ? 1 : 0;
      MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
          *comm, std::span<int32_t>(&stop, 1), {parallel::ReduceOp::kMax}));
      if (stop != 0) {
        MPIMOE_RETURN_IF_ERROR(save());
        summary.stopped = true;
        if (root && options.print_progress) {
          std::printf(
              "mpimoe-train: stopped on request after step %lld; resume with "
              "--resume %s\n",
              static_cast<long long>(step),
              options.write_outputs ? summary.last_checkpoint.c_str() : "(none)");
          std::fflush(stdout);
        }
        break;
      }
    }
    if (config.run.checkpoint_every > 0 && step % config.run.checkpoint_every == 0) {
      MPIMOE_RETURN_IF_ERROR(save());
    }
  }

  if (!summary.stopped && last_saved_step != trainer->next_step() - 1) {
    MPIMOE_RETURN_IF_ERROR(save());
  }
  summary.skipped_steps = trainer->skipped_steps();
  summary.final_loss = summary.losses.empty() ? 0.0 : summary.losses.back();
  const double median_step_s = Median(step_seconds);
  summary.tokens_per_s = median_step_s > 0.0 ? tokens_per_step / median_step_s : 0.0;
  double peak_rss = PeakRssMb();
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
      *comm, std::span<double>(&peak_rss, 1), {parallel::ReduceOp::kMax}));
  summary.peak_rss_mb = peak_rss;
  if (trace) {
    trainer->SetTrace(nullptr);
    MPIMOE_ASSIGN_OR_RETURN(summary.trace_json, MergeTrace(*comm, *trace));
    if (write) {
      MPIMOE_RETURN_IF_ERROR(
          WriteFileAtomically(options.out_dir + "/trace.json", summary.trace_json));
    }
  }
  summary.wall_s = wall.ElapsedSeconds();
  if (write && !summary.stopped) {
    const Json line = {
        {"name", config.run.name},
        {"final_loss", summary.final_loss},
        {"final_eval_loss", summary.final_eval_loss},
        {"first_loss", summary.losses.empty() ? 0.0 : summary.losses.front()},
        {"tokens_per_s", summary.tokens_per_s},
        {"world_size", comm->size()},
        {"steps", steps},
        {"peak_rss_mb", summary.peak_rss_mb},
        {"wall_s", summary.wall_s},
        {"model_flops_per_step", summary.model_flops_per_step},
        {"first_step", summary.first_step},
        {"skipped_steps", summary.skipped_steps},
        {"checkpoint", summary.last_checkpoint},
        {"checkpoint_mb", static_cast<double>(checkpoint_bytes) / 1e6},
        {"checkpoint_save_s", Median(save_seconds)}};
    MPIMOE_RETURN_IF_ERROR(
        WriteFileAtomically(options.out_dir + "/summary.json", line.dump() + "\n"));
  }
  if (root && options.print_progress && !summary.stopped) {
    std::printf(
        "mpimoe-train: done in %s; loss %.4f -> %.4f, eval %.4f, %.0f tokens/s%s%s\n",
        FormatDuration(summary.wall_s).c_str(),
        summary.losses.empty() ? 0.0 : summary.losses.front(), summary.final_loss,
        summary.final_eval_loss, summary.tokens_per_s, write ? "; results in " : "",
        write ? options.out_dir.c_str() : "");
    std::fflush(stdout);
  }
  return summary;
}

}  // namespace mpimoe::train
