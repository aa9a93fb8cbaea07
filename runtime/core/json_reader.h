// JsonValue and ParseJson: the project's one JSON reader, a small strict
// recursive-descent parser for one JSON text (RFC 8259) — a run's summary.json, one
// line of its metrics.jsonl (the launcher), a merged trace.json (the trace checker).
// There is no JSON library in the image and no python3 or jq in CI.
//
// Numbers are doubles (a literal beyond the double range is an error); strings are
// UTF-8 (\uXXXX escapes, surrogate pairs included, are decoded; lone surrogates are
// errors); objects keep their members in file order, duplicate keys included (Find
// returns the first). Containers nest at most kMaxJsonDepth (64) levels. Errors are
// InvalidArgument "<source>: line L, column C (byte N): <what>", lines and columns
// counted from 1, columns in bytes. It reads our own files, so it favours clear errors
// over speed; the whole text and the whole tree are held in memory.
//
// Ownership: a JsonValue owns its whole subtree; ParseJson copies what it keeps, so the
// text may be freed after the call. Thread-safety: JsonValue is a value (const access
// from several threads is fine); ParseJson is a pure function.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe {

// The deepest nesting of arrays and objects ParseJson accepts.
inline constexpr int kMaxJsonDepth = 64;

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;  // null
  static JsonValue Bool(bool v);
  static JsonValue Number(double v);
  static JsonValue String(std::string v);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<std::pair<std::string, JsonValue>> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors check the type (a wrong type is a programmer error: check type() first).
  bool bool_value() const;
  double number() const;
  const std::string& string() const;
  const std::vector<JsonValue>& items() const;
  const std::vector<std::pair<std::string, JsonValue>>& members() const;

  // The first member named `key` of an object, or nullptr (also when this is not an
  // object).
  const JsonValue* Find(std::string_view key) const;
  // The number at `key`, or nullptr when it is missing or not a number.
  const double* FindNumber(std::string_view key) const;
  // The string at `key`, or nullptr when it is missing or not a string.
  const std::string* FindString(std::string_view key) const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses `text` — exactly one JSON value, surrounded by optional whitespace.
// `source` names the text in errors (a file name, "metrics.jsonl:12").
StatusOr<JsonValue> ParseJson(std::string_view text, std::string_view source);

}  // namespace mpimoe
