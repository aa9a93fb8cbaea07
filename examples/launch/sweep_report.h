// The report of a sweep, written once the points have run (also after a failure or an
// interruption, with the results so far):
//   OUT/results.csv, OUT/results.md  every point, with the summary and the mean rank
//                                    imbalance of those that finished (now or in an
//                                    earlier run);
//   OUT/plots/                       the gnuplot data files and plots.gp always; the
//                                    PNGs when gnuplot is installed and the launcher
//                                    was not stopped.
// Problems with the plots are warnings on stderr; only results.csv and results.md
// count for the exit code.
//
// Thread-safety: call from one thread (writes files, may run gnuplot, prints).
#pragma once

#include <csignal>
#include <string>

#include "examples/launch/sweep.h"
#include "examples/launch/sweep_plan.h"

namespace mpimoe::launch {

struct SweepReport {
  bool tables_written = false;  // results.csv and results.md were both written
  std::string markdown;         // the text of results.md (the launcher prints it)
};

// Writes the report of `outcome`. `stop` (may be null) is the launcher's stop signal:
// once set, gnuplot is not started, or is interrupted.
SweepReport WriteSweepReport(const SweepPlan& plan, const SweepOutcome& outcome,
                             const volatile std::sig_atomic_t* stop);

}  // namespace mpimoe::launch
