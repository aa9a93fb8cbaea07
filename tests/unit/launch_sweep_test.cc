// Tests of how mpimoe-launch runs a planned sweep: progress text
// (examples/launch/progress.h), the finished-earlier check and running one point
// (point_run.h: fresh directory, environment, failure.txt, the summary check, time-out
// and interruption), the sweep (sweep.h: skipping, --only, --force, a stop signal) and
// the outcome -> exit code mapping; and RunChild telling a program that cannot be run
// from one that exits 127 (child_process.h). The points run `sh -c` scripts instead
// of mpirun, so nothing here needs MPI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "examples/launch/child_process.h"
#include "examples/launch/point_run.h"
#include "examples/launch/progress.h"
#include "examples/launch/sweep.h"

namespace mpimoe::launch {
namespace {

namespace fs = std::filesystem;

// A complete summary.json of a 2-rank run.
constexpr char kSummary[] =
    R"({"final_loss":0.5,"final_eval_loss":0.6,"tokens_per_s":100,"world_size":2,)"
    R"("steps":4,"peak_rss_mb":10,"wall_s":1})";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(LaunchProgress, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(59.4), "59s");
  EXPECT_EQ(FormatDuration(59.6), "1m00s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(3599), "59m59s");
  EXPECT_EQ(FormatDuration(3600), "1h00m");
  EXPECT_EQ(FormatDuration(7530), "2h05m");
}

TEST(LaunchProgress, LineAndTimeLeft) {
  Point point;
  point.name = "np=2,k=1";
  point.world_size = 2;
  point.overrides = {"run.steps=4", "model.moe.top_k=1", "run.name=np=2,k=1"};
  EXPECT_EQ(PointCounter(1, 4), "[2/4]");
  EXPECT_EQ(ProgressLine(1, 4, point, 41, std::nullopt),
            "[2/4] np=2,k=1 | np=2 run.steps=4 model.moe.top_k=1 | elapsed 41s | ETA ?");
  EXPECT_EQ(ProgressLine(3, 4, point, 130, 62.0),
            "[4/4] np=2,k=1 | np=2 run.steps=4 model.moe.top_k=1 | elapsed 2m10s | "
            "ETA 1m02s");
  EXPECT_FALSE(EstimateTimeLeft(0, 0, 5).has_value());
  EXPECT_DOUBLE_EQ(*EstimateTimeLeft(30, 2, 5), 45);  // 15 s each, 3 left
  EXPECT_DOUBLE_EQ(*EstimateTimeLeft(30, 2, 2), 0);
}

TEST(LaunchExitCode, FromTheOutcome) {
  SweepOutcome ok;
  ok.num_run = 3;
  EXPECT_FALSE(Stopped(ok, false));
  EXPECT_EQ(SweepExitCode(ok, false, true), kExitAllOk);
  EXPECT_EQ(SweepExitCode(ok, false, false), kExitFailed);  // results not written
  EXPECT_TRUE(Stopped(ok, true));
  EXPECT_EQ(SweepExitCode(ok, true, true), kExitInterrupted);  // signal after the points
  SweepOutcome failed = ok;
  failed.num_failed = 1;
  EXPECT_EQ(SweepExitCode(failed, false, true), kExitFailed);
  SweepOutcome interrupted = failed;
  interrupted.interrupted = true;
  EXPECT_TRUE(Stopped(interrupted, false));
  EXPECT_EQ(SweepExitCode(interrupted, false, true), kExitInterrupted);
  EXPECT_EQ(kExitAllOk, 0);
  EXPECT_EQ(kExitFailed, 1);
  EXPECT_EQ(kExitBadInput, 2);
  EXPECT_EQ(kExitInterrupted, 130);
}

TEST(LaunchChild, ExecFailureIsNotAnExitCode127) {
  ChildOptions missing;
  missing.argv = {"mpimoe-no-such-program-anywhere"};
  auto not_run = RunChild(missing);
  ASSERT_TRUE(not_run.ok()) << not_run.status().ToString();
  EXPECT_TRUE(not_run->exec_failed);
  EXPECT_EQ(not_run->exit_code, 127);

  ChildOptions exits_127;
  exits_127.argv = {"sh", "-c", "exit 127"};
  auto ran = RunChild(exits_127);
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_FALSE(ran->exec_failed);
  EXPECT_EQ(ran->exit_code, 127);

  ChildOptions fine;
  fine.argv = {"true"};
  auto ok = RunChild(fine);
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->exec_failed);
  EXPECT_TRUE(ok->ok());
}

// A sweep plan in a fresh directory whose points run shell scripts.
class LaunchSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mpimoe_launch_sweep_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    plan_.out_dir = dir_.string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Adds a 2-rank point whose command is `sh -c script`; $D in `script` is its directory.
  void AddPoint(const std::string& name, const std::string& script) {
    Point point;
    point.index = plan_.num_points();
    point.name = name;
    point.dir_name = name;
    point.world_size = 2;
    point.axis_values = {name};
    point.effective_config = "config of " + name + "\n";
    plan_.points.push_back(point);
    plan_.commands.push_back(
        {"sh", "-c", "D='" + plan_.PointDir(point.index) + "'; " + script});
  }
  // A script that finishes like mpimoe-train: summary.json and config.textproto.
  std::string Finishes(const std::string& name) const {
    return "printf '%s' '" + std::string(kSummary) + "' > \"$D/summary.json\"; " +
           "printf 'config of " + name + "\\n' > \"$D/config.textproto\"";
  }
  // Leaves `name`'s directory as a finished earlier run.
  void FinishEarlier(const std::string& name) {
    WriteFile(dir_ / name / "summary.json", kSummary);
    WriteFile(dir_ / name / "config.textproto", "config of " + name + "\n");
  }

