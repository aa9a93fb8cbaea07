// sweep.cc: see sweep.h.
#include "examples/launch/sweep.h"

#include <chrono>
#include <cstdio>

#include "examples/launch/point_run.h"
#include "examples/launch/progress.h"

namespace mpimoe::launch {

SweepOutcome RunSweep(const SweepPlan& plan, const volatile std::sig_atomic_t* stop) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const int n = plan.num_points();
  std::vector<bool> finished_before(n, false);
  int num_to_run = 0;  // for the ETA
  for (int i = 0; i < n; ++i) {
    finished_before[i] = !plan.force && FinishedEarlier(plan.points[i], plan.PointDir(i));
    if (!finished_before[i] && plan.Selected(i)) ++num_to_run;
  }

  SweepOutcome outcome;
  outcome.rows.resize(n);
  double run_s = 0;  // the time the points run so far took
  for (int i = 0; i < n; ++i) {
    const Point& point = plan.points[i];
    ResultRow& row = outcome.rows[i];
    row.name = point.name;
    row.axis_values = point.axis_values;
    row.repeat = point.repeat;
    if (finished_before[i]) {
      row.status = PointStatus::kResumed;
      std::printf("%s %s | finished in an earlier run, skipped\n",
                  PointCounter(i, n).c_str(), point.name.c_str());
      continue;
    }
    const bool stop_requested = stop != nullptr && *stop != 0;
    if (!plan.Selected(i) || outcome.interrupted || stop_requested) {
      row.status = PointStatus::kNotRun;
      continue;
    }
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%s\n", ProgressLine(i, n, point, elapsed_s,
                                     EstimateTimeLeft(run_s, outcome.num_run, num_to_run))
                            .c_str());
    std::fflush(stdout);

    const PointRun run = RunPoint(plan, i, stop);
    run_s += run.seconds;
    ++outcome.num_run;
    row.status = run.status;
    row.failure = run.failure;
    if (run.status == PointStatus::kFailed) ++outcome.num_failed;
    if (run.status == PointStatus::kInterrupted) outcome.interrupted = true;
    std::fflush(stdout);
  }
  return outcome;
}

bool Stopped(const SweepOutcome& outcome, bool stop_requested) {
  return outcome.interrupted || stop_requested;
}

int SweepExitCode(const SweepOutcome& outcome, bool stop_requested,
                  bool results_written) {
  if (Stopped(outcome, stop_requested)) return kExitInterrupted;
  if (outcome.num_failed > 0 || !results_written) return kExitFailed;
  return kExitAllOk;
}

}  // namespace mpimoe::launch
