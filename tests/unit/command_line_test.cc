// Unit tests of examples/cli/command_line.h, the command-line conventions of every
// mpimoe program: what to run or which exit code, usage errors printed once and naming
// the subcommand, and the numeric checks' messages.
#include "examples/cli/command_line.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace mpimoe::cli {
namespace {

struct Parsed {
  std::optional<int> exit_code;
  std::string out, err;
};

// Parses `words` (after the program name) with output captured.
Parsed Parse(CLI::App& app, std::vector<std::string> words, bool print = true) {
  words.insert(words.begin(), app.get_name());
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Parsed p;
  p.exit_code = ParseCommandLine(app, static_cast<int>(argv.size()), argv.data(), print);
  p.out = ::testing::internal::GetCapturedStdout();
  p.err = ::testing::internal::GetCapturedStderr();
  return p;
}

struct Flags {
  std::string config;
  std::vector<std::string> sets;
  int64_t steps = 20;
  double lr = 0.5;
};

void Declare(CLI::App& app, Flags* f) {
  UseProjectStyle(app);
  app.add_option("CONFIG", f->config, "a config")->required();
  app.add_option("--set", f->sets, "override")->allow_extra_args(false);
  app.add_option("--steps", f->steps, "steps")->check(IntegerCheck(Sign::kPositive));
  app.add_option("--lr", f->lr, "rate")->check(RealCheck(Sign::kNonNegative));
}

TEST(CommandLineTest, RunsWithBothFlagForms) {
  CLI::App app("test", "prog");
  Flags f;
  Declare(app, &f);
  const Parsed p = Parse(
      app, {"--set", "a=1", "c.textproto", "--set=b=2", "--steps=7", "--lr", "0.25"});
  EXPECT_FALSE(p.exit_code.has_value()) << p.err;
  EXPECT_EQ(f.config, "c.textproto");
  EXPECT_EQ(f.sets, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(f.steps, 7);
  EXPECT_EQ(f.lr, 0.25);
  EXPECT_TRUE(p.out.empty());
  EXPECT_TRUE(p.err.empty());
}

TEST(CommandLineTest, HelpExitsZeroWithDefaults) {
  CLI::App app("test", "prog");
  Flags f;
  Declare(app, &f);
  const Parsed p = Parse(app, {"--steps", "5", "--help"});  // no CONFIG: help wins
  ASSERT_TRUE(p.exit_code.has_value());
  EXPECT_EQ(*p.exit_code, 0);
  EXPECT_NE(p.out.find("Usage: prog"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("=20"), std::string::npos) << p.out;
  EXPECT_TRUE(p.err.empty());
}

TEST(CommandLineTest, UsageErrorIsExitTwoPrintedOnceOrNotAtAll) {
  for (const bool print : {true, false}) {
    CLI::App app("test", "prog");
    Flags f;
    Declare(app, &f);
    const Parsed p = Parse(app, {"c", "--steps", "0"}, print);
    ASSERT_TRUE(p.exit_code.has_value());
    EXPECT_EQ(*p.exit_code, kUsageExitCode);
    EXPECT_TRUE(p.out.empty());
    if (!print) {
      EXPECT_TRUE(p.err.empty()) << p.err;
      continue;
    }
    EXPECT_EQ(p.err.rfind("prog: --steps: must be positive, got '0'\n", 0), 0u) << p.err;
    EXPECT_NE(p.err.find("Usage: prog"), std::string::npos);
  }
}

TEST(CommandLineTest, NumericChecksNameTheProblem) {
  const auto error = [](std::vector<std::string> words) {
    CLI::App app("test", "prog");
    Flags f;
    Declare(app, &f);
    words.insert(words.begin(), "c");
    const Parsed p = Parse(app, words);
    EXPECT_EQ(p.exit_code.value_or(-1), kUsageExitCode);
    return p.err.substr(0, p.err.find('\n'));
  };
  EXPECT_EQ(error({"--steps", "abc"}), "prog: --steps: expected an integer, got 'abc'");
  EXPECT_EQ(error({"--steps=1.5"}), "prog: --steps: expected an integer, got '1.5'");
  EXPECT_EQ(error({"--lr", "-1"}), "prog: --lr: must be non-negative, got '-1'");
  EXPECT_EQ(error({"--lr", "nan"}), "prog: --lr: expected a number, got 'nan'");
  EXPECT_EQ(error({"--frob"}), "prog: The following argument was not expected: --frob");
  // One value per --set: a second word is not taken as a second override.
  EXPECT_EQ(error({"--set", "a=1", "b=2"}),
            "prog: The following argument was not expected: b=2");
}

TEST(CommandLineTest, ErrorsNameTheSubcommand) {
  CLI::App app("test", "bench");
  UseProjectStyle(app);
  int64_t steps = 1;
  CLI::App* sub = app.add_subcommand("moe-layer", "one layer");
  sub->add_option("--steps", steps, "steps")->check(IntegerCheck(Sign::kPositive, 100));
  const Parsed p = Parse(app, {"moe-layer", "--steps", "101"});
  EXPECT_EQ(p.exit_code.value_or(-1), kUsageExitCode);
  EXPECT_EQ(p.err.rfind("bench moe-layer: --steps: must be at most 100, got '101'", 0),
            0u)
      << p.err;
  EXPECT_NE(p.err.find("Usage: bench moe-layer"), std::string::npos) << p.err;
}

}  // namespace
}  // namespace mpimoe::cli
