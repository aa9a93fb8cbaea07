// RunSweep: runs the points of a planned sweep in order, one at a time, and says how
// each ended. A point that finished in an earlier run is skipped (unless --force); a
// point --only leaves out is not run; a failed or timed-out point is recorded and the
// sweep carries on; once a stop signal arrives (the running point is interrupted, see
// RunPoint) the remaining points are not run. Prints a progress line before each
// point and a line when a point is skipped.
//
// Also the launcher's exit codes and the decision between them.
//
// Thread-safety: call from one thread; `stop` is written by a signal handler.
#pragma once

#include <csignal>
#include <vector>

#include "examples/launch/results.h"
#include "examples/launch/sweep_plan.h"

namespace mpimoe::launch {

// mpimoe-launch's exit codes.
inline constexpr int kExitAllOk = 0;
inline constexpr int kExitFailed =
    1;  // a point failed, or the output could not be written
inline constexpr int kExitBadInput = 2;  // flags or experiment; nothing run or written
inline constexpr int kExitInterrupted = 130;

struct SweepOutcome {
  // One per point, in order: name, axis values, repeat, status, and the failure of a
  // kFailed or kInterrupted point (no summary yet: the report reads it).
  std::vector<ResultRow> rows;
  int num_run = 0;           // points run now (ok, failed or interrupted)
  int num_failed = 0;        // of them, failed or timed out
  bool interrupted = false;  // a point was stopped by a signal to the launcher
};

// Runs the sweep; `stop` (may be null) holds the signal that asked the launcher to
// stop, 0 while none did.
SweepOutcome RunSweep(const SweepPlan& plan, const volatile std::sig_atomic_t* stop);

// Whether the launcher was stopped: a point was interrupted, or a stop signal arrived
// (`stop_requested`) at any time before the end.
bool Stopped(const SweepOutcome& outcome, bool stop_requested);

// The exit code: kExitInterrupted when stopped, else kExitFailed when a point
// failed or `results_written` is false, else kExitAllOk.
int SweepExitCode(const SweepOutcome& outcome, bool stop_requested, bool results_written);

}  // namespace mpimoe::launch
