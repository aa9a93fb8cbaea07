// Plots of a sweep: builds gnuplot data files and one script (plots.gp) that draws
// PNGs of
//   loss.png                  training loss vs step, one line per point;
//   imbalance.png             rank imbalance (max/mean rank expert load) vs step;
//   tokens_per_s_vs_<axis>.png  tokens/s vs each numeric axis with >= 2 values, one
//                             line per combination of the other axes (repeats
//                             averaged);
//   heatmap.png               tokens per expert (y) per logged step (x) of one MoE
//                             layer of one chosen point.
// BuildPlots is pure: it returns file names and contents; the launcher writes them into
// OUT/plots/ and runs `gnuplot plots.gp` there (so the script can be re-run by hand).
// Points without metrics (failed, not run) are left out.
//
// Thread-safety: pure function over values.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "examples/launch/results.h"

namespace mpimoe::launch {

struct PlotAxis {
  std::string label;
  bool numeric = false;
};

struct PlotPoint {
  std::string name;
  std::vector<std::string> axis_values;  // one per axis
  std::optional<RunSummary> summary;
  std::vector<MetricsRecord> metrics;
};

struct PlotRequest {
  std::string title;  // the experiment's name
  std::vector<PlotAxis> axes;
  std::vector<PlotPoint> points;
  int heatmap_point = 0;  // index into points; -1 = no heatmap
  int heatmap_layer = 0;
};

struct PlotFile {
  std::string name;  // file name inside the plots directory
  std::string contents;
};

struct PlotSet {
  std::vector<PlotFile> files;     // data files and the script, script last
  std::vector<std::string> pngs;   // the images the script draws
  std::vector<std::string> notes;  // plots that could not be drawn, and why
};

inline constexpr char kPlotScriptName[] = "plots.gp";

PlotSet BuildPlots(const PlotRequest& request);

}  // namespace mpimoe::launch
