// RunTrainingJob: a whole training run as mpimoe-train performs it — the step loop,
// held-out evaluation, progress lines, and the run's output directory:
//   config.textproto  the effective config (written atomically before the first step)
//   metrics.jsonl     one JSON object per logged step (runtime/train/metrics_log.h)
//   summary.json      written atomically at the end: final_loss, final_eval_loss,
//                     tokens_per_s (median after run.warmup_steps_for_timing),
//                     world_size, nodes, inter_node_gbps (links across nodes as
//                     the balancer costs them; 0 on one node), steps, peak_rss_mb
//                     (max over ranks), wall_s,
//                     model_flops_per_step, first_step, skipped_steps,
//                     checkpoint (the last one), checkpoint_mb, checkpoint_save_s
//                     (median save time); not written when the run is stopped early
//   checkpoints/      step-N directories (runtime/train/checkpoint.h): every
//                     run.checkpoint_every steps, at the end, on a stop request, and of
//                     the last good step when a non-finite step stops the run
//   trace.json        with JobOptions::trace: the timeline of the last trace_steps
//                     steps of every rank (Chrome trace event JSON, one process per
//                     rank, see runtime/core/trace.h), gathered to rank 0 through the
//                     communicator and written atomically at the end
// Only rank 0 prints (runtime/train/progress.h) and writes, except checkpoint shards
// (every rank writes its own); every rank runs the same collective sequence.
// Errors every rank returns together, so that the caller may exit without aborting the
// job: kAborted — a non-finite step with run.on_nonfinite = NONFINITE_STOP, after saving
// the last good step; kFailedPrecondition — JobOptions::resume_from cannot be resumed
// (missing, corrupt or another model's checkpoint: "cannot resume: ..."). Any other
// error may come from one rank only: the caller must abort the job.
//
// Thread-safety: one host thread per rank; collective.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "runtime/core/status.h"
#include "runtime/train/config.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {

struct JobOptions {
  std::string out_dir;         // where rank 0 writes (created if missing); the same on
                               // every rank (checkpoint shards are written by all)
  bool write_outputs = true;   // false: no files, no checkpoints (tests)
  bool print_progress = true;  // rank 0 prints a line every run.log_every steps
  // A checkpoint directory to continue from (runtime/train/checkpoint.h); metrics.jsonl
  // in out_dir keeps its records up to the checkpoint's step and continues after them.
  std::string resume_from;
  // Set asynchronously (e.g. by StopSignals' watcher thread) to ask for a stop: at the
  // end of the current step every rank learns of it (one tiny all-reduce a step), a
  // checkpoint is saved and the job returns normally with JobSummary::stopped. May be
  // null.
  const std::atomic<int>* stop_requested = nullptr;
  // Called on every rank before each step (tests: e.g. corrupting a weight).
  std::function<void(int64_t step, Trainer& trainer)> before_step;
  bool trace = false;        // record a timeline (trace.json); never changes the math
  int64_t trace_steps = 20;  // steps kept per rank (the last ones); 0 = all
};

struct JobSummary {
  std::vector<double> losses;  // per step, total loss
  double final_loss = 0.0;
  double final_eval_loss = 0.0;
  double tokens_per_s = 0.0;
  double wall_s = 0.0;
  double peak_rss_mb = 0.0;
  int64_t model_flops_per_step = 0;
  int64_t first_step = 1;       // > 1 when resumed from a checkpoint
  int64_t skipped_steps = 0;    // non-finite steps skipped (run.on_nonfinite)
  bool stopped = false;         // stopped early by stop_requested (checkpoint saved)
  std::string last_checkpoint;  // directory of the last checkpoint saved, if any
  std::string trace_json;       // rank 0, with options.trace: the merged trace document
};

StatusOr<JobSummary> RunTrainingJob(const TrainConfig& config, const JobOptions& options,
                                    ops::OpsContext* ctx, parallel::Communicator* comm);

// runs/<run.name>-<YYYYmmdd-HHMMSS> (local time), or run.out_dir when set.
std::string DefaultOutputDir(const TrainConfig& config);

}  // namespace mpimoe::train
