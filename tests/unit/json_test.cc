// Unit tests of runtime/core/json.h: parse errors become InvalidArgument naming the
// source, line and column; files that are missing are NotFound; what we write (an
// ordered Json) reads back with its keys in insertion order and non-finite numbers as
// null.
#include "runtime/core/json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>

#include "runtime/core/atomic_file.h"

namespace mpimoe {
namespace {

TEST(JsonTest, ParsesOneValue) {
  StatusOr<Json> value = ParseJson(R"( {"step": 3, "loss": 0.25, "tags": ["a"]} )", "x");
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(value->at("step").get<int64_t>(), 3);
  EXPECT_DOUBLE_EQ(value->at("loss").get<double>(), 0.25);
  EXPECT_EQ(value->at("tags").at(0), "a");
}

TEST(JsonTest, ErrorNamesSourceLineAndColumn) {
  StatusOr<Json> value = ParseJson("{\"a\": 1,\n \"b\": tru}", "metrics.jsonl:12");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = value.status().message();
  EXPECT_EQ(message.rfind("metrics.jsonl:12: parse error at line 2, column ", 0), 0u)
      << message;
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
}

TEST(JsonTest, RejectsTrailingTextAndEmptyInput) {
  EXPECT_FALSE(ParseJson("{} {}", "two values").ok());
  EXPECT_FALSE(ParseJson("", "empty").ok());
  EXPECT_FALSE(ParseJson("{\"a\":1", "truncated").ok());
}

TEST(JsonTest, WritesKeysInInsertionOrderAndNonFiniteAsNull) {
  Json line;
  line["step"] = 7;
  line["loss"] = std::numeric_limits<double>::quiet_NaN();
  line["a2a_bytes"] = int64_t{1} << 40;
  line["name"] = "q\"uote";
  EXPECT_EQ(line.dump(),
            R"({"step":7,"loss":null,"a2a_bytes":1099511627776,"name":"q\"uote"})");
  StatusOr<Json> back = ParseJson(line.dump(), "line");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->at("loss").is_null());
  EXPECT_EQ(back->at("a2a_bytes").get<int64_t>(), int64_t{1} << 40);
}

TEST(JsonTest, DumpJsonReplacesInvalidUtf8InsteadOfThrowing) {
  Json line = {{"name", "caf\xe9"}, {"ok", "d\xc3\xa9j\xc3\xa0"}};
  EXPECT_THROW(static_cast<void>(line.dump()), Json::type_error);  // why DumpJson exists
  EXPECT_EQ(DumpJson(line),
            "{\"name\":\"caf\xef\xbf\xbd\",\"ok\":\"d\xc3\xa9j\xc3\xa0\"}");
}

TEST(JsonTest, FloatsPrintInTheirShortestForm) {
  Json line;
  line["lr"] = FloatForJson(1.5e-4f);
  line["third"] = FloatForJson(1.0f / 3.0f);
  line["nan"] = FloatForJson(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(DumpJson(line), R"({"lr":0.00015,"third":0.33333334,"nan":null})");
  // It reads back as the same float.
  EXPECT_EQ(static_cast<float>(ParseJson(line.dump(), "x")->at("third").get<double>()),
            1.0f / 3.0f);
}

TEST(JsonTest, ReadJsonFileMissingMalformedAndGood) {
  const std::string dir =
      ::testing::TempDir() + "json_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  StatusOr<Json> missing = ReadJsonFile(dir + "/none.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir + "/none.json"), std::string::npos);

  ASSERT_TRUE(WriteFileAtomically(dir + "/bad.json", "{\"a\":}").ok());
  StatusOr<Json> bad = ReadJsonFile(dir + "/bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind(dir + "/bad.json: parse error", 0), 0u)
      << bad.status().message();

  ASSERT_TRUE(WriteFileAtomically(dir + "/good.json", "{\"a\":[1,2]}\n").ok());
  StatusOr<Json> good = ReadJsonFile(dir + "/good.json");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->at("a").size(), 2u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mpimoe
