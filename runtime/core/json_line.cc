#include "runtime/core/json_line.h"

#include <cmath>
#include <cstdio>

namespace mpimoe {

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (u < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\u%04x", u);
          *out += buffer;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void JsonLine::AddKey(std::string_view key) {
  if (!body_.empty()) body_.push_back(',');
  AppendJsonString(key, &body_);
  body_.push_back(':');
}

JsonLine& JsonLine::AddInt(std::string_view key, int64_t value) {
  AddKey(key);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::AddDouble(std::string_view key, double value) {
  AddKey(key);
  if (!std::isfinite(value)) {
    body_ += "null";
    return *this;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*g", precision_, value);
  body_ += buffer;
  return *this;
}

JsonLine& JsonLine::AddString(std::string_view key, std::string_view value) {
  AddKey(key);
  AppendJsonString(value, &body_);
  return *this;
}

JsonLine& JsonLine::AddBool(std::string_view key, bool value) {
  AddKey(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::AddRaw(std::string_view key, std::string_view json) {
  AddKey(key);
  body_.append(json);
  return *this;
}

}  // namespace mpimoe
