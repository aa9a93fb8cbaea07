// sweep_report.cc: see sweep_report.h.
#include "examples/launch/sweep_report.h"

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "examples/launch/child_process.h"
#include "examples/launch/plots.h"
#include "examples/launch/results.h"
#include "runtime/core/atomic_file.h"

namespace mpimoe::launch {
namespace {

namespace fs = std::filesystem;

// Reads summary.json and metrics.jsonl of every point that finished (now or earlier)
// into its row; returns the plot points (one per point, empty for the others).
std::vector<PlotPoint> ReadPointResults(const SweepPlan& plan,
                                        std::vector<ResultRow>* rows) {
  std::vector<PlotPoint> plot_points(plan.num_points());
  for (int i = 0; i < plan.num_points(); ++i) {
    ResultRow& row = (*rows)[i];
    PlotPoint& pp = plot_points[i];
    pp.name = plan.points[i].name;
    pp.axis_values = plan.points[i].axis_values;
    if (row.status != PointStatus::kOk && row.status != PointStatus::kResumed) continue;
    const std::string dir = plan.PointDir(i);
    auto summary = ReadSummary(dir + "/summary.json");
    if (summary.ok()) {
      row.summary = *summary;
      pp.summary = *summary;
    }
    auto metrics = ReadMetrics(dir + "/metrics.jsonl");
    if (metrics.ok()) {
      row.rank_imbalance = MeanRankImbalance(*metrics);
      pp.metrics = std::move(metrics).value();
    } else {
      std::fprintf(stderr, "mpimoe-launch: warning: %s\n",
                   metrics.status().message().c_str());
    }
  }
  return plot_points;
}

// Writes results.csv and results.md; false (after saying why) when one is not written.
bool WriteResultTables(const std::string& out_dir, const std::vector<std::string>& labels,
                       const std::vector<ResultRow>& rows, const std::string& markdown) {
  bool written = true;
  for (const auto& [file, text] :
       {std::pair<std::string, std::string>{"results.csv", ResultsCsv(labels, rows)},
        std::pair<std::string, std::string>{"results.md", markdown}}) {
    if (Status s = WriteFileAtomically(out_dir + "/" + file, text); !s.ok()) {
      std::fprintf(stderr, "mpimoe-launch: %s\n", s.message().c_str());
      written = false;
    }
  }
  return written;
}

// Runs `gnuplot plots.gp` in `plot_dir` (after removing the PNGs of an earlier run)
// and says what it drew, or why not.
void DrawPlots(const std::string& plot_dir, const std::vector<std::string>& pngs,
               const volatile std::sig_atomic_t* stop) {
  std::error_code ec;
  for (const std::string& png : pngs) fs::remove(plot_dir + "/" + png, ec);
  ChildOptions gnuplot;
  gnuplot.argv = {"gnuplot", kPlotScriptName};
  gnuplot.cwd = plot_dir;
  gnuplot.log_path = plot_dir + "/gnuplot.log";
  gnuplot.timeout_s = 120;
  gnuplot.interrupt = stop;
  auto drawn = RunChild(gnuplot);
  if (drawn.ok() && drawn->exec_failed) {
    std::fprintf(stderr,
                 "mpimoe-launch: warning: gnuplot is not installed (Debian: apt-get "
                 "install gnuplot-nox), so no PNGs; the data and script are in %s: "
                 "run `gnuplot %s` there\n",
                 plot_dir.c_str(), kPlotScriptName);
  } else if (!drawn.ok() || !drawn->ok()) {
    std::fprintf(
        stderr, "mpimoe-launch: warning: gnuplot failed (%s); see %s\n",
        drawn.ok() ? drawn->description.c_str() : drawn.status().message().c_str(),
        gnuplot.log_path.c_str());
  } else {
    std::string drawn_list;
    for (const std::string& png : pngs) {
      if (fs::exists(plot_dir + "/" + png)) drawn_list += " " + png;
    }
    std::printf("plots in %s:%s\n", plot_dir.c_str(), drawn_list.c_str());
  }
}

// Writes the plot data files and script into OUT/plots, and draws them unless the
// launcher was stopped.
void WritePlots(const SweepPlan& plan, const SweepOutcome& outcome,
                std::vector<PlotPoint> plot_points,
                const volatile std::sig_atomic_t* stop) {
  PlotRequest request;
  request.title = plan.spec.name;
  for (const AxisSpec& axis : plan.spec.axes) {
    request.axes.push_back({axis.label, axis.IsNumeric()});
  }
  request.points = std::move(plot_points);
  int heatmap_point = plan.heatmap_point;  // default: the first point with metrics
  for (int i = 0; i < plan.num_points() && heatmap_point < 0; ++i) {
    if (!request.points[i].metrics.empty()) heatmap_point = i;
  }
  request.heatmap_point = heatmap_point;
  request.heatmap_layer = plan.spec.heatmap_layer;
  const PlotSet plots = BuildPlots(request);

  const std::string plot_dir = plan.out_dir + "/plots";
  std::error_code ec;
  fs::create_directories(plot_dir, ec);
  bool files_ok = !ec;
  for (const PlotFile& f : plots.files) {
    if (!WriteFileAtomically(plot_dir + "/" + f.name, f.contents).ok()) files_ok = false;
  }
  for (const std::string& note : plots.notes) {
    std::fprintf(stderr, "mpimoe-launch: note: plot %s\n", note.c_str());
  }
  const bool stopped = Stopped(outcome, stop != nullptr && *stop != 0);
  if (!files_ok) {
    std::fprintf(stderr, "mpimoe-launch: warning: cannot write the plot files in %s\n",
                 plot_dir.c_str());
  } else if (!plots.pngs.empty() && !stopped) {
    DrawPlots(plot_dir, plots.pngs, stop);
  }
}

}  // namespace

SweepReport WriteSweepReport(const SweepPlan& plan, const SweepOutcome& outcome,
                             const volatile std::sig_atomic_t* stop) {
  std::vector<ResultRow> rows = outcome.rows;
  std::vector<PlotPoint> plot_points = ReadPointResults(plan, &rows);
  std::vector<std::string> labels;
  for (const AxisSpec& axis : plan.spec.axes) labels.push_back(axis.label);
  SweepReport report;
  report.markdown = ResultsMarkdown(plan.spec.name, labels, rows);
  report.tables_written = WriteResultTables(plan.out_dir, labels, rows, report.markdown);
  WritePlots(plan, outcome, std::move(plot_points), stop);
  return report;
}

}  // namespace mpimoe::launch
