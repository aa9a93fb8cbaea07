// training_job.cc: see training_job.h. A TrainingJob object holds what a run needs
// between steps; its Run() is the step loop: step, account, log, stop or checkpoint.
#include "runtime/train/training_job.h"

#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "parallel/collectives.h"
#include "runtime/core/atomic_file.h"
#include "runtime/core/background_deleter.h"
#include "runtime/core/json.h"
#include "runtime/core/process_stats.h"
#include "runtime/core/timer.h"
#include "runtime/core/trace.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/metrics_log.h"
#include "runtime/train/progress.h"
#include "runtime/train/step_load.h"
#include "runtime/train/trace_merge.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {
namespace {

// A checkpoint that cannot be loaded (missing, corrupt, another model) is bad input,
// agreed on every rank; anything else (an I/O failure) is a failure of the job.
Status ResumeError(const Status& error) {
  const bool bad_input = error.code() == StatusCode::kInvalidArgument ||
                         error.code() == StatusCode::kNotFound;
  const Status in_context = error.WithContext("cannot resume");
  return bad_input ? FailedPreconditionError(in_context.message()) : in_context;
}

// One training run (see training_job.h): Start, then Run.
class TrainingJob {
 public:
  TrainingJob(const TrainConfig& config, const JobOptions& options, ops::OpsContext* ctx,
              parallel::Communicator* comm)
      : config_(config),
        options_(options),
        ctx_(ctx),
        comm_(*comm),
        write_(comm->rank() == 0 && options.write_outputs),
        progress_(comm->rank() == 0 && options.print_progress, config.run.steps) {}

  // The trainer (resumed if asked), rank 0's files, the timeline.
  Status Start();
  // The step loop, then the last checkpoint, summary.json and the closing line.
  StatusOr<JobSummary> Run();

 private:
  Status OpenOutputs();
  void StartTrace();
  // A step's bookkeeping: losses, placement traffic, timing samples.
  void Account(int64_t step, const StepRecord& record);
  // Evaluation, metrics record and progress line of `step`, when due.
  Status Log(int64_t step, const StepRecord& record);
  // Whether any rank was asked to stop (one tiny all-reduce).
  StatusOr<bool> StopRequested();
  Status SaveCheckpoint();
  // kAborted on every rank: the state is the last good step's; save it and say where.
  Status StopOnNonFinite(const Status& stepped);
  Status Finish();
  Status WriteSummary() const;

  const TrainConfig& config_;
  const JobOptions& options_;
  ops::OpsContext* ctx_;
  parallel::Communicator& comm_;
  const bool write_;  // rank 0 writes the run's files
  Progress progress_;
  Stopwatch wall_;
  std::unique_ptr<Trainer> trainer_;
  std::optional<MetricsLog> metrics_;
  std::unique_ptr<TraceRecorder> trace_;
  BackgroundDeleter deleter_;  // old checkpoints go in the background
  JobSummary summary_;
  PlacementTotals placement_;  // since the last logged step
  std::vector<double> step_seconds_;
  std::vector<double> save_seconds_;
  int64_t checkpoint_bytes_ = 0;
  int64_t last_saved_step_ = -1;  // on disk already (a resumed run's checkpoint)
};

Status TrainingJob::Start() {
  MPIMOE_ASSIGN_OR_RETURN(trainer_, Trainer::Create(config_, ctx_, &comm_));
  if (!options_.resume_from.empty()) {
    auto resumed = LoadCheckpoint(options_.resume_from, *trainer_, comm_);
    if (!resumed.ok()) return ResumeError(resumed.status());
    progress_.Resumed(*resumed);
    last_saved_step_ = resumed->step;
    summary_.last_checkpoint = resumed->dir;
  }
  summary_.first_step = trainer_->next_step();
  summary_.model_flops_per_step = trainer_->model().TrainFlopsPerStep();
  MPIMOE_RETURN_IF_ERROR(parallel::AgreeOnStatus(comm_, OpenOutputs()));
  progress_.Started(config_, comm_.size(), comm_.topology().num_nodes,
                    trainer_->dataset().Describe(), trainer_->global_tokens_per_step(),
                    write_ ? options_.out_dir : "");
  if (comm_.topology().num_nodes > 1) {
    progress_.InterNodeLinks(trainer_->inter_node_bytes_per_s(),
                             trainer_->inter_node_measured());
  }
  if (options_.trace) {
    // Every rank's clock starts together.
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(comm_).WithContext("trace start"));
    StartTrace();
  }
  return Status::Ok();
}

