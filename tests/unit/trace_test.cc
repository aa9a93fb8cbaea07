// Unit tests of the trace recorder (runtime/core/trace.h): event order in the JSON,
// nesting of spans and timer phases, JSON escaping, the step window, a null recorder
// recording nothing, and the merged document read back by the JSON reader
// (runtime/core/json.h) and passing the trace checker.
#include "runtime/core/trace.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/json.h"
#include "tests/tools/trace_check.h"

namespace mpimoe {
namespace {

using testing::CheckTrace;

Json ParseOrDie(const std::string& text) {
  StatusOr<Json> value = ParseJson(text, "trace");
  EXPECT_TRUE(value.ok()) << value.status().ToString() << "\n" << text;
  return value.ok() ? std::move(*value) : Json();
}

// The complete events of a merged document, in file order.
std::vector<const Json*> CompleteEvents(const Json& doc) {
  std::vector<const Json*> out;
  if (!doc.contains("traceEvents")) return out;
  for (const Json& e : doc.at("traceEvents")) {
    if (e.value("ph", "") == "X") out.push_back(&e);
  }
  return out;
}

TEST(TraceRecorderTest, EventsAreSortedByBeginParentsFirst) {
  TraceRecorder trace;
  // Added in completion order (children first), as spans finish.
  trace.Add("child_b", 30, 40);
  trace.Add("child_a", 10, 20);
  trace.Add("parent", 10, 50);
  trace.Add("later", 60, 70);
  std::string json;
  trace.AppendEventsJson(&json);
  const Json doc = ParseOrDie(TraceDocument({json}));
  const std::vector<const Json*> events = CompleteEvents(doc);
  ASSERT_EQ(events.size(), 4u);
  const char* expected[] = {"parent", "child_a", "child_b", "later"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(events[i]->at("name").get<std::string>(), expected[i]);
  }
  // ts and dur are microseconds with nanosecond decimals.
  EXPECT_DOUBLE_EQ(events[0]->at("ts").get<double>(), 0.010);
  EXPECT_DOUBLE_EQ(events[0]->at("dur").get<double>(), 0.040);
}

TEST(TraceRecorderTest, SpansAndTimerPhasesNest) {
  TraceRecorder trace(TraceOptions{3, 0, 16});
  trace.BeginStep(1);
  {
    TraceSpan step(&trace, "step", "step", 1);
    TraceTimer phase(&trace, "dispatch");
    { TraceSpan wait(&trace, "alltoall"); }
    { TraceSpan wait(&trace, "alltoallv", "rows", 12); }
    const double dispatch_ms = phase.Next("combine");
    EXPECT_GE(dispatch_ms, 0.0);
    phase.Stop();
    phase.Stop();  // a second Stop records nothing
  }
  ASSERT_EQ(trace.events().size(), 5u);
  std::string json;
  trace.AppendEventsJson(&json);
  const Json doc = ParseOrDie(TraceDocument({"", "", "", json}));
  testing::TraceCheckOptions options;
  options.num_ranks = 4;
  // pids 0-2 have no events: the checker must say so, and nothing else.
  testing::TraceCheckResult result = CheckTrace(doc, options);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].find("pids {3}"), std::string::npos) << result.errors[0];
  // Alone, pid 3's events nest: step > dispatch > {alltoall, alltoallv}, then combine.
  const std::vector<const Json*> events = CompleteEvents(doc);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0]->at("name").get<std::string>(), "step");
  EXPECT_EQ(events[0]->at("pid").get<double>(), 3);
  EXPECT_EQ(events[0]->at("args").at("step").get<double>(), 1);
  EXPECT_EQ(events[1]->at("name").get<std::string>(), "dispatch");
  EXPECT_EQ(events[4]->at("name").get<std::string>(), "combine");
  EXPECT_EQ(events[3]->at("args").at("rows").get<double>(), 12);
  for (size_t i = 1; i < 5; ++i) {
    const double begin = events[i]->at("ts").get<double>();
    const double end = begin + events[i]->at("dur").get<double>();
    EXPECT_GE(begin, events[0]->at("ts").get<double>());
    EXPECT_LE(end, events[0]->at("ts").get<double>() +
                       events[0]->at("dur").get<double>() + 1e-9);
  }
  // dispatch ends exactly where combine begins (one clock reading).
  EXPECT_EQ(std::llround(events[1]->at("ts").get<double>() * 1e3) +
                std::llround(events[1]->at("dur").get<double>() * 1e3),
            std::llround(events[4]->at("ts").get<double>() * 1e3));
}

