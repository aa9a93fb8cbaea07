// JsonValue and ParseJson: a small, strict JSON (RFC 8259) reader for tests and test
// tools (the CI image has neither python3 nor jq). Numbers are doubles; objects keep
// their members in file order (duplicate keys are kept; Find returns the first).
// Strings are returned UTF-8 (\uXXXX escapes, surrogate pairs included, are decoded).
// Parse errors name the byte offset, line and column.
//
// Not for production input: recursion depth is limited to 256 and the whole document
// is held in memory. Thread-safety: values; ParseJson is reentrant.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mpimoe::testing {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;

  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kNumber; }
  // The first member called `key` of an object, or null if none (or not an object).
  const JsonValue* Find(std::string_view key) const;
};

// Parses one JSON document (surrounding whitespace allowed). On failure returns false
// and sets *error, e.g. "line 3, column 7 (byte 41): expected ',' or ']'".
bool ParseJson(std::string_view text, JsonValue* out, std::string* error);

}  // namespace mpimoe::testing
