// Tests of the JSON reader (runtime/core/json_reader.h): values of every type,
// duplicate keys, escapes and surrogate pairs, the number grammar, the nesting limit,
// and the errors for malformed input (each names the source, line, column and byte).
#include "runtime/core/json_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mpimoe {
namespace {

// The error message for `text`, which must not parse ("" if it does).
std::string ErrorOf(const std::string& text) {
  const StatusOr<JsonValue> v = ParseJson(text, "src.json");
  EXPECT_FALSE(v.ok()) << "accepted: " << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  return v.status().message();
}

TEST(JsonReaderTest, ParsesNestedValues) {
  auto v = ParseJson(R"( {"step":10,"loss":-1.5e-2,"ok":true,"no":false,"none":null,)"
                     R"("tokens":[[1,2],[3]],"name":"a\"b\\c\n","empty":{},"list":[]} )",
                     "test");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->members().size(), 9u);
  EXPECT_EQ(v->members()[0].first, "step");  // file order
  EXPECT_EQ(v->members()[8].first, "list");
  EXPECT_EQ(*v->FindNumber("step"), 10);
  EXPECT_DOUBLE_EQ(*v->FindNumber("loss"), -0.015);
  EXPECT_TRUE(v->Find("ok")->is_bool());
  EXPECT_TRUE(v->Find("ok")->bool_value());
  EXPECT_FALSE(v->Find("no")->bool_value());
  EXPECT_TRUE(v->Find("none")->is_null());
  EXPECT_EQ(v->Find("none")->type(), JsonValue::Type::kNull);
  EXPECT_EQ(v->FindNumber("name"), nullptr);  // not a number
  EXPECT_EQ(v->FindString("step"), nullptr);  // not a string
  EXPECT_EQ(*v->FindString("name"), "a\"b\\c\n");
  EXPECT_EQ(v->Find("name")->string(), "a\"b\\c\n");
  const JsonValue* tokens = v->Find("tokens");
  ASSERT_TRUE(tokens->is_array());
  ASSERT_EQ(tokens->items().size(), 2u);
  EXPECT_EQ(tokens->items()[0].items()[1].number(), 2);
  EXPECT_EQ(tokens->items()[1].items()[0].number(), 3);
  EXPECT_TRUE(v->Find("empty")->is_object());
  EXPECT_TRUE(v->Find("empty")->members().empty());
  EXPECT_TRUE(v->Find("list")->items().empty());
  EXPECT_EQ(v->Find("missing"), nullptr);
  EXPECT_EQ(tokens->Find("step"), nullptr);  // not an object
}

TEST(JsonReaderTest, ParsesScalarDocumentsAndWhitespace) {
  auto t = ParseJson(" \t\r\n true \n", "t");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->bool_value());
  auto n = ParseJson("null", "t");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->is_null());
  auto s = ParseJson(R"("")", "t");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->string(), "");
}

TEST(JsonReaderTest, KeepsDuplicateKeysFirstWins) {
  auto v = ParseJson(R"({"a":1,"b":[],"a":2})", "test");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->members().size(), 3u);  // both "a" kept, in file order
  EXPECT_EQ(v->members()[2].first, "a");
  EXPECT_EQ(v->members()[2].second.number(), 2);
  EXPECT_EQ(*v->FindNumber("a"), 1);
}

TEST(JsonReaderTest, DecodesEscapes) {
  auto v = ParseJson(R"("x\"\\\/\b\f\n\r\t")", "test");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->string(), "x\"\\/\b\f\n\r\t");
}

TEST(JsonReaderTest, DecodesUnicodeEscapesAndSurrogatePairs) {
  // 1-, 2-, 3- and 4-byte UTF-8 (the last from a surrogate pair), upper and lower hex.
  auto v = ParseJson(R"("A\u0041\u00e9\u20AC\ud83d\ude00\/")", "test");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->string(), "AA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80/");
  // Raw UTF-8 passes through unchanged.
  auto raw = ParseJson("\"\xC3\xA9\"", "test");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->string(), "\xC3\xA9");
}

TEST(JsonReaderTest, RejectsMalformedInput) {
  const char* bad[] = {
      "",           "   ",         "{",           "[",           "[1,]",
      "{\"a\":1,}", "{\"a\" 1}",   "{a:1}",       "{\"a\":}",    "{\"a\":1",
      "{1:2}",      "01",          "1.",          ".5",          "-",
      "-a",         "1e",          "1e+",         "+1",          "nul",
      "tru",        "True",        "\"abc",       "\"\\",        "\"\\x\"",
      "\"\\u12\"",  "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
      "\"a\tb\"",   "\"a\nb\"",    "[1] [2]",     "{\"a\":1}x",  "NaN",
      "Infinity",   "[1 2]",       "1e999",       "-1e999",      "'a'",
      "[1,,2]",     "\x01",
  };
  for (const char* text : bad) {
    const std::string error = ErrorOf(text);
    EXPECT_EQ(error.rfind("src.json: line ", 0), 0u) << text << " -> " << error;
    EXPECT_NE(error.find("(byte "), std::string::npos) << error;
  }
}

