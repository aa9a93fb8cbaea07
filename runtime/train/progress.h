// Progress: the lines a training run prints to stdout on rank 0 — the start, a line
// every run.log_every steps (loss, eval loss, lr, tokens/s, ms/step, rank imbalance,
// ETA), re-plans, skipped steps, checkpoints, a resume, a stop and the end. Every line
// is flushed at once (progress must show under mpirun and in log files).
//
// A disabled Progress (ranks other than 0, tests) prints nothing.
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/timer.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

class Progress {
 public:
  Progress(bool enabled, int64_t steps) : enabled_(enabled), steps_(steps) {}

  void Resumed(const CheckpointInfo& loaded) const;
  void Started(const TrainConfig& config, int ranks, int nodes, const std::string& data,
               int64_t tokens_per_step, const std::string& out_dir) const;
  // Starts the ETA clock: call just before the first step.
  void StartClock(int64_t first_step);
  void Step(int64_t step, double loss, const double* eval_loss, float lr,
            double tokens_per_s, double step_ms, double imbalance) const;
  void Replanned(int64_t step, const std::string& decision) const;
  // The inter-node bandwidth the balancer's cost model uses, and where it came from.
  void InterNodeLinks(double bytes_per_s, bool measured) const;
  void Skipped(int64_t step, int64_t skipped_steps) const;
  void SetAside(const std::string& name) const;
  void Checkpoint(const CheckpointInfo& saved) const;
  void Stopped(int64_t step, const std::string& checkpoint) const;
  void Done(double wall_s, double first_loss, double final_loss, double eval_loss,
            double tokens_per_s, const std::string& out_dir) const;

 private:
  bool enabled_;
  int64_t steps_;
  int64_t first_step_ = 1;
  Stopwatch clock_;
};

}  // namespace mpimoe::train
