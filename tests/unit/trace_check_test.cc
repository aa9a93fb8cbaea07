// Unit tests of the trace checker (tests/tools/trace_check.h) on traces that must pass
// and traces that must fail (overlap, missing rank, missing phase, bad fields), so that
// the CLI trace test cannot pass vacuously.
#include "tests/tools/trace_check.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "runtime/core/json.h"

namespace mpimoe::testing {
namespace {

Json Parse(const std::string& text) {
  StatusOr<Json> value = ParseJson(text, "trace");
  EXPECT_TRUE(value.ok()) << value.status().ToString();
  return value.ok() ? std::move(*value) : Json();
}

// Two ranks, properly nested events; `extra` is appended to the event list.
std::string Trace(const std::string& extra = "") {
  std::string events =
      R"({"name":"process_name","ph":"M","pid":0,"tid":0,"args":{"name":"rank 0"}},)"
      R"({"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"rank 1"}},)"
      R"({"name":"step","ph":"X","pid":0,"tid":0,"ts":0,"dur":10},)"
      R"({"name":"dispatch","ph":"X","pid":0,"tid":0,"ts":1.5,"dur":3.5},)"
      R"({"name":"alltoall","ph":"X","pid":0,"tid":0,"ts":1.5,"dur":1},)"
      R"({"name":"combine","ph":"X","pid":0,"tid":0,"ts":5,"dur":5},)"
      R"({"name":"step","ph":"X","pid":1,"tid":0,"ts":0.2,"dur":10},)"
      R"({"name":"dispatch","ph":"X","pid":1,"tid":0,"ts":2,"dur":3},)"
      R"({"name":"combine","ph":"X","pid":1,"tid":0,"ts":5,"dur":5})";
  return R"({"traceEvents":[)" + events + extra + R"(],"displayTimeUnit":"ms"})";
}

TraceCheckResult Check(const std::string& text, int ranks,
                       std::vector<std::string> names = {"dispatch", "combine"}) {
  TraceCheckOptions options;
  options.num_ranks = ranks;
  options.required_names = std::move(names);
  return CheckTrace(Parse(text), options);
}

TEST(TraceCheckTest, AcceptsNestedAndTouchingEvents) {
  const TraceCheckResult r = Check(Trace(), 2);
  EXPECT_TRUE(r.errors.empty()) << r.errors[0];
  EXPECT_EQ(r.num_complete_events, 7);
  EXPECT_EQ(r.max_depth, 3);  // step > dispatch > alltoall
  // The same times on another thread do not interact.
  EXPECT_TRUE(Check(Trace(R"(,{"name":"x","ph":"X","pid":0,"tid":1,"ts":4,"dur":3})"), 2)
                  .errors.empty());
}

TEST(TraceCheckTest, RejectsOverlapMissingRanksAndPhases) {
  // Starts inside dispatch (1.5..5), ends after it.
  const TraceCheckResult overlap =
      Check(Trace(R"(,{"name":"bad","ph":"X","pid":0,"tid":0,"ts":4,"dur":2})"), 2);
  ASSERT_EQ(overlap.errors.size(), 1u);
  EXPECT_NE(overlap.errors[0].find("\"bad\""), std::string::npos) << overlap.errors[0];
  // An event beyond its parent's end on the other rank.
  EXPECT_EQ(Check(Trace(R"(,{"name":"late","ph":"X","pid":1,"tid":0,"ts":9,"dur":2})"), 2)
                .errors.size(),
            1u);
  // Three ranks expected, two present; a phase missing everywhere; a stray pid.
  EXPECT_FALSE(Check(Trace(), 3).errors.empty());
  EXPECT_EQ(Check(Trace(), 2, {"dispatch", "balancer"}).errors.size(), 2u);
  EXPECT_FALSE(
      Check(Trace(R"(,{"name":"x","ph":"X","pid":7,"tid":0,"ts":20,"dur":1})"), 2)
          .errors.empty());
  // Missing fields, negative dur, no traceEvents.
  EXPECT_FALSE(Check(Trace(R"(,{"name":"x","ph":"X","pid":0,"tid":0,"ts":20})"), 2)
                   .errors.empty());
  EXPECT_FALSE(
      Check(Trace(R"(,{"name":"x","ph":"X","pid":0,"tid":0,"ts":20,"dur":-1})"), 2)
          .errors.empty());
  EXPECT_FALSE(Check("[]", 1).errors.empty());
}

TEST(TraceCheckTest, RejectsAPhaseNestedInAnotherPhase) {
  TraceCheckOptions options;
  options.num_ranks = 2;
  options.phase_names = {"dispatch", "combine"};
  // alltoall inside dispatch is fine: it is not a phase.
  EXPECT_TRUE(CheckTrace(Parse(Trace()), options).errors.empty());
  // combine inside dispatch (1.5..5) nests properly, but phases are siblings.
  const TraceCheckResult r = CheckTrace(
      Parse(Trace(R"(,{"name":"combine","ph":"X","pid":0,"tid":0,"ts":2.5,"dur":1})")),
      options);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("phase \"combine\""), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("nested in phase \"dispatch\""), std::string::npos)
      << r.errors[0];
}

}  // namespace
}  // namespace mpimoe::testing
