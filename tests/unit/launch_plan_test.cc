// Tests of what mpimoe-launch decides before it runs anything: its command line
// (examples/launch/launch_flags.h: values in both `--flag value` and `--flag=value`
// forms, --help exit 0, usage errors exit 2) and the sweep plan
// (examples/launch/sweep_plan.h: the output directory, --only and heatmap_point
// resolution and their errors, the command line of a point, the --dry-run listing).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "examples/launch/child_process.h"
#include "examples/launch/launch_flags.h"
#include "examples/launch/sweep_plan.h"

namespace mpimoe::launch {
namespace {

namespace fs = std::filesystem;

// Parses `args` (after the program name) silently; the exit code, or -1 to run.
int Parse(std::vector<std::string> args, LaunchFlags* flags) {
  args.insert(args.begin(), "mpimoe-launch");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const std::optional<int> exit_code = ParseLaunchFlags(
      static_cast<int>(argv.size()), argv.data(), /*print=*/false, flags);
  return exit_code.value_or(-1);
}

TEST(LaunchFlags, BothFormsAndDefaults) {
  LaunchFlags defaults;
  ASSERT_EQ(Parse({"exp.textproto"}, &defaults), -1);
  EXPECT_EQ(defaults.experiment, "exp.textproto");
  EXPECT_FALSE(defaults.dry_run);
  EXPECT_FALSE(defaults.force);
  EXPECT_EQ(defaults.only, "");
  EXPECT_EQ(defaults.out_dir, "");

  LaunchFlags spaced;
  ASSERT_EQ(
      Parse({"--only", "np=2", "exp.textproto", "--out", "o", "--dry-run", "--force"},
            &spaced),
      -1);
  EXPECT_EQ(spaced.experiment, "exp.textproto");
  EXPECT_EQ(spaced.only, "np=2");
  EXPECT_EQ(spaced.out_dir, "o");
  EXPECT_TRUE(spaced.dry_run);
  EXPECT_TRUE(spaced.force);

  LaunchFlags equals;  // the value may itself hold '='; a repeated flag keeps the last
  ASSERT_EQ(Parse({"exp.textproto", "--only=np=2,k=1", "--out=a", "--out=b"}, &equals),
            -1);
  EXPECT_EQ(equals.only, "np=2,k=1");
  EXPECT_EQ(equals.out_dir, "b");
  EXPECT_FALSE(equals.dry_run);
}

TEST(LaunchFlags, HelpExitsZeroAndUsageErrorsTwo) {
  for (const char* help : {"--help", "-h"}) {
    LaunchFlags flags;
    EXPECT_EQ(Parse({help}, &flags), 0) << help;
    EXPECT_EQ(Parse({"exp.textproto", help, "--bogus"}, &flags), 0) << help;
  }
  const std::vector<std::vector<std::string>> errors = {
      {},                                    // no EXPERIMENT
      {"--dry-run"},                         // no EXPERIMENT
      {"a.textproto", "b.textproto"},        // two
      {"exp.textproto", "--bogus"},          // unknown flag
      {"exp.textproto", "--only="},          // empty --only
      {"exp.textproto", "--only", ""},       // empty --only
      {"exp.textproto", "--only"},           // no value
      {"exp.textproto", "--out"},            // no value
      {"exp.textproto", "--dry-run=maybe"},  // not a flag value
  };
  for (const auto& args : errors) {
    LaunchFlags flags;
    std::string joined;
    for (const std::string& a : args) joined += "'" + a + "' ";
    EXPECT_EQ(Parse(args, &flags), 2) << joined;
  }
}

// A small valid experiment with an inline base config, written to a fresh directory.
class LaunchPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mpimoe_launch_plan_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the experiment (the inline base, then `text`) and returns its path.
  std::string Write(const std::string& text) {
    const std::string path = (dir_ / "exp.textproto").string();
    std::ofstream out(path);
    out << R"(base {
  model { seq_len: 18 d_model: 32 num_heads: 2 moe { num_experts: 4 top_k: 2 d_ffn: 32 } }
  data { global_batch_size: 4 synthetic { tasks: [COPY] num_symbols: 8 } }
  run { steps: 3 seed: 5 }
}
)" << text;
    return path;
  }

  fs::path dir_;
};

