// A small JSON reader for the launcher: parses one JSON text (RFC 8259) into a
// JsonValue tree, e.g. a run's summary.json or one line of its metrics.jsonl. Numbers
// are doubles; strings are UTF-8 (\uXXXX escapes, surrogate pairs included, are
// decoded); objects keep their keys in file order (duplicates: Find returns the
// first). Errors are InvalidArgument "<source>: offset N: <what>". Nesting is limited
// to 64 levels. It reads our own files, so it favours clear errors over speed.
//
// Thread-safety: values; ParseJson is a pure function.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::launch {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;
  static JsonValue Bool(bool v);
  static JsonValue Number(double v);
  static JsonValue String(std::string v);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<std::pair<std::string, JsonValue>> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
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

  // The member named `key` of an object, or nullptr (also when this is not an object).
  const JsonValue* Find(std::string_view key) const;
  // The number at `key`, or nullptr when it is missing or not a number.
  const double* FindNumber(std::string_view key) const;

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

}  // namespace mpimoe::launch