Status TrainingJob::OpenOutputs() {
  if (!write_) return Status::Ok();
  const std::string& dir = options_.out_dir;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return IoError("cannot create output directory " + dir + ": " + error.message());
  }
  MPIMOE_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/config.textproto", EffectiveConfigText(config_)));
  const int64_t first_step = summary_.first_step;
  if (first_step > 1) {
    MPIMOE_ASSIGN_OR_RETURN(const std::vector<std::string> abandoned,
                            SetAsideCheckpointsAfter(dir, first_step - 1));
    for (const std::string& name : abandoned) progress_.SetAside(name);
  }
  MPIMOE_ASSIGN_OR_RETURN(metrics_, MetricsLog::Open(dir, first_step));
  return Status::Ok();
}

void TrainingJob::StartTrace() {
  TraceOptions trace_options;
  trace_options.pid = comm_.rank();
  trace_options.max_steps = options_.trace_steps;
  trace_ = std::make_unique<TraceRecorder>(trace_options);
  trace_->ResetOrigin();
  trainer_->SetTrace(trace_.get());
}

StatusOr<JobSummary> TrainingJob::Run() {
  const int64_t steps = config_.run.steps;
  progress_.StartClock(summary_.first_step);
  for (int64_t step = summary_.first_step; step <= steps; ++step) {
    if (options_.before_step) options_.before_step(step, *trainer_);
    StepRecord record;
    const Status stepped = trainer_->Step(&record);
    if (stepped.code() == StatusCode::kAborted) return StopOnNonFinite(stepped);
    MPIMOE_RETURN_IF_ERROR(stepped);
    Account(step, record);
    MPIMOE_RETURN_IF_ERROR(Log(step, record));
    if (step == steps) break;  // the run simply finishes
    MPIMOE_ASSIGN_OR_RETURN(const bool stop, StopRequested());
    if (stop) {
      MPIMOE_RETURN_IF_ERROR(SaveCheckpoint());
      summary_.stopped = true;
      progress_.Stopped(step, summary_.last_checkpoint);
      break;
    }
    const int32_t every = config_.run.checkpoint_every;
    if (every > 0 && step % every == 0) MPIMOE_RETURN_IF_ERROR(SaveCheckpoint());
  }
  MPIMOE_RETURN_IF_ERROR(Finish());
  return std::move(summary_);
}

void TrainingJob::Account(int64_t step, const StepRecord& record) {
  summary_.losses.push_back(record.losses.total());
  if (record.skipped) progress_.Skipped(step, trainer_->skipped_steps());
  placement_.Add(step, record.placement);
  for (const std::string& d : record.placement.decisions) progress_.Replanned(step, d);
  if (step >= summary_.first_step + config_.run.warmup_steps_for_timing &&
      !record.skipped) {
    step_seconds_.push_back(record.step_ms / 1e3);
  }
}

Status TrainingJob::Log(int64_t step, const StepRecord& record) {
  const RunSection& run = config_.run;
  const bool last = step == run.steps;
  const bool log = step == 1 || last || step % run.log_every == 0;
  const bool eval = last || (run.eval_every > 0 && step % run.eval_every == 0);
  if (!log && !eval) return Status::Ok();
  LoggedStep logged;
  logged.step = step;
  logged.record = &record;
  logged.placement = &placement_;
  logged.skipped_steps = trainer_->skipped_steps();
  if (log) {  // this step's routing, before an evaluation overwrites it
    MPIMOE_RETURN_IF_ERROR(
        GatherRankLoad(comm_, trainer_->model(), placement_, &logged.load));
    logged.expert_tokens = ExpertTokens(trainer_->model());
    logged.placement_bound = PlacementBoundOf(logged.expert_tokens, comm_.size());
  }
  if (eval) {
    MPIMOE_ASSIGN_OR_RETURN(logged.eval_loss, trainer_->Evaluate());
    if (last) summary_.final_eval_loss = *logged.eval_loss;
  }
  if (!log) return Status::Ok();
  logged.tokens_per_s =
      static_cast<double>(trainer_->global_tokens_per_step()) / (record.step_ms / 1e3);
  if (metrics_) MPIMOE_RETURN_IF_ERROR(metrics_->Append(logged));
  placement_ = PlacementTotals();
  progress_.Step(step, record.losses.total(),
                 logged.eval_loss ? &*logged.eval_loss : nullptr, record.lr,
                 logged.tokens_per_s, record.step_ms, logged.load.imbalance);
  return Status::Ok();
}