TEST_F(LaunchPlanTest, ResolvesTheFlagsAgainstTheExperiment) {
  LaunchFlags flags;
  flags.experiment = Write(R"(
axis { field: "world_size" values: ["1", "2"] }
axis { field: "model.moe.top_k" values: ["1", "2"] }
mpirun: "/opt/mpi/mpirun"
mpirun_args: "--oversubscribe"
omp_num_threads: 2
output_dir: "runs/x"
heatmap_point: "np=2,top_k=1"
)");
  flags.only = "1,top_k=2";
  flags.force = true;
  auto plan = PlanSweep(flags, "/bin/dir/mpimoe-train");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->num_points(), 4);
  EXPECT_EQ(plan->out_dir, "runs/x");
  EXPECT_EQ(plan->config_path, "runs/x/base.textproto");  // inline base: written there
  EXPECT_TRUE(plan->force);
  EXPECT_EQ(plan->only, 1);
  EXPECT_EQ(plan->only_how, "substring");
  EXPECT_FALSE(plan->Selected(0));
  EXPECT_TRUE(plan->Selected(1));
  EXPECT_EQ(plan->heatmap_point, 2);
  EXPECT_EQ(plan->PointDir(3), "runs/x/np=2,top_k=2");
  ASSERT_EQ(plan->commands.size(), 4u);
  EXPECT_EQ(
      plan->commands[3],
      (std::vector<std::string>{
          "/opt/mpi/mpirun", "-np", "2", "--oversubscribe", "-x", "OMP_NUM_THREADS",
          "/bin/dir/mpimoe-train", "runs/x/base.textproto", "--set", "model.moe.top_k=2",
          "--set", "run.name=np=2,top_k=2", "--out", "runs/x/np=2,top_k=2"}));

  // --out wins over output_dir; without --only every point is selected.
  flags.out_dir = (dir_ / "out").string();
  flags.only = "";
  auto moved = PlanSweep(flags, "mpimoe-train");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->out_dir, flags.out_dir);
  EXPECT_EQ(moved->only, -1);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(moved->Selected(i));
  EXPECT_EQ(moved->commands[0].back(), flags.out_dir + "/np=1,top_k=1");
  EXPECT_FALSE(fs::exists(flags.out_dir)) << "planning wrote something";
}

TEST_F(LaunchPlanTest, PointCommandWithoutOptionalParts) {
  ExperimentSpec spec;  // mpirun, no mpirun_args, no omp_num_threads
  Point point;
  point.world_size = 3;
  point.dir_name = "a=1";
  point.overrides = {"x.y=1", "run.name=a=1"};
  EXPECT_EQ(
      PointCommand(spec, point, "train", "base.textproto", "out"),
      (std::vector<std::string>{"mpirun", "-np", "3", "train", "base.textproto", "--set",
                                "x.y=1", "--set", "run.name=a=1", "--out", "out/a=1"}));
}

TEST_F(LaunchPlanTest, ErrorsNameTheFlagOrTheField) {
  LaunchFlags flags;
  flags.experiment = Write(R"(
axis { field: "model.moe.top_k" values: ["1", "2"] }
)");
  flags.only = "top_k=9";
  auto no_match = PlanSweep(flags, "train");
  ASSERT_FALSE(no_match.ok());
  EXPECT_EQ(no_match.status().message().rfind("--only: ", 0), 0u)
      << no_match.status().message();
  flags.only = "top_k";  // matches both points
  auto ambiguous = PlanSweep(flags, "train");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.status().message().rfind("--only: ", 0), 0u);

  flags.only = "";
  flags.experiment = Write(R"(
axis { field: "model.moe.top_k" values: ["1", "2"] }
heatmap_point: "top_k=7"
)");
  auto heatmap = PlanSweep(flags, "train");
  ASSERT_FALSE(heatmap.ok());
  EXPECT_EQ(heatmap.status().message().rfind(flags.experiment + ":8: heatmap_point: ", 0),
            0u)
      << heatmap.status().message();

  flags.experiment = (dir_ / "missing.textproto").string();
  EXPECT_FALSE(PlanSweep(flags, "train").ok());
}

TEST_F(LaunchPlanTest, DryRunListingAndOutputDir) {
  LaunchFlags flags;
  flags.experiment = Write(R"(
axis { field: "model.moe.top_k" values: ["1", "2"] }
omp_num_threads: 3
)");
  flags.out_dir = (dir_ / "out dir").string();
  flags.only = "top_k=2";
  auto plan = PlanSweep(flags, "train");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const std::string listing = DryRunListing(*plan);
  EXPECT_EQ(listing, "[1/2] top_k=1 (not selected by --only)\n  OMP_NUM_THREADS=3 " +
                         CommandLine(plan->commands[0]) + "\n[2/2] top_k=2\n" +
                         "  OMP_NUM_THREADS=3 " + CommandLine(plan->commands[1]) + "\n");

  ASSERT_TRUE(PrepareOutputDir(*plan).ok());
  std::ifstream base(plan->config_path);
  std::string first_line;
  std::getline(base, first_line);
  EXPECT_EQ(first_line, "# the inline base config of " + flags.experiment);
}

}  // namespace
}  // namespace mpimoe::launch
