// mpimoe-launch: runs a sweep of training jobs described by an experiment file
// (configs/experiment.proto) and gathers their results, tables and plots.
//
//   mpimoe-launch EXPERIMENT.textproto [--dry-run] [--only NAME] [--force] [--out DIR]
//
// Every point runs as `mpirun -np N [mpirun_args] <dir of mpimoe-launch>/mpimoe-train
// CONFIG --set ... --out OUT/<point>` in turn (the launcher itself is not an MPI
// program), its output in OUT/<point>/log.txt; mpirun leads its own process group. A
// point whose summary.json is complete, whose config.textproto matches the point's
// config and that has no failure.txt is skipped on a re-run (unless --force). A failed
// or timed-out point is recorded (OUT/<point>/failure.txt) and the sweep carries on.
// SIGINT or SIGTERM to the launcher is forwarded to the running point's process
// group; the launcher waits for it, records it as interrupted (failure.txt, so it runs
// again next time), writes the results so far and exits 130.
// Afterwards: OUT/results.csv, OUT/results.md and OUT/plots/*.png (gnuplot).
//
// Exit codes: 0 every point finished; 1 some point failed (or results could not be
// written); 2 bad input (flags, experiment file) — reported before anything runs or is
// written; 130 interrupted by SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "examples/launch/child_process.h"
#include "examples/launch/experiment.h"
#include "examples/launch/plots.h"
#include "examples/launch/results.h"
#include "runtime/core/atomic_file.h"

namespace {

namespace fs = std::filesystem;
namespace launch = mpimoe::launch;

// The signal (SIGINT or SIGTERM) that asked the launcher to stop; 0 while none did.
// A global because a signal handler can reach nothing else: written only by
// OnStopSignal, read by the sweep loop and, through ChildOptions::interrupt, by
// RunChild, which forwards it to the running point's process group.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void OnStopSignal(int signal) { g_stop_signal = signal; }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGINT, SIGTERM}) sigaction(signal, &action, nullptr);
}

constexpr int kInterruptedExitCode = 130;

constexpr char kUsage[] =
    "usage: mpimoe-launch EXPERIMENT.textproto [--dry-run] [--only NAME] [--force]\n"
    "                     [--out DIR]\n"
    "  EXPERIMENT   a sweep (.textproto, schema configs/experiment.proto)\n"
    "  --dry-run    print the points and their commands; run and write nothing\n"
    "  --only NAME  run only the point named NAME (exact, or a unique part of a name);\n"
    "               like every point, it is skipped when it finished in an earlier\n"
    "               run with the same config (add --force to run it again)\n"
    "  --force      run the points even when they finished in an earlier run\n"
    "  --out DIR    output directory (default: the experiment's output_dir)\n"
    "Exit codes: 0 all points ok, 1 a point failed, 2 bad input (nothing run),\n"
    "130 stopped by SIGINT/SIGTERM (the running point is stopped and recorded).\n";

struct Args {
  std::string experiment;
  bool dry_run = false;
  bool force = false;
  std::string only;
  bool has_only = false;
  std::string out_dir;
  bool help = false;
};

mpimoe::Status ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      args->help = true;
    } else if (arg == "--dry-run") {
      args->dry_run = true;
    } else if (arg == "--force") {
      args->force = true;
    } else if (arg == "--only" || arg == "--out") {
      if (i + 1 >= argc) return mpimoe::InvalidArgumentError(arg + " needs a value");
      if (arg == "--only") {
        args->only = argv[++i];
        args->has_only = true;
      } else {
        args->out_dir = argv[++i];
      }
    } else if (arg.rfind("--only=", 0) == 0) {
      args->only = arg.substr(7);
      args->has_only = true;
    } else if (arg.rfind("--out=", 0) == 0) {
      args->out_dir = arg.substr(6);
    } else if (arg.rfind("--", 0) == 0) {
      return mpimoe::InvalidArgumentError("unknown flag " + arg);
    } else if (args->experiment.empty()) {
      args->experiment = arg;
    } else {
      return mpimoe::InvalidArgumentError(
          "more than one experiment file: " + args->experiment + " and " + arg);
    }
  }
  if (!args->help && args->experiment.empty()) {
    return mpimoe::InvalidArgumentError("missing EXPERIMENT");
  }
  if (args->has_only && args->only.empty()) {
    return mpimoe::InvalidArgumentError("--only needs a non-empty name");
  }
  return mpimoe::Status::Ok();
}

