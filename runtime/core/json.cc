// json.cc: see json.h.
#include "runtime/core/json.h"

#include <charconv>
#include <cmath>

#include "runtime/core/file_io.h"

namespace mpimoe {

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

double FloatForJson(float v) {
  if (!std::isfinite(v)) return v;
  char text[32];
  const auto written = std::to_chars(text, text + sizeof(text), v);
  double shortest = v;
  std::from_chars(text, written.ptr, shortest);
  return shortest;
}

StatusOr<Json> ParseJson(std::string_view text, std::string_view source) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2:
    // ..."; the bracketed id means nothing to a user.
    std::string what = e.what();
    const size_t id_end = what.find("] ");
    if (what.rfind("[json.exception.", 0) == 0 && id_end != std::string::npos) {
      what.erase(0, id_end + 2);
    }
    return InvalidArgumentError(std::string(source) + ": " + what);
  }
}

StatusOr<Json> ReadJsonFile(const std::string& path) {
  StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFoundError(path + ": no such file");
    }
    return text.status();
  }
  return ParseJson(*text, path);
}

}  // namespace mpimoe
