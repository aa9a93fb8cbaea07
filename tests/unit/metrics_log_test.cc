// Unit tests of runtime/train/metrics_log.h: a record's fields and their order, a fresh
// log truncating, a resumed log keeping exactly the records before its first step (a
// torn last line and lines that are not records dropped) and appending after them.
#include "runtime/train/metrics_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mpimoe::train {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class MetricsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "metrics_log_test_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    record_.losses.cross_entropy = 2.5;
    record_.losses.aux = 0.25;
    record_.lr = 1.5e-4f;
    record_.step_ms = 10.0;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  LoggedStep Step(int64_t step) {
    LoggedStep s;
    s.step = step;
    s.record = &record_;
    s.placement = &placement_;
    s.load.rows = {3, 5};
    s.load.imbalance = 1.25;
    s.expert_tokens = {{1, 2}, {3, 4}};
    return s;
  }
  std::string path() const { return dir_ + "/metrics.jsonl"; }

  std::string dir_;
  StepRecord record_;
  PlacementTotals placement_;
};

TEST_F(MetricsLogTest, RecordHasTheDocumentedFieldsInOrder) {
  LoggedStep step = Step(7);
  Json record = MetricsRecord(step);
  std::vector<std::string> keys;
  for (const auto& [key, value] : record.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"step",
                                            "loss",
                                            "cross_entropy",
                                            "aux_loss",
                                            "lr",
                                            "grad_norm",
                                            "tokens_per_s",
                                            "step_ms",
                                            "phase_ms",
                                            "comm_wait_ms",
                                            "expert_tokens",
                                            "expert_rows_per_rank",
                                            "rank_imbalance",
                                            "placement_bound",
                                            "a2a_bytes",
                                            "replica_bytes",
                                            "migration_bytes",
                                            "plan_changes",
                                            "planner_us",
                                            "skipped_steps"}));
  EXPECT_EQ(record["step"], 7);
  EXPECT_EQ(record["loss"].get<double>(), 2.75);
  EXPECT_EQ(record["expert_rows_per_rank"], Json({3, 5}));
  EXPECT_EQ(record["phase_ms"].size(), kPhaseNames.size());
  EXPECT_NE(DumpJson(record).find("\"lr\":0.00015,"), std::string::npos);

  step.eval_loss = 2.0;
  placement_.Add(7, PlacementRecord{0, 0, 0, 1, 0.0, {"moved expert 3"}});
  record = MetricsRecord(step);
  EXPECT_EQ(record["eval_loss"].get<double>(), 2.0);
  EXPECT_EQ(record["replans"], Json({"step 7, moved expert 3"}));
  EXPECT_EQ(record["plan_changes"], 1);
}

TEST_F(MetricsLogTest, FreshLogTruncatesResumedLogKeepsEarlierRecords) {
  {
    std::ofstream old(path());
    old << "{\"step\":9,\"loss\":1}\n";
  }
  {
    StatusOr<MetricsLog> log = MetricsLog::Open(dir_, 1);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int64_t step = 1; step <= 4; ++step) ASSERT_TRUE(log->Append(Step(step)).ok());
  }
  std::string text = ReadAll(path());
  EXPECT_EQ(text.find("\"step\":9"), std::string::npos) << "a fresh log must truncate";
  {
    std::ofstream more(path(), std::ios::app);
    more << "not json\n{\"loss\":1}\n{\"step\":2,\"torn";  // no newline at the end
  }
  {
    StatusOr<MetricsLog> log = MetricsLog::Open(dir_, 3);  // resumed after step 2
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE(log->Append(Step(3)).ok());
  }
  std::vector<int64_t> steps;
  std::istringstream lines(ReadAll(path()));
  for (std::string line; std::getline(lines, line);) {
    StatusOr<Json> record = ParseJson(line, "metrics.jsonl");
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    steps.push_back(record->at("step").get<int64_t>());
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3}));
}

TEST_F(MetricsLogTest, OpenFailureNamesTheFile) {
  StatusOr<MetricsLog> log = MetricsLog::Open(dir_ + "/no/such/dir", 1);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find(dir_ + "/no/such/dir/metrics.jsonl"),
            std::string::npos)
      << log.status().message();
}

}  // namespace
}  // namespace mpimoe::train
