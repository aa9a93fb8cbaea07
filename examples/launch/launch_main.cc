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
//
// The steps, each in its own file: flags (launch_flags.h), the plan (sweep_plan.h),
// running the points (sweep.h, point_run.h), the report (sweep_report.h).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "examples/launch/launch_flags.h"
#include "examples/launch/progress.h"
#include "examples/launch/sweep.h"
#include "examples/launch/sweep_plan.h"
#include "examples/launch/sweep_report.h"

namespace {

namespace fs = std::filesystem;
namespace launch = mpimoe::launch;

// The signal (SIGINT or SIGTERM) that asked the launcher to stop; 0 while none did.
// A global because a signal handler can reach nothing else: written only by
// OnStopSignal; read here and, through the pointer RunSweep and WriteSweepReport get
// (ChildOptions::interrupt), by RunChild, which forwards it to the running point's
// process group.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void OnStopSignal(int signal) { g_stop_signal = signal; }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGINT, SIGTERM}) sigaction(signal, &action, nullptr);
}

// mpimoe-train next to this executable.
std::string TrainBinary() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "mpimoe-train";
  return (self.parent_path() / "mpimoe-train").string();
}

// Open MPI's mpirun refuses to run as root without its two variables; say so up front.
void WarnIfMpirunRefusesRoot() {
  if (::geteuid() == 0 && (std::getenv("OMPI_ALLOW_RUN_AS_ROOT") == nullptr ||
                           std::getenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM") == nullptr)) {
    std::fprintf(
        stderr,
        "mpimoe-launch: warning: running as root, and Open MPI's mpirun refuses "
        "to run as root unless OMPI_ALLOW_RUN_AS_ROOT=1 and "
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 are exported (scripts/env.sh does).\n");
  }
}

// The last line: how the sweep ended.
void PrintSweepEnd(const launch::SweepOutcome& outcome, bool stopped, int num_points,
                   double seconds) {
  if (stopped) {
    std::printf(
        "mpimoe-launch: interrupted by signal %d; %d point(s) run, %d failed; the "
        "results so far are written, and a re-run resumes (the interrupted point runs "
        "again)\n",
        static_cast<int>(g_stop_signal), outcome.num_run, outcome.num_failed);
  } else if (outcome.num_failed > 0) {
    std::printf(
        "mpimoe-launch: %d of %d point(s) run failed (see failure.txt in their "
        "directories); done in %s\n",
        outcome.num_failed, outcome.num_run, mpimoe::FormatDuration(seconds).c_str());
  } else {
    std::printf("mpimoe-launch: %d point(s) run, %d skipped; done in %s\n",
                outcome.num_run, num_points - outcome.num_run,
                mpimoe::FormatDuration(seconds).c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  launch::LaunchFlags flags;
  if (auto exit_code = launch::ParseLaunchFlags(argc, argv, /*print=*/true, &flags)) {
    return *exit_code;
  }

  // Everything about the input is checked before anything runs or is written.
  auto planned = launch::PlanSweep(flags, TrainBinary());
  if (!planned.ok()) {
    std::fprintf(stderr, "mpimoe-launch: %s\n", planned.status().message().c_str());
    return launch::kExitBadInput;
  }
  const launch::SweepPlan& plan = *planned;
  if (plan.only >= 0) {
    std::printf("--only '%s': %s match, point %d/%d %s\n", flags.only.c_str(),
                plan.only_how.c_str(), plan.only + 1, plan.num_points(),
                plan.points[plan.only].name.c_str());
  }
  std::printf("mpimoe-launch: %s: %d point(s), output in %s\n", plan.spec.name.c_str(),
              plan.num_points(), plan.out_dir.c_str());
  if (flags.dry_run) {
    std::fputs(launch::DryRunListing(plan).c_str(), stdout);
    return launch::kExitAllOk;
  }
  WarnIfMpirunRefusesRoot();

  InstallStopHandlers();
  if (mpimoe::Status s = launch::PrepareOutputDir(plan); !s.ok()) {
    std::fprintf(stderr, "mpimoe-launch: %s\n", s.message().c_str());
    return launch::kExitFailed;
  }
  const auto start = std::chrono::steady_clock::now();
  const launch::SweepOutcome outcome = launch::RunSweep(plan, &g_stop_signal);
  const launch::SweepReport report =
      launch::WriteSweepReport(plan, outcome, &g_stop_signal);

  std::printf("\n%s\nresults: %s/results.md, %s/results.csv\n", report.markdown.c_str(),
              plan.out_dir.c_str(), plan.out_dir.c_str());
  const bool stop_requested = g_stop_signal != 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PrintSweepEnd(outcome, launch::Stopped(outcome, stop_requested), plan.num_points(),
                seconds);
  return launch::SweepExitCode(outcome, stop_requested, report.tables_written);
}
