// How mpimoe-launch shows the progress of a sweep on stdout: the line printed before
// each point runs (durations by FormatDuration, runtime/core/timer.h),
//
//   [2/4] np=1,top_k=2 | np=1 model.moe.top_k=2 | elapsed 41s | ETA 1m22s
//
// (the point's overrides without the run.name every point sets; the ETA is the mean
// time of the points run so far times the points left, "?" before the first ends).
//
// Thread-safety: pure functions over values.
#pragma once

#include <optional>
#include <string>

#include "examples/launch/experiment.h"
#include "runtime/core/timer.h"

namespace mpimoe::launch {

// "[i/N]": point `index` (0-based) of `num_points`, as every line about a point starts.
std::string PointCounter(int index, int num_points);

// The progress line (without a newline) of point `index` (0-based) of `num_points`;
// `eta_s` = nullopt prints "?".
std::string ProgressLine(int index, int num_points, const Point& point, double elapsed_s,
                         std::optional<double> eta_s);

// The time left when `num_run` of `num_to_run` points have run in `run_s` seconds;
// nullopt before the first has run.
std::optional<double> EstimateTimeLeft(double run_s, int num_run, int num_to_run);

}  // namespace mpimoe::launch
