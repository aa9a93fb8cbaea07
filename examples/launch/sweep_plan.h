// SweepPlan: what one run of mpimoe-launch will do, decided before anything runs or is
// written: the loaded and expanded experiment, the output directory, the point --only
// selected, the heatmap point and the command line of every point,
//
//   mpirun -np N [mpirun_args] [-x OMP_NUM_THREADS] TRAIN CONFIG --set ... --out
//   OUT/<dir>
//
// PlanSweep reads the experiment (and through its checks the base config and data
// files) but writes nothing; every error it returns is bad input (the launcher exits
// 2). PrepareOutputDir is the first write: OUT and, for an inline base config,
// OUT/base.textproto.
//
// Thread-safety: functions over values; PrepareOutputDir writes files.
#pragma once

#include <string>
#include <vector>

#include "examples/launch/experiment.h"
#include "examples/launch/launch_flags.h"
#include "runtime/core/status.h"

namespace mpimoe::launch {

struct SweepPlan {
  ExperimentSpec spec;
  std::vector<Point> points;
  std::string out_dir;      // --out, else the experiment's output_dir
  std::string config_path;  // the base config every point's mpimoe-train reads
  bool force = false;       // --force: run points that finished in an earlier run
  int only = -1;            // the point --only selected; -1 = every point
  std::string only_how;     // how --only matched: "exact" or "substring"
  int heatmap_point = -1;   // the experiment's heatmap_point; -1 = first with metrics
  std::vector<std::vector<std::string>> commands;  // argv of every point

  int num_points() const { return static_cast<int>(points.size()); }
  // Whether point `index` runs in this sweep (every point without --only).
  bool Selected(int index) const { return only < 0 || only == index; }
  // OUT/<dir_name of point `index`>: the point's run directory.
  std::string PointDir(int index) const;
};

// Loads and expands flags.experiment and resolves the flags against it. `train_binary`
// is the mpimoe-train the points run. Errors (InvalidArgument, NotFound, IoError) name
// the file, line and field, or the flag.
StatusOr<SweepPlan> PlanSweep(const LaunchFlags& flags, const std::string& train_binary);

// The argv that runs `point` (see the file comment).
std::vector<std::string> PointCommand(const ExperimentSpec& spec, const Point& point,
                                      const std::string& train_binary,
                                      const std::string& config_path,
                                      const std::string& out_dir);

// What --dry-run prints: for every point "[i/N] name" (marked when --only leaves it
// out) and its command, with the OMP_NUM_THREADS it runs with.
std::string DryRunListing(const SweepPlan& plan);

// Creates the output directory and writes the inline base config (if any) to
// plan.config_path. IoError naming the path when it cannot.
Status PrepareOutputDir(const SweepPlan& plan);

}  // namespace mpimoe::launch
