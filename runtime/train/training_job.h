// RunTrainingJob: a whole training run as mpimoe-train performs it — the step loop,
// held-out evaluation, progress lines, and the run's output directory:
//   config.textproto  the effective config (written atomically before the first step)
//   metrics.jsonl     one JSON object per logged step: step, loss (cross-entropy + aux),
//                     cross_entropy, aux_loss, eval_loss (when computed), lr, grad_norm,
//                     tokens_per_s, step_ms, phase_ms {attention, router, dispatch,
//                     experts, combine, dense_ffn, embed_head, backward, grad_sync,
//                     optimizer, balancer} (rank 0's), expert_tokens (per MoE layer,
//                     global routes per expert), expert_rows_per_rank, rank_imbalance
//                     (max/mean over ranks of expert rows computed), a2a_bytes (sent
//                     between ranks by all ranks in the step)
//   summary.json      written atomically at the end: final_loss, final_eval_loss,
//                     tokens_per_s (median after run.warmup_steps_for_timing),
//                     world_size, steps, peak_rss_mb (max over ranks), wall_s,
//                     model_flops_per_step
//   trace.json        with JobOptions::trace: the timeline of the last trace_steps
//                     steps of every rank (Chrome trace event JSON, one process per
//                     rank, see runtime/core/trace.h), gathered to rank 0 through the
//                     communicator and written atomically at the end
// Only rank 0 prints and writes; every rank runs the same collective sequence.
//
// Thread-safety: one host thread per rank; collective.
#pragma once

#include <string>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "runtime/core/status.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

struct JobOptions {
  std::string out_dir;         // where rank 0 writes (created if missing)
  bool write_outputs = true;   // false: no files (tests)
  bool print_progress = true;  // rank 0 prints a line every run.log_every steps
  bool trace = false;          // record a timeline (trace.json); never changes the math
  int64_t trace_steps = 20;    // steps kept per rank (the last ones); 0 = all
};

struct JobSummary {
  std::vector<double> losses;  // per step, total loss
  double final_loss = 0.0;
  double final_eval_loss = 0.0;
  double tokens_per_s = 0.0;
  double wall_s = 0.0;
  double peak_rss_mb = 0.0;
  int64_t model_flops_per_step = 0;
  std::string trace_json;  // rank 0, with options.trace: the merged trace document
};

StatusOr<JobSummary> RunTrainingJob(const TrainConfig& config, const JobOptions& options,
                                    ops::OpsContext* ctx, parallel::Communicator* comm);

// runs/<run.name>-<YYYYmmdd-HHMMSS> (local time), or run.out_dir when set.
std::string DefaultOutputDir(const TrainConfig& config);

}  // namespace mpimoe::train
