// One point of a sweep on disk: whether an earlier run of the launcher already
// finished it, and running it. A point runs in OUT/<point>/, which it owns:
//   command.txt   the command line;
//   log.txt       the job's stdout and stderr;
//   failure.txt   written when it fails, times out or is interrupted (why, the command
//                 and the tail of log.txt), removed when it succeeds; a point with one
//                 runs again next time;
//   the rest      mpimoe-train's own files (summary.json, metrics.jsonl,
//   config.textproto).
//
// Thread-safety: call from one thread (RunPoint runs a child process and prints).
#pragma once

#include <csignal>
#include <string>

#include "examples/launch/experiment.h"
#include "examples/launch/results.h"
#include "examples/launch/sweep_plan.h"

namespace mpimoe::launch {

// Whether the run in `dir` finished `point` earlier, so it is skipped: there is no
// failure.txt, summary.json is complete and for point.world_size, and config.textproto
// is point.effective_config (editing the experiment or the base config re-runs the
// points it changes). A run recorded as failed, timed out or interrupted may still
// have a complete summary.json (mpimoe-train finishing its last step while being
// stopped), so failure.txt wins. `why_not` (optional) receives the reason when there
// is an earlier run that does not count; it is left alone when there is none.
bool FinishedEarlier(const Point& point, const std::string& dir,
                     std::string* why_not = nullptr);

// How one run of a point ended.
struct PointRun {
  PointStatus status = PointStatus::kOk;  // kOk, kFailed or kInterrupted
  std::string failure;                    // why, for people; "" when kOk
  double seconds = 0;                     // wall time of the child
};

// Runs point `index` of `plan` in a fresh directory (whatever an earlier run left is
// removed first), as plan.commands[index] with OMP_NUM_THREADS set when the experiment
// asks for it, under the experiment's point_timeout_s. `stop` is polled while it
// runs: a signal number there is forwarded to the point's process group and the run is
// kInterrupted. Exit code 0 without a complete summary.json is a failure. Prints "ok
// in ..." or the failure and the last lines of log.txt.
PointRun RunPoint(const SweepPlan& plan, int index,
                  const volatile std::sig_atomic_t* stop);

}  // namespace mpimoe::launch