  fs::path dir_;
  SweepPlan plan_;
};

TEST_F(LaunchSweepTest, FinishedEarlier) {
  AddPoint("a", "true");
  const Point& point = plan_.points[0];
  const std::string dir = plan_.PointDir(0);
  std::string why_not = "untouched";
  EXPECT_FALSE(FinishedEarlier(point, dir, &why_not));  // no earlier run
  EXPECT_EQ(why_not, "untouched");

  FinishEarlier("a");
  EXPECT_TRUE(FinishedEarlier(point, dir, &why_not));
  EXPECT_TRUE(FinishedEarlier(point, dir));

  WriteFile(dir_ / "a" / "failure.txt", "point a: exit code 1\n");  // failure.txt wins
  EXPECT_FALSE(FinishedEarlier(point, dir, &why_not));
  EXPECT_NE(why_not.find("failure.txt"), std::string::npos) << why_not;
  fs::remove(dir_ / "a" / "failure.txt");

  Point other_size = point;
  other_size.world_size = 4;
  EXPECT_FALSE(FinishedEarlier(other_size, dir, &why_not));
  EXPECT_NE(why_not.find("2 ranks"), std::string::npos) << why_not;

  Point edited = point;
  edited.effective_config = "config of a, edited\n";
  EXPECT_FALSE(FinishedEarlier(edited, dir, &why_not));
  EXPECT_NE(why_not.find("config changed"), std::string::npos) << why_not;

  WriteFile(dir_ / "a" / "summary.json", R"({"final_loss":0.5})");  // incomplete
  EXPECT_FALSE(FinishedEarlier(point, dir, &why_not));
  EXPECT_NE(why_not.find("summary.json"), std::string::npos) << why_not;
}

