// progress.cc: see progress.h.
#include "runtime/train/progress.h"

#include <cstdio>

namespace mpimoe::train {

void Progress::Resumed(const CheckpointInfo& loaded) const {
  if (!enabled_) return;
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
  std::fflush(stdout);
}

void Progress::Started(const TrainConfig& config, int ranks, int nodes,
                       const std::string& data, int64_t tokens_per_step,
                       const std::string& out_dir) const {
  if (!enabled_) return;
  std::printf(
      "mpimoe-train: %s on %d rank(s), %d node(s); %s; %lld steps of %lld tokens%s%s\n",
      config.run.name.c_str(), ranks, nodes, data.c_str(),
      static_cast<long long>(config.run.steps), static_cast<long long>(tokens_per_step),
      out_dir.empty() ? "" : "; output in ", out_dir.c_str());
  std::fflush(stdout);
}

void Progress::InterNodeLinks(double bytes_per_s, bool measured) const {
  if (!enabled_) return;
  std::printf("mpimoe-train: links across nodes: %.3g GB/s (%s)\n", bytes_per_s / 1e9,
              measured
                  ? "measured at start-up; set balancer.cost_inter_node_gbps to fix it"
                  : "balancer.cost_inter_node_gbps");
  std::fflush(stdout);
}

void Progress::StartClock(int64_t first_step) {
  first_step_ = first_step;
  clock_.Restart();
}

void Progress::Step(int64_t step, double loss, const double* eval_loss, float lr,
                    double tokens_per_s, double step_ms, double imbalance) const {
  if (!enabled_) return;
  const double eta = clock_.ElapsedSeconds() /
                     static_cast<double>(step - first_step_ + 1) *
                     static_cast<double>(steps_ - step);
  char eval_text[48] = "";
  if (eval_loss != nullptr) {
    std::snprintf(eval_text, sizeof(eval_text), " | eval %.4f", *eval_loss);
  }
  std::printf(
      "step %*lld/%lld | loss %.4f%s | lr %.2e | %8.0f tok/s | %7.1f ms/step | "
      "imbalance %.2f | ETA %s\n",
      static_cast<int>(std::to_string(steps_).size()), static_cast<long long>(step),
      static_cast<long long>(steps_), loss, eval_text, lr, tokens_per_s, step_ms,
      imbalance, FormatDuration(eta).c_str());
  std::fflush(stdout);
}

void Progress::Replanned(int64_t step, const std::string& decision) const {
  if (!enabled_) return;
  std::printf("re-plan at step %lld: %s\n", static_cast<long long>(step),
              decision.c_str());
  std::fflush(stdout);
}

void Progress::Skipped(int64_t step, int64_t skipped_steps) const {
  if (!enabled_) return;
  std::printf("step %lld skipped: the loss or gradient is not finite (%lld skipped)\n",
              static_cast<long long>(step), static_cast<long long>(skipped_steps));
  std::fflush(stdout);
}

void Progress::SetAside(const std::string& name) const {
  if (!enabled_) return;
  std::printf(
      "mpimoe-train: %s is later than the resumed step; renamed to %s.abandoned\n",
      name.c_str(), name.c_str());
  std::fflush(stdout);
}

void Progress::Checkpoint(const CheckpointInfo& saved) const {
  if (!enabled_) return;
  std::printf("checkpoint %s: %.1f MB in %.2f s\n", saved.dir.c_str(),
              static_cast<double>(saved.total_bytes) / 1e6, saved.seconds);
  std::fflush(stdout);
}

void Progress::Stopped(int64_t step, const std::string& checkpoint) const {
  if (!enabled_) return;
  std::printf(
      "mpimoe-train: stopped on request after step %lld; resume with --resume %s\n",
      static_cast<long long>(step), checkpoint.empty() ? "(none)" : checkpoint.c_str());
  std::fflush(stdout);
}

void Progress::Done(double wall_s, double first_loss, double final_loss, double eval_loss,
                    double tokens_per_s, const std::string& out_dir) const {
  if (!enabled_) return;
  std::printf(
      "mpimoe-train: done in %s; loss %.4f -> %.4f, eval %.4f, %.0f tokens/s%s%s\n",
      FormatDuration(wall_s).c_str(), first_loss, final_loss, eval_loss, tokens_per_s,
      out_dir.empty() ? "" : "; results in ", out_dir.c_str());
  std::fflush(stdout);
}

}  // namespace mpimoe::train