std::string FormatDuration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buffer[32];
  if (s < 60) {
    std::snprintf(buffer, sizeof(buffer), "%lds", s);
  } else if (s < 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  }
  return buffer;
}

// mpimoe-train next to this executable.
std::string TrainBinary() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "mpimoe-train";
  return (self.parent_path() / "mpimoe-train").string();
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A point's run is complete when summary.json is complete, for the point's world size,
// the run's effective config is the point's (so editing the experiment or the base
// config re-runs the points it changes), and the launcher did not record it as failed,
// timed out or interrupted (failure.txt; such a run may still have written a complete
// summary.json, e.g. mpimoe-train finishing its last step while being stopped).
bool FinishedEarlier(const launch::Point& point, const std::string& dir,
                     std::string* why_not) {
  if (fs::exists(dir + "/failure.txt")) {
    *why_not = "the earlier run failed (failure.txt)";
    return false;
  }
  if (!fs::exists(dir + "/summary.json")) return false;
  auto summary = launch::ReadSummary(dir + "/summary.json");
  if (!summary.ok()) {
    *why_not = summary.status().message();
    return false;
  }
  if (summary->world_size != point.world_size) {
    *why_not = "the earlier run used " + std::to_string(summary->world_size) + " ranks";
    return false;
  }
  if (ReadText(dir + "/config.textproto") != point.effective_config) {
    *why_not = "its config changed since the earlier run";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (mpimoe::Status s = ParseArgs(argc, argv, &args); !s.ok()) {
    std::fprintf(stderr, "mpimoe-launch: %s\n%s", s.message().c_str(), kUsage);
    return 2;
  }
  if (args.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }

  // Everything about the input is checked before anything runs or is written.
  auto loaded = launch::LoadExperiment(args.experiment);
  if (!loaded.ok()) {
    std::fprintf(stderr, "mpimoe-launch: %s\n", loaded.status().message().c_str());
    return 2;
  }
  const launch::ExperimentSpec& spec = *loaded;
  auto expanded = launch::ExpandExperiment(spec);
  if (!expanded.ok()) {
    std::fprintf(stderr, "mpimoe-launch: %s\n", expanded.status().message().c_str());
    return 2;
  }
  const std::vector<launch::Point>& points = *expanded;
  const int n = static_cast<int>(points.size());
  const std::string out_dir = args.out_dir.empty() ? spec.output_dir : args.out_dir;

  int heatmap_point = -1;  // default: the first point with metrics
  if (!spec.heatmap_point.empty()) {
    auto found = launch::FindPoint(points, spec.heatmap_point);
    if (!found.ok()) {
      std::fprintf(stderr, "mpimoe-launch: %s:%d: heatmap_point: %s\n", spec.path.c_str(),
                   spec.heatmap_point_line, found.status().message().c_str());
      return 2;
    }
    heatmap_point = *found;
  }
  int only = -1;
  if (args.has_only) {
    std::string how;
    auto found = launch::FindPoint(points, args.only, &how);
    if (!found.ok()) {
      std::fprintf(stderr, "mpimoe-launch: --only: %s\n",
                   found.status().message().c_str());
      return 2;
    }
    only = *found;
    std::printf("--only '%s': %s match, point %d/%d %s\n", args.only.c_str(), how.c_str(),
                only + 1, n, points[only].name.c_str());
  }

  const std::string train = TrainBinary();
  const std::string config_path =
      spec.base_config_path.empty() ? out_dir + "/base.textproto" : spec.base_config_path;
  std::vector<std::vector<std::string>> commands;
  for (const launch::Point& p : points) {
    std::vector<std::string> argv_p = {spec.mpirun, "-np", std::to_string(p.world_size)};
    argv_p.insert(argv_p.end(), spec.mpirun_args.begin(), spec.mpirun_args.end());
    if (spec.omp_num_threads > 0) {
      argv_p.push_back("-x");
      argv_p.push_back("OMP_NUM_THREADS");
    }
    argv_p.push_back(train);
    argv_p.push_back(config_path);
    for (const std::string& o : p.overrides) {
      argv_p.push_back("--set");
      argv_p.push_back(o);
    }
    argv_p.push_back("--out");
    argv_p.push_back(out_dir + "/" + p.dir_name);
    commands.push_back(std::move(argv_p));
  }

  std::printf("mpimoe-launch: %s: %d point(s), output in %s\n", spec.name.c_str(), n,
              out_dir.c_str());
  if (args.dry_run) {
    for (int i = 0; i < n; ++i) {
      std::printf(
          "[%d/%d] %s%s\n  %s%s\n", i + 1, n, points[i].name.c_str(),
          only >= 0 && i != only ? " (not selected by --only)" : "",
          spec.omp_num_threads > 0
              ? ("OMP_NUM_THREADS=" + std::to_string(spec.omp_num_threads) + " ").c_str()
              : "",
          launch::CommandLine(commands[i]).c_str());
    }
    return 0;
  }
  if (::geteuid() == 0 && (std::getenv("OMPI_ALLOW_RUN_AS_ROOT") == nullptr ||
                           std::getenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM") == nullptr)) {
    std::fprintf(
        stderr,
        "mpimoe-launch: warning: running as root, and Open MPI's mpirun refuses "
        "to run as root unless OMPI_ALLOW_RUN_AS_ROOT=1 and "
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 are exported (scripts/env.sh does).\n");
  }

  InstallStopHandlers();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "mpimoe-launch: cannot create %s: %s\n", out_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  if (!spec.base_config_path.empty()) {
  } else if (mpimoe::Status s = mpimoe::WriteFileAtomically(
                 config_path, "# the inline base config of " + spec.path + "\n" +
                                  spec.inline_base_text);
             !s.ok()) {
    std::fprintf(stderr, "mpimoe-launch: %s\n", s.message().c_str());
    return 1;
  }

  using Clock = std::chrono::steady_clock;
  const auto sweep_start = Clock::now();
  int to_run = 0;
  std::vector<launch::ResultRow> rows(n);
  std::vector<bool> finished_before(n, false);
  for (int i = 0; i < n; ++i) {
    const std::string dir = out_dir + "/" + points[i].dir_name;
    std::string why_not;
    finished_before[i] = !args.force && FinishedEarlier(points[i], dir, &why_not);
    if (!finished_before[i] && (only < 0 || only == i)) ++to_run;
  }
  int ran = 0, failed = 0;
  bool interrupted = false;
  double run_seconds = 0;
  for (int i = 0; i < n; ++i) {
    const launch::Point& p = points[i];
    launch::ResultRow& row = rows[i];
    row.name = p.name;
    row.axis_values = p.axis_values;
    row.repeat = p.repeat;
    const std::string dir = out_dir + "/" + p.dir_name;
    if (finished_before[i]) {
      row.status = launch::PointStatus::kResumed;
      std::printf("[%d/%d] %s | finished in an earlier run, skipped\n", i + 1, n,
                  p.name.c_str());
      continue;
    }
    if ((only >= 0 && only != i) || interrupted || g_stop_signal != 0) {
      row.status = launch::PointStatus::kNotRun;
      continue;
    }
    const double elapsed =
        std::chrono::duration<double>(Clock::now() - sweep_start).count();
    std::string overrides;
    for (size_t k = 0; k < p.overrides.size(); ++k) {
      if (p.overrides[k].rfind("run.name=", 0) == 0) continue;
      overrides += (overrides.empty() ? "" : " ") + p.overrides[k];
    }
    const std::string eta =
        ran > 0 ? FormatDuration(run_seconds / ran * (to_run - ran)) : std::string("?");
    std::printf("[%d/%d] %s | np=%d %s | elapsed %s | ETA %s\n", i + 1, n, p.name.c_str(),
                p.world_size, overrides.c_str(), FormatDuration(elapsed).c_str(),
                eta.c_str());
    std::fflush(stdout);

    // A fresh directory: nothing of an earlier, different or failed run survives.
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    launch::ChildOptions child;
    child.argv = commands[i];
    if (spec.omp_num_threads > 0) {
      child.env.emplace_back("OMP_NUM_THREADS", std::to_string(spec.omp_num_threads));
    }
    child.log_path = dir + "/log.txt";
    child.timeout_s = spec.point_timeout_s;
    child.interrupt = &g_stop_signal;
    mpimoe::WriteFileAtomically(dir + "/command.txt",
                                launch::CommandLine(commands[i]) + "\n")
        .IgnoreError();
    const auto start = Clock::now();
    auto result = launch::RunChild(child);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    run_seconds += seconds;
    ++ran;

    std::string failure;
    if (!result.ok()) {
      failure = result.status().message();
    } else if (!result->ok()) {
      failure = result->description;
    } else {
      auto summary = launch::ReadSummary(dir + "/summary.json");
      if (!summary.ok()) {
        failure = "exit code 0 but no complete summary.json (" +
                  summary.status().message() + ")";
      }
    }
    if (result.ok() && result->interrupted) interrupted = true;
    if (failure.empty()) {
      row.status = launch::PointStatus::kOk;
      fs::remove(dir + "/failure.txt", ec);  // a success clears the failure marker
      std::printf("        ok in %s\n", FormatDuration(seconds).c_str());
    } else {
      if (interrupted) {
        row.status = launch::PointStatus::kInterrupted;
      } else {
        ++failed;
        row.status = launch::PointStatus::kFailed;
      }
      row.failure = failure;
      const std::string tail = launch::TailOfFile(child.log_path, 20);
      mpimoe::WriteFileAtomically(dir + "/failure.txt",
                                  "point " + p.name + ": " + failure +
                                      "\ncommand: " + launch::CommandLine(commands[i]) +
                                      "\n--- last lines of log.txt ---\n" + tail)
          .IgnoreError();
      std::printf("        %s after %s: %s (log: %s)\n%s",
                  interrupted ? "INTERRUPTED" : "FAILED", FormatDuration(seconds).c_str(),
                  failure.c_str(), child.log_path.c_str(),
                  launch::TailOfFile(child.log_path, 6).c_str());
    }
    std::fflush(stdout);
  }

  // Results of every point that has them (this run's and earlier runs').
  std::vector<launch::PlotPoint> plot_points(n);
  for (int i = 0; i < n; ++i) {
    launch::ResultRow& row = rows[i];
    launch::PlotPoint& pp = plot_points[i];
    pp.name = points[i].name;
    pp.axis_values = points[i].axis_values;
    if (row.status != launch::PointStatus::kOk &&
        row.status != launch::PointStatus::kResumed) {
      continue;
    }
    const std::string dir = out_dir + "/" + points[i].dir_name;
    auto summary = launch::ReadSummary(dir + "/summary.json");
    if (summary.ok()) {
      row.summary = *summary;
      pp.summary = *summary;
    }
    auto metrics = launch::ReadMetrics(dir + "/metrics.jsonl");
    if (metrics.ok()) {
      row.rank_imbalance = launch::MeanRankImbalance(*metrics);
      pp.metrics = std::move(metrics).value();
    } else {
      std::fprintf(stderr, "mpimoe-launch: warning: %s\n",
                   metrics.status().message().c_str());
    }
  }
  std::vector<std::string> labels;
  launch::PlotRequest request;
  request.title = spec.name;
  for (const launch::AxisSpec& axis : spec.axes) {
    labels.push_back(axis.label);
    request.axes.push_back({axis.label, axis.IsNumeric()});
  }
  int status_code = failed > 0 ? 1 : 0;
  const std::string markdown = launch::ResultsMarkdown(spec.name, labels, rows);
  for (const auto& [file, text] :
       {std::pair<std::string, std::string>{"results.csv",
                                            launch::ResultsCsv(labels, rows)},
        std::pair<std::string, std::string>{"results.md", markdown}}) {
    if (mpimoe::Status s = mpimoe::WriteFileAtomically(out_dir + "/" + file, text);
        !s.ok()) {
      std::fprintf(stderr, "mpimoe-launch: %s\n", s.message().c_str());
      status_code = 1;
    }
  }

  // Plots: data and script always; the PNGs when gnuplot is there.
  request.points = std::move(plot_points);
  for (int i = 0; i < n && heatmap_point < 0; ++i) {
    if (!request.points[i].metrics.empty()) heatmap_point = i;
  }
  request.heatmap_point = heatmap_point;
  request.heatmap_layer = spec.heatmap_layer;
  const launch::PlotSet plots = launch::BuildPlots(request);
  const std::string plot_dir = out_dir + "/plots";
  fs::create_directories(plot_dir, ec);
  bool plot_files_ok = !ec;
  for (const launch::PlotFile& f : plots.files) {
    if (!mpimoe::WriteFileAtomically(plot_dir + "/" + f.name, f.contents).ok()) {
      plot_files_ok = false;
    }
  }
  for (const std::string& note : plots.notes) {
    std::fprintf(stderr, "mpimoe-launch: note: plot %s\n", note.c_str());
  }
  if (!plot_files_ok) {
    std::fprintf(stderr, "mpimoe-launch: warning: cannot write the plot files in %s\n",
                 plot_dir.c_str());
  } else if (!plots.pngs.empty() && !interrupted && g_stop_signal == 0) {
    for (const std::string& png : plots.pngs) fs::remove(plot_dir + "/" + png, ec);
    launch::ChildOptions gnuplot;
    gnuplot.argv = {"gnuplot", launch::kPlotScriptName};
    gnuplot.cwd = plot_dir;
    gnuplot.log_path = plot_dir + "/gnuplot.log";
    gnuplot.timeout_s = 120;
    gnuplot.interrupt = &g_stop_signal;
    auto drawn = launch::RunChild(gnuplot);
    if (drawn.ok() && drawn->exit_code == 127 &&
        launch::TailOfFile(gnuplot.log_path, 1).find("cannot run") != std::string::npos) {
      std::fprintf(stderr,
                   "mpimoe-launch: warning: gnuplot is not installed (Debian: apt-get "
                   "install gnuplot-nox), so no PNGs; the data and script are in %s: "
                   "run `gnuplot %s` there\n",
                   plot_dir.c_str(), launch::kPlotScriptName);
    } else if (!drawn.ok() || !drawn->ok()) {
      std::fprintf(
          stderr, "mpimoe-launch: warning: gnuplot failed (%s); see %s\n",
          drawn.ok() ? drawn->description.c_str() : drawn.status().message().c_str(),
          gnuplot.log_path.c_str());
    } else {
      std::string drawn_list;
      for (const std::string& png : plots.pngs) {
        if (fs::exists(plot_dir + "/" + png)) drawn_list += " " + png;
      }
      std::printf("plots in %s:%s\n", plot_dir.c_str(), drawn_list.c_str());
    }
  }

  std::printf("\n%s\nresults: %s/results.md, %s/results.csv\n", markdown.c_str(),
              out_dir.c_str(), out_dir.c_str());
  const double total = std::chrono::duration<double>(Clock::now() - sweep_start).count();
  if (interrupted || g_stop_signal != 0) {
    std::printf(
        "mpimoe-launch: interrupted by signal %d; %d point(s) run, %d failed; the "
        "results so far are written, and a re-run resumes (the interrupted point runs "
        "again)\n",
        static_cast<int>(g_stop_signal), ran, failed);
    return kInterruptedExitCode;
  }
  if (failed > 0) {
    std::printf(
        "mpimoe-launch: %d of %d point(s) run failed (see failure.txt in their "
        "directories); done in %s\n",
        failed, ran, FormatDuration(total).c_str());
  } else {
    std::printf("mpimoe-launch: %d point(s) run, %d skipped; done in %s\n", ran, n - ran,
                FormatDuration(total).c_str());
  }
  return status_code;
}
