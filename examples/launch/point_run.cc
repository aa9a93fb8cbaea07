// point_run.cc: see point_run.h.
#include "examples/launch/point_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

#include "examples/launch/child_process.h"
#include "examples/launch/progress.h"
#include "runtime/core/atomic_file.h"
#include "runtime/core/file_io.h"

namespace mpimoe::launch {
namespace {

namespace fs = std::filesystem;

// Why the run that ended with `result` failed; nullopt when it finished: exit code 0
// and a complete summary.json in `dir`.
std::optional<std::string> FailureOf(const StatusOr<ChildResult>& result,
                                     const std::string& dir) {
  if (!result.ok()) return result.status().message();
  if (!result->ok()) return result->description;
  auto summary = ReadSummary(dir + "/summary.json");
  if (!summary.ok()) {
    return "exit code 0 but no complete summary.json (" + summary.status().message() +
           ")";
  }
  return std::nullopt;
}

ChildOptions PointChild(const SweepPlan& plan, int index,
                        const volatile std::sig_atomic_t* stop) {
  ChildOptions child;
  child.argv = plan.commands[index];
  if (plan.spec.omp_num_threads > 0) {
    child.env.emplace_back("OMP_NUM_THREADS", std::to_string(plan.spec.omp_num_threads));
  }
  child.log_path = plan.PointDir(index) + "/log.txt";
  child.timeout_s = plan.spec.point_timeout_s;
  child.interrupt = stop;
  return child;
}

}  // namespace

bool FinishedEarlier(const Point& point, const std::string& dir, std::string* why_not) {
  std::string unused;
  if (why_not == nullptr) why_not = &unused;
  if (fs::exists(dir + "/failure.txt")) {
    *why_not = "the earlier run failed (failure.txt)";
    return false;
  }
  if (!fs::exists(dir + "/summary.json")) return false;
  auto summary = ReadSummary(dir + "/summary.json");
  if (!summary.ok()) {
    *why_not = summary.status().message();
    return false;
  }
  if (summary->world_size != point.world_size) {
    *why_not = "the earlier run used " + std::to_string(summary->world_size) + " ranks";
    return false;
  }
  const StatusOr<std::string> config = ReadFileToString(dir + "/config.textproto");
  if (!config.ok() || *config != point.effective_config) {
    *why_not = "its config changed since the earlier run";
    return false;
  }
  return true;
}

PointRun RunPoint(const SweepPlan& plan, int index,
                  const volatile std::sig_atomic_t* stop) {
  const Point& point = plan.points[index];
  const std::string dir = plan.PointDir(index);
  const std::string command = CommandLine(plan.commands[index]);
  // A fresh directory: nothing of an earlier, different or failed run survives.
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  const ChildOptions child = PointChild(plan, index, stop);
  WriteFileAtomically(dir + "/command.txt", command + "\n").IgnoreError();

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const StatusOr<ChildResult> result = RunChild(child);
  PointRun run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  const std::optional<std::string> failure = FailureOf(result, dir);
  if (!failure) {
    run.status = PointStatus::kOk;
    fs::remove(dir + "/failure.txt", ec);  // a success clears the failure marker
    std::printf("        ok in %s\n", FormatDuration(run.seconds).c_str());
    return run;
  }
  const bool interrupted = result.ok() && result->interrupted;
  run.status = interrupted ? PointStatus::kInterrupted : PointStatus::kFailed;
  run.failure = *failure;
  WriteFileAtomically(dir + "/failure.txt", "point " + point.name + ": " + run.failure +
                                                "\ncommand: " + command +
                                                "\n--- last lines of log.txt ---\n" +
                                                TailOfFile(child.log_path, 20))
      .IgnoreError();
  std::printf("        %s after %s: %s (log: %s)\n%s",
              interrupted ? "INTERRUPTED" : "FAILED", FormatDuration(run.seconds).c_str(),
              run.failure.c_str(), child.log_path.c_str(),
              TailOfFile(child.log_path, 6).c_str());
  return run;
}

}  // namespace mpimoe::launch