TEST(JsonReaderTest, ErrorsSayWhatIsWrong) {
  EXPECT_NE(ErrorOf("{\"a\":1,}").find("expected a string key"), std::string::npos);
  EXPECT_NE(ErrorOf("[1 2]").find("expected ',' or ']'"), std::string::npos);
  EXPECT_NE(ErrorOf("{\"a\":1 \"b\":2}").find("expected ',' or '}'"), std::string::npos);
  EXPECT_NE(ErrorOf("{\"a\" 1}").find("expected ':'"), std::string::npos);
  EXPECT_NE(ErrorOf("\"abc").find("unterminated string"), std::string::npos);
  EXPECT_NE(ErrorOf("\"a\nb\"").find("control character"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\x\"").find("unknown escape \\'x'"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\u12G4\"").find("bad hex digit"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\u12").find("truncated"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\ud800\"").find("lone high surrogate"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\udc00\"").find("lone low surrogate"), std::string::npos);
  EXPECT_NE(ErrorOf("\"\\ud800\\u0041\"").find("non-low surrogate"), std::string::npos);
  EXPECT_NE(ErrorOf("01").find("after the value"), std::string::npos);
  EXPECT_NE(ErrorOf("[1] x").find("after the value"), std::string::npos);
  EXPECT_NE(ErrorOf("1.").find("digits after '.'"), std::string::npos);
  EXPECT_NE(ErrorOf("1e").find("exponent"), std::string::npos);
  EXPECT_NE(ErrorOf("tru").find("invalid literal"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("end of input"), std::string::npos);
  EXPECT_NE(ErrorOf("NaN").find("unexpected character 'N'"), std::string::npos);
  EXPECT_NE(ErrorOf("\x01").find("byte 0x01"), std::string::npos);
  EXPECT_NE(ErrorOf("1e999").find("out of range"), std::string::npos);
}

TEST(JsonReaderTest, ErrorsNameLineColumnAndByte) {
  // The '3' that should have been ',' or ']': line 3, column 5, byte 17.
  EXPECT_EQ(ErrorOf("{\n  \"a\": [1,\n  2 3]}"),
            "src.json: line 3, column 5 (byte 17): expected ',' or ']' in an array");
  EXPECT_EQ(ErrorOf("[1,]").rfind("src.json: line 1, column 4 (byte 3): ", 0), 0u);
  // At the end of the input.
  EXPECT_EQ(ErrorOf("[\n").rfind("src.json: line 2, column 1 (byte 2): ", 0), 0u);
  // The escape itself, not what follows it.
  EXPECT_EQ(ErrorOf("\"ab\\q\"").rfind("src.json: line 1, column 5 (byte 4): ", 0), 0u);
  // The low half of a bad pair starts at its backslash.
  EXPECT_EQ(
      ErrorOf("\"\\ud800\\u0041\"").rfind("src.json: line 1, column 8 (byte 7): ", 0),
      0u);
}

TEST(JsonReaderTest, LimitsNesting) {
  const auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth), "t").ok());
  EXPECT_TRUE(ParseJson("[[[{\"a\":[1]}]]]", "t").ok());
  for (int n : {kMaxJsonDepth + 1, 100, 300}) {
    const std::string error = ErrorOf(nested(n));
    EXPECT_NE(error.find("nested too deeply"), std::string::npos) << error;
    // Reported at the first bracket beyond the limit.
    EXPECT_NE(error.find("(byte " + std::to_string(kMaxJsonDepth) + ")"),
              std::string::npos)
        << error;
  }
  // Objects count too; an unterminated deep document fails on depth, not on the end.
  std::string objects;
  for (int i = 0; i <= kMaxJsonDepth; ++i) objects += "{\"k\":";
  EXPECT_NE(ErrorOf(objects).find("nested too deeply"), std::string::npos);
}

TEST(JsonReaderTest, NumberGrammar) {
  for (const auto& [text, value] : std::vector<std::pair<const char*, double>>{
           {"0", 0},
           {"-0", 0},
           {"-0.5", -0.5},
           {"12e2", 1200},
           {"1E-2", 0.01},
           {"3.25e+1", 32.5},
           {"-2.5e3", -2500},
           {"123456789", 123456789},
           {"1e-400", 0},  // underflow is not an error
       }) {
    auto v = ParseJson(text, "t");
    ASSERT_TRUE(v.ok()) << text << ": " << v.status().ToString();
    ASSERT_TRUE(v->is_number()) << text;
    EXPECT_DOUBLE_EQ(v->number(), value) << text;
  }
}

}  // namespace
}  // namespace mpimoe