StatusOr<bool> TrainingJob::StopRequested() {
  if (options_.stop_requested == nullptr) return false;
  int32_t stop = options_.stop_requested->load() != 0 ? 1 : 0;
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(comm_, std::span<int32_t>(&stop, 1),
                                                    {parallel::ReduceOp::kMax}));
  return stop != 0;
}

Status TrainingJob::SaveCheckpoint() {
  if (!options_.write_outputs) return Status::Ok();
  MPIMOE_ASSIGN_OR_RETURN(
      const CheckpointInfo info,
      train::SaveCheckpoint(*trainer_, options_.out_dir, config_.run.keep_checkpoints,
                            comm_, &deleter_));
  save_seconds_.push_back(info.seconds);
  checkpoint_bytes_ = info.total_bytes;
  last_saved_step_ = info.step;
  summary_.last_checkpoint = info.dir;
  progress_.Checkpoint(info);
  return Status::Ok();
}

Status TrainingJob::StopOnNonFinite(const Status& stepped) {
  const bool on_disk = last_saved_step_ == trainer_->next_step() - 1;
  const Status saved = on_disk ? Status::Ok() : SaveCheckpoint();
  if (!saved.ok()) {
    // Not kAborted: a failed save may be one rank's, so the job must be aborted.
    return saved.WithContext(stepped.message() + "; saving the last good step failed");
  }
  return stepped.WithContext(options_.write_outputs
                                 ? "the last good step is saved in " +
                                       summary_.last_checkpoint
                                 : std::string("no checkpoint written"));
}

Status TrainingJob::Finish() {
  if (!summary_.stopped && last_saved_step_ != trainer_->next_step() - 1) {
    MPIMOE_RETURN_IF_ERROR(SaveCheckpoint());
  }
  summary_.skipped_steps = trainer_->skipped_steps();
  summary_.final_loss = summary_.losses.empty() ? 0.0 : summary_.losses.back();
  const double median_step_s = Median(step_seconds_);
  summary_.tokens_per_s =
      median_step_s > 0.0
          ? static_cast<double>(trainer_->global_tokens_per_step()) / median_step_s
          : 0.0;
  double peak_rss = PeakRssMb();
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(
      comm_, std::span<double>(&peak_rss, 1), {parallel::ReduceOp::kMax}));
  summary_.peak_rss_mb = peak_rss;
  if (trace_) {
    trainer_->SetTrace(nullptr);
    MPIMOE_ASSIGN_OR_RETURN(summary_.trace_json, MergeTrace(comm_, *trace_));
    if (write_) {
      MPIMOE_RETURN_IF_ERROR(
          WriteFileAtomically(options_.out_dir + "/trace.json", summary_.trace_json));
    }
  }
  summary_.wall_s = wall_.ElapsedSeconds();
  if (summary_.stopped) return Status::Ok();
  if (write_) MPIMOE_RETURN_IF_ERROR(WriteSummary());
  progress_.Done(summary_.wall_s, summary_.losses.empty() ? 0.0 : summary_.losses.front(),
                 summary_.final_loss, summary_.final_eval_loss, summary_.tokens_per_s,
                 write_ ? options_.out_dir : "");
  return Status::Ok();
}

Status TrainingJob::WriteSummary() const {
  const Json summary = {
      {"name", config_.run.name},
      {"final_loss", summary_.final_loss},
      {"final_eval_loss", summary_.final_eval_loss},
      {"first_loss", summary_.losses.empty() ? 0.0 : summary_.losses.front()},
      {"tokens_per_s", summary_.tokens_per_s},
      {"world_size", comm_.size()},
      {"nodes", comm_.topology().num_nodes},
      {"inter_node_gbps", trainer_->inter_node_bytes_per_s() / 1e9},
      {"steps", config_.run.steps},
      {"peak_rss_mb", summary_.peak_rss_mb},
      {"wall_s", summary_.wall_s},
      {"model_flops_per_step", summary_.model_flops_per_step},
      {"first_step", summary_.first_step},
      {"skipped_steps", summary_.skipped_steps},
      {"checkpoint", summary_.last_checkpoint},
      {"checkpoint_mb", static_cast<double>(checkpoint_bytes_) / 1e6},
      {"checkpoint_save_s", Median(save_seconds_)}};
  return WriteFileAtomically(options_.out_dir + "/summary.json",
                             DumpJson(summary) + "\n");
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
  TrainingJob job(config, options, ctx, comm);
  MPIMOE_RETURN_IF_ERROR(job.Start());
  return job.Run();
}

}  // namespace mpimoe::train
