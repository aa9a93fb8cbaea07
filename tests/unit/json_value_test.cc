// Unit tests of the test tools: the JSON reader (tests/tools/json_value.h) on valid and
// invalid documents, and the trace checker (tests/tools/trace_check.h) on traces that
// must pass and traces that must fail (overlap, missing rank, missing phase, bad
// fields), so that the CLI trace test cannot pass vacuously.
#include "tests/tools/json_value.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/tools/trace_check.h"

namespace mpimoe::testing {
namespace {

JsonValue Parse(const std::string& text) {
  JsonValue value;
  std::string error;
  EXPECT_TRUE(ParseJson(text, &value, &error)) << error;
  return value;
}

std::string ErrorOf(const std::string& text) {
  JsonValue value;
  std::string error;
  EXPECT_FALSE(ParseJson(text, &value, &error)) << text;
  return error;
}

TEST(JsonValueTest, ParsesEveryKind) {
  const JsonValue v = Parse(
      R"( {"a": [1, -2.5e3, 0, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00",
          "o": {}, "e": [], "a": 2} )");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.object.size(), 5u);
  const JsonValue* a = v.Find("a");  // the first of the duplicates
  ASSERT_TRUE(a != nullptr && a->is_array());
  ASSERT_EQ(a->array.size(), 6u);
  EXPECT_EQ(a->array[0].number, 1);
  EXPECT_EQ(a->array[1].number, -2500);
  EXPECT_EQ(a->array[3].kind, JsonValue::Kind::kBool);
  EXPECT_TRUE(a->array[3].boolean);
  EXPECT_FALSE(a->array[4].boolean);
  EXPECT_EQ(a->array[5].kind, JsonValue::Kind::kNull);
  EXPECT_EQ(v.Find("s")->string, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(v.Find("o")->is_object());
  EXPECT_TRUE(v.Find("e")->array.empty());
  EXPECT_EQ(v.Find("missing"), nullptr);
}

TEST(JsonValueTest, RejectsInvalidDocumentsWithPosition) {
  EXPECT_NE(ErrorOf("{\"a\":1,}").find("expected a key"), std::string::npos);
  EXPECT_NE(ErrorOf("[1 2]").find("expected ',' or ']'"), std::string::npos);
  EXPECT_NE(ErrorOf("{\"a\" 1}").find("expected ':'"), std::string::npos);
  EXPECT_NE(ErrorOf("\"abc").find("unterminated"), std::string::npos);
  EXPECT_NE(ErrorOf("\"a\nb\"").find("control character"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\x\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\ud800\"").find("surrogate"), std::string::npos);
  EXPECT_NE(ErrorOf("01").find("after the document"), std::string::npos);
  EXPECT_NE(ErrorOf("1.").find("digits"), std::string::npos);
  EXPECT_NE(ErrorOf("tru").find("literal"), std::string::npos);
  EXPECT_NE(ErrorOf("[1] x").find("after the document"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("end of input"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(300, '[')).find("deeply"), std::string::npos);
  EXPECT_EQ(ErrorOf("{\n  \"a\": [1,\n  2 3]}").substr(0, 17), "line 3, column 5 ");
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

}  // namespace
}  // namespace mpimoe::testing
