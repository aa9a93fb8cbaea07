// Tests of the launcher's JSON reader (examples/launch/json_reader.h): values of every
// type, escapes, the number grammar, and the errors for malformed input.
#include <gtest/gtest.h>

#include <string>

#include "examples/launch/json_reader.h"

namespace mpimoe::launch {
namespace {

TEST(JsonReader, ParsesNestedValues) {
  auto v = ParseJson(R"( {"step":10,"loss":-1.5e-2,"ok":true,"no":false,"none":null,)"
                     R"("tokens":[[1,2],[3]],"name":"a\"b\\c\n","empty":{},"list":[]} )",
                     "test");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->members().size(), 9u);
  EXPECT_EQ(*v->FindNumber("step"), 10);
  EXPECT_DOUBLE_EQ(*v->FindNumber("loss"), -0.015);
  EXPECT_TRUE(v->Find("ok")->bool_value());
  EXPECT_FALSE(v->Find("no")->bool_value());
  EXPECT_TRUE(v->Find("none")->is_null());
  EXPECT_EQ(v->FindNumber("name"), nullptr);  // not a number
  EXPECT_EQ(v->Find("name")->string(), "a\"b\\c\n");
  const JsonValue* tokens = v->Find("tokens");
  ASSERT_TRUE(tokens->is_array());
  ASSERT_EQ(tokens->items().size(), 2u);
  EXPECT_EQ(tokens->items()[0].items()[1].number(), 2);
  EXPECT_EQ(tokens->items()[1].items()[0].number(), 3);
  EXPECT_TRUE(v->Find("empty")->members().empty());
  EXPECT_TRUE(v->Find("list")->items().empty());
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonReader, DecodesUnicodeEscapes) {
  auto v = ParseJson(R"("A\u00e9\u20ac\ud83d\ude00\/")", "test");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->string(), "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80/");
}

TEST(JsonReader, FirstOfDuplicateKeysWins) {
  auto v = ParseJson(R"({"a":1,"a":2})", "test");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v->FindNumber("a"), 1);
}

TEST(JsonReader, RejectsMalformedInput) {
  const char* bad[] = {
      "",        "{",          "[1,]",    "{\"a\":1,}",  "{\"a\" 1}",   "{a:1}",
      "01",      "1.",         ".5",      "-",           "1e",          "+1",
      "nul",     "\"abc",      "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\tb\"",
      "[1] [2]", "{\"a\":1}x", "NaN",     "[1 2]",       "1e999",
  };
  for (const char* text : bad) {
    auto v = ParseJson(text, "src.json");
    EXPECT_FALSE(v.ok()) << "accepted: " << text;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(v.status().message().find("src.json: offset "), std::string::npos)
          << v.status().message();
    }
  }
}

TEST(JsonReader, LimitsNesting) {
  EXPECT_TRUE(ParseJson(std::string(60, '[') + std::string(60, ']'), "t").ok());
  auto v = ParseJson(std::string(100, '[') + std::string(100, ']'), "t");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("nested"), std::string::npos);
}

TEST(JsonReader, NumberGrammar) {
  for (const auto& [text, value] : std::vector<std::pair<const char*, double>>{
           {"0", 0}, {"-0.5", -0.5}, {"12e2", 1200}, {"1E-2", 0.01}, {"3.25e+1", 32.5}}) {
    auto v = ParseJson(text, "t");
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_DOUBLE_EQ(v->number(), value) << text;
  }
}

}  // namespace
}  // namespace mpimoe::launch
