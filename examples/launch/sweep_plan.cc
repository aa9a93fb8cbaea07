// sweep_plan.cc: see sweep_plan.h.
#include "examples/launch/sweep_plan.h"

#include <filesystem>
#include <system_error>

#include "examples/launch/child_process.h"
#include "examples/launch/progress.h"
#include "runtime/core/atomic_file.h"

namespace mpimoe::launch {

std::string SweepPlan::PointDir(int index) const {
  return out_dir + "/" + points[index].dir_name;
}

StatusOr<SweepPlan> PlanSweep(const LaunchFlags& flags, const std::string& train_binary) {
  SweepPlan plan;
  MPIMOE_ASSIGN_OR_RETURN(plan.spec, LoadExperiment(flags.experiment));
  MPIMOE_ASSIGN_OR_RETURN(plan.points, ExpandExperiment(plan.spec));
  const ExperimentSpec& spec = plan.spec;
  plan.out_dir = flags.out_dir.empty() ? spec.output_dir : flags.out_dir;
  plan.config_path = spec.base_config_path.empty() ? plan.out_dir + "/base.textproto"
                                                   : spec.base_config_path;
  plan.force = flags.force;
  if (!spec.heatmap_point.empty()) {
    auto found = FindPoint(plan.points, spec.heatmap_point);
    if (!found.ok()) {
      return found.status().WithContext(
          spec.path + ":" + std::to_string(spec.heatmap_point_line) + ": heatmap_point");
    }
    plan.heatmap_point = *found;
  }
  if (!flags.only.empty()) {
    auto found = FindPoint(plan.points, flags.only, &plan.only_how);
    if (!found.ok()) return found.status().WithContext("--only");
    plan.only = *found;
  }
  for (const Point& point : plan.points) {
    plan.commands.push_back(
        PointCommand(spec, point, train_binary, plan.config_path, plan.out_dir));
  }
  return plan;
}

std::vector<std::string> PointCommand(const ExperimentSpec& spec, const Point& point,
                                      const std::string& train_binary,
                                      const std::string& config_path,
                                      const std::string& out_dir) {
  std::vector<std::string> argv = {spec.mpirun, "-np", std::to_string(point.world_size)};
  argv.insert(argv.end(), spec.mpirun_args.begin(), spec.mpirun_args.end());
  if (spec.omp_num_threads > 0) {
    // mpirun passes the launcher's value (set in the child's environment) to the ranks.
    argv.push_back("-x");
    argv.push_back("OMP_NUM_THREADS");
  }
  argv.push_back(train_binary);
  argv.push_back(config_path);
  for (const std::string& override_text : point.overrides) {
    argv.push_back("--set");
    argv.push_back(override_text);
  }
  argv.push_back("--out");
  argv.push_back(out_dir + "/" + point.dir_name);
  return argv;
}

std::string DryRunListing(const SweepPlan& plan) {
  const int n = plan.num_points();
  const std::string omp =
      plan.spec.omp_num_threads > 0
          ? "OMP_NUM_THREADS=" + std::to_string(plan.spec.omp_num_threads) + " "
          : "";
  std::string listing;
  for (int i = 0; i < n; ++i) {
    listing += PointCounter(i, n) + " " + plan.points[i].name +
               (plan.Selected(i) ? "" : " (not selected by --only)") + "\n  " + omp +
               CommandLine(plan.commands[i]) + "\n";
  }
  return listing;
}

Status PrepareOutputDir(const SweepPlan& plan) {
  std::error_code ec;
  std::filesystem::create_directories(plan.out_dir, ec);
  if (ec) return IoError("cannot create " + plan.out_dir + ": " + ec.message());
  if (!plan.spec.base_config_path.empty()) return Status::Ok();
  return WriteFileAtomically(plan.config_path, "# the inline base config of " +
                                                   plan.spec.path + "\n" +
                                                   plan.spec.inline_base_text);
}

}  // namespace mpimoe::launch
