// JsonLine: builds a one-line JSON object — a benchmark report, a metrics.jsonl record,
// summary.json — with keys in insertion order, doubles with `precision` significant
// digits (6 by default), non-finite numbers as null, strings escaped. AddRaw inserts an
// already-formed JSON value (a nested object or array).
//
// Thread-safety: a value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mpimoe {

// Appends `text` as a quoted JSON string ("\"", "\\", \n, \r, \t and other control
// characters escaped; other bytes, UTF-8 included, as they are).
void AppendJsonString(std::string_view text, std::string* out);

class JsonLine {
 public:
  explicit JsonLine(int precision = 6) : precision_(precision) {}

  JsonLine& AddInt(std::string_view key, int64_t value);
  JsonLine& AddDouble(std::string_view key, double value);
  JsonLine& AddString(std::string_view key, std::string_view value);
  JsonLine& AddBool(std::string_view key, bool value);
  // `json` must be a valid JSON value, e.g. "[1,2]" or JsonLine(...).str().
  JsonLine& AddRaw(std::string_view key, std::string_view json);

  // The object, e.g. {"threads":2,"ratio":0.81}, without a trailing newline.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void AddKey(std::string_view key);

  int precision_;
  std::string body_;
};

}  // namespace mpimoe