TEST(TraceRecorderTest, NullRecorderRecordsNothingButTimerStillMeasures) {
  TraceSpan span(nullptr, "nothing");
  span.End();
  TraceTimer timer(nullptr, "phase");
  volatile double sink = 0;
  for (int i = 0; i < 1000; ++i) sink = sink + i;
  EXPECT_GE(timer.Stop(), 0.0);
}

TEST(TraceRecorderTest, KeepsOnlyTheLastSteps) {
  TraceRecorder trace(TraceOptions{0, 2, 4});
  trace.Add("before", 0, 1);  // before any step: dropped with the first step
  for (int64_t step = 1; step <= 5; ++step) {
    trace.BeginStep(step);
    trace.Add("a", step * 100, step * 100 + 10);
    trace.Add("b", step * 100 + 20, step * 100 + 30);
  }
  EXPECT_EQ(trace.kept_steps(), (std::vector<int64_t>{4, 5}));
  ASSERT_EQ(trace.events().size(), 4u);
  EXPECT_EQ(trace.events()[0].begin_ns, 400);
  EXPECT_EQ(trace.events()[3].begin_ns, 520);
  // Keep-all keeps everything.
  TraceRecorder all(TraceOptions{0, 0, 4});
  for (int64_t step = 1; step <= 30; ++step) {
    all.BeginStep(step);
    all.Add("a", step, step + 1);
  }
  EXPECT_EQ(all.events().size(), 30u);
}

TEST(TraceRecorderTest, ResetOriginDropsEvents) {
  TraceRecorder trace;
  trace.BeginStep(1);
  trace.Add("a", 0, 1);
  trace.ResetOrigin();
  EXPECT_TRUE(trace.events().empty());
  EXPECT_TRUE(trace.kept_steps().empty());
  EXPECT_GE(trace.NowNs(), 0);
}

TEST(TraceRecorderTest, NamesAreEscaped) {
  TraceRecorder trace;
  trace.Add("quote\" back\\slash\nnew\ttab\x01", 0, 5, 0, "a\"rg", 7);
  std::string json;
  trace.AppendEventsJson(&json);
  EXPECT_NE(json.find(R"("quote\" back\\slash\nnew\ttab\u0001")"), std::string::npos)
      << json;
  const Json doc = ParseOrDie(TraceDocument({json}));
  const std::vector<const Json*> events = CompleteEvents(doc);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]->at("name").get<std::string>(),
            "quote\" back\\slash\nnew\ttab\x01");
  EXPECT_EQ(events[0]->at("args").at("a\"rg").get<double>(), 7);
}

TEST(TraceRecorderTest, DocumentHasOneNamedProcessPerPiece) {
  TraceRecorder r0(TraceOptions{0, 0, 4}), r1(TraceOptions{1, 0, 4});
  r0.Add("attention", 0, 10);
  r1.Add("attention", 2, 12);
  std::string p0, p1;
  r0.AppendEventsJson(&p0);
  r1.AppendEventsJson(&p1);
  const Json doc = ParseOrDie(TraceDocument({p0, p1}));
  ASSERT_TRUE(doc.contains("displayTimeUnit"));
  EXPECT_EQ(doc.at("displayTimeUnit"), "ms");
  testing::TraceCheckOptions options;
  options.num_ranks = 2;
  options.required_names = {"attention"};
  const testing::TraceCheckResult result = CheckTrace(doc, options);
  EXPECT_TRUE(result.errors.empty()) << result.errors[0];
  EXPECT_EQ(result.num_complete_events, 2);
  options.required_names.push_back("balancer");
  EXPECT_EQ(CheckTrace(doc, options).errors.size(), 2u);  // missing on both ranks
}

}  // namespace
}  // namespace mpimoe