TEST_F(LaunchSweepTest, RunPointOkClearsAnEarlierFailure) {
  AddPoint("ok", Finishes("ok") + "; echo \"threads=$OMP_NUM_THREADS\"");
  plan_.spec.omp_num_threads = 3;
  WriteFile(dir_ / "ok" / "failure.txt", "from an earlier run\n");
  WriteFile(dir_ / "ok" / "stale.txt", "from an earlier run\n");
  const PointRun run = RunPoint(plan_, 0, nullptr);
  EXPECT_EQ(run.status, PointStatus::kOk);
  EXPECT_EQ(run.failure, "");
  EXPECT_GE(run.seconds, 0);
  EXPECT_FALSE(fs::exists(dir_ / "ok" / "failure.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "ok" / "stale.txt")) << "the directory is not fresh";
  EXPECT_EQ(ReadFile(dir_ / "ok" / "log.txt"), "threads=3\n");
  EXPECT_EQ(ReadFile(dir_ / "ok" / "command.txt"), CommandLine(plan_.commands[0]) + "\n");
  EXPECT_TRUE(FinishedEarlier(plan_.points[0], plan_.PointDir(0)));
}

TEST_F(LaunchSweepTest, RunPointRecordsFailures) {
  AddPoint("exits", "echo 'loss is not finite'; exit 3");
  AddPoint("no_summary", "echo done");
  AddPoint("slow", "sleep 30");
  plan_.spec.point_timeout_s = 1;

  const PointRun exits = RunPoint(plan_, 0, nullptr);
  EXPECT_EQ(exits.status, PointStatus::kFailed);
  EXPECT_EQ(exits.failure, "exit code 3");
  const std::string failure = ReadFile(dir_ / "exits" / "failure.txt");
  EXPECT_EQ(failure.rfind("point exits: exit code 3\ncommand: sh -c ", 0), 0u) << failure;
  EXPECT_NE(failure.find("--- last lines of log.txt ---\nloss is not finite\n"),
            std::string::npos)
      << failure;

  const PointRun no_summary = RunPoint(plan_, 1, nullptr);
  EXPECT_EQ(no_summary.status, PointStatus::kFailed);
  EXPECT_EQ(no_summary.failure.rfind("exit code 0 but no complete summary.json", 0), 0u)
      << no_summary.failure;
  EXPECT_TRUE(fs::exists(dir_ / "no_summary" / "failure.txt"));

  const PointRun slow = RunPoint(plan_, 2, nullptr);
  EXPECT_EQ(slow.status, PointStatus::kFailed);
  EXPECT_EQ(slow.failure.rfind("timed out after 1 s", 0), 0u) << slow.failure;
  EXPECT_LT(slow.seconds, 20);
}

TEST_F(LaunchSweepTest, RunPointInterrupted) {
  AddPoint("stopped", "sleep 30");
  const volatile std::sig_atomic_t stop = SIGTERM;
  const PointRun run = RunPoint(plan_, 0, &stop);
  EXPECT_EQ(run.status, PointStatus::kInterrupted);
  EXPECT_EQ(run.failure.rfind("interrupted by signal 15", 0), 0u) << run.failure;
  EXPECT_TRUE(fs::exists(dir_ / "stopped" / "failure.txt"));  // runs again next time
  EXPECT_FALSE(FinishedEarlier(plan_.points[0], plan_.PointDir(0)));
}

TEST_F(LaunchSweepTest, RunSweepSkipsFailsAndCarriesOn) {
  AddPoint("earlier", "exit 7");  // must not run: it finished earlier
  AddPoint("fails", "exit 3");
  AddPoint("ok", Finishes("ok"));
  FinishEarlier("earlier");
  const SweepOutcome outcome = RunSweep(plan_, nullptr);
  ASSERT_EQ(outcome.rows.size(), 3u);
  EXPECT_EQ(outcome.rows[0].status, PointStatus::kResumed);
  EXPECT_EQ(outcome.rows[1].status, PointStatus::kFailed);
  EXPECT_EQ(outcome.rows[1].failure, "exit code 3");
  EXPECT_EQ(outcome.rows[2].status, PointStatus::kOk);
  EXPECT_EQ(outcome.rows[2].name, "ok");
  EXPECT_EQ(outcome.rows[2].axis_values, std::vector<std::string>{"ok"});
  EXPECT_EQ(outcome.num_run, 2);
  EXPECT_EQ(outcome.num_failed, 1);
  EXPECT_FALSE(outcome.interrupted);
  EXPECT_FALSE(fs::exists(dir_ / "earlier" / "log.txt"));
  EXPECT_EQ(SweepExitCode(outcome, false, true), kExitFailed);
}

TEST_F(LaunchSweepTest, RunSweepOnlyAndForce) {
  AddPoint("earlier", "exit 7");
  AddPoint("ok", Finishes("ok"));
  FinishEarlier("earlier");
  plan_.only = 1;
  const SweepOutcome only = RunSweep(plan_, nullptr);
  EXPECT_EQ(only.rows[0].status, PointStatus::kResumed);  // finished: still reported
  EXPECT_EQ(only.rows[1].status, PointStatus::kOk);
  EXPECT_EQ(only.num_run, 1);
  EXPECT_EQ(SweepExitCode(only, false, true), kExitAllOk);

  plan_.only = 0;
  plan_.force = true;  // runs the finished point again (and it fails now)
  const SweepOutcome forced = RunSweep(plan_, nullptr);
  EXPECT_EQ(forced.rows[0].status, PointStatus::kFailed);
  EXPECT_EQ(forced.rows[0].failure, "exit code 7");
  EXPECT_EQ(forced.rows[1].status, PointStatus::kNotRun);  // not selected by --only
  EXPECT_EQ(forced.num_run, 1);
  EXPECT_EQ(forced.num_failed, 1);
}

TEST_F(LaunchSweepTest, RunSweepAfterAStopSignalRunsNothing) {
  AddPoint("earlier", "exit 7");
  AddPoint("next", Finishes("next"));
  FinishEarlier("earlier");
  const volatile std::sig_atomic_t stop = SIGINT;
  const SweepOutcome outcome = RunSweep(plan_, &stop);
  EXPECT_EQ(outcome.rows[0].status, PointStatus::kResumed);
  EXPECT_EQ(outcome.rows[1].status, PointStatus::kNotRun);
  EXPECT_EQ(outcome.num_run, 0);
  EXPECT_FALSE(fs::exists(dir_ / "next"));
  EXPECT_EQ(SweepExitCode(outcome, /*stop_requested=*/true, true), kExitInterrupted);
}

}  // namespace
}  // namespace mpimoe::launch
