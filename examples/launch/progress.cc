// progress.cc: see progress.h.
#include "examples/launch/progress.h"

#include <cstdio>

namespace mpimoe::launch {

std::string PointCounter(int index, int num_points) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "[%d/%d]", index + 1, num_points);
  return buffer;
}

std::string ProgressLine(int index, int num_points, const Point& point, double elapsed_s,
                         std::optional<double> eta_s) {
  std::string overrides;
  for (const std::string& o : point.overrides) {
    if (o.rfind("run.name=", 0) == 0) continue;
    overrides += (overrides.empty() ? "" : " ") + o;
  }
  return PointCounter(index, num_points) + " " + point.name +
         " | np=" + std::to_string(point.world_size) + " " + overrides + " | elapsed " +
         FormatDuration(elapsed_s) + " | ETA " +
         (eta_s ? FormatDuration(*eta_s) : std::string("?"));
}

std::optional<double> EstimateTimeLeft(double run_s, int num_run, int num_to_run) {
  if (num_run <= 0) return std::nullopt;
  return run_s / num_run * (num_to_run - num_run);
}

}  // namespace mpimoe::launch
