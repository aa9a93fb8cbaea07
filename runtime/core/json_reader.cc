// json_reader.cc: a recursive-descent JSON parser (see json_reader.h).
#include "runtime/core/json_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/core/check.h"

namespace mpimoe {

JsonValue JsonValue::Bool(bool v) {
  JsonValue j;
  j.type_ = Type::kBool;
  j.bool_ = v;
  return j;
}
JsonValue JsonValue::Number(double v) {
  JsonValue j;
  j.type_ = Type::kNumber;
  j.number_ = v;
  return j;
}
JsonValue JsonValue::String(std::string v) {
  JsonValue j;
  j.type_ = Type::kString;
  j.string_ = std::move(v);
  return j;
}
JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue j;
  j.type_ = Type::kArray;
  j.items_ = std::move(items);
  return j;
}
JsonValue JsonValue::Object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue j;
  j.type_ = Type::kObject;
  j.members_ = std::move(members);
  return j;
}

bool JsonValue::bool_value() const {
  MPIMOE_CHECK(type_ == Type::kBool);
  return bool_;
}
double JsonValue::number() const {
  MPIMOE_CHECK(type_ == Type::kNumber);
  return number_;
}
const std::string& JsonValue::string() const {
  MPIMOE_CHECK(type_ == Type::kString);
  return string_;
}
const std::vector<JsonValue>& JsonValue::items() const {
  MPIMOE_CHECK(type_ == Type::kArray);
  return items_;
}
const std::vector<std::pair<std::string, JsonValue>>& JsonValue::members() const {
  MPIMOE_CHECK(type_ == Type::kObject);
  return members_;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [name, value] : members_) {
    if (name == key) return &value;
  }
  return nullptr;
}

const double* JsonValue::FindNumber(std::string_view key) const {
  const JsonValue* v = Find(key);
  return v != nullptr && v->is_number() ? &v->number_ : nullptr;
}

const std::string* JsonValue::FindString(std::string_view key) const {
  const JsonValue* v = Find(key);
  return v != nullptr && v->is_string() ? &v->string_ : nullptr;
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    MPIMOE_RETURN_IF_ERROR(ParseValue(0, &value));
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the value");
    return value;
  }

 private:
  // An InvalidArgument naming the source and where pos_ is: line, column, byte.
  Status Error(const std::string& what) const {
    const size_t at = std::min(pos_, text_.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at; ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return InvalidArgumentError(std::string(source_) + ": line " + std::to_string(line) +
                                ", column " + std::to_string(column) + " (byte " +
                                std::to_string(at) + "): " + what);
  }

  // 'c' when printable ASCII, else the byte in hex ("byte 0x01"), for errors.
  static std::string Describe(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
    char hex[16];
    std::snprintf(hex, sizeof(hex), "byte 0x%02X", u);
    return hex;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  // `depth` is the number of arrays and objects around the value.
  Status ParseValue(int depth, JsonValue* out) {
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end of input, expected a value");
    const char c = text_[pos_];
    if ((c == '{' || c == '[') && depth >= kMaxJsonDepth) {
      return Error("nested too deeply (more than " + std::to_string(kMaxJsonDepth) +
                   " levels of arrays and objects)");
    }
    if (c == '{') return ParseObject(depth, out);
    if (c == '[') return ParseArray(depth, out);
    if (c == '"') {
      std::string s;
      MPIMOE_RETURN_IF_ERROR(ParseString(&s));
      *out = JsonValue::String(std::move(s));
      return Status::Ok();
    }
    if (Consume("true")) {
      *out = JsonValue::Bool(true);
      return Status::Ok();
    }
    if (Consume("false")) {
      *out = JsonValue::Bool(false);
      return Status::Ok();
    }
    if (Consume("null")) {
      *out = JsonValue();
      return Status::Ok();
    }
    if (c == 't' || c == 'f' || c == 'n') {
      return Error("invalid literal (expected true, false or null)");
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    return Error("unexpected character " + Describe(c) + ", expected a value");
  }

  Status ParseObject(int depth, JsonValue* out) {
    ++pos_;  // '{'
    std::vector<std::pair<std::string, JsonValue>> members;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return Status::Ok();
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Error("expected a string key in an object");
      }
      std::string key;
      MPIMOE_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      JsonValue value;
      MPIMOE_RETURN_IF_ERROR(ParseValue(depth + 1, &value));
      members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        break;
      }
      return Error("expected ',' or '}' in an object");
    }
    *out = JsonValue::Object(std::move(members));
    return Status::Ok();
  }

  Status ParseArray(int depth, JsonValue* out) {
    ++pos_;  // '['
    std::vector<JsonValue> items;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(items));
      return Status::Ok();
    }
    while (true) {
      JsonValue value;
      MPIMOE_RETURN_IF_ERROR(ParseValue(depth + 1, &value));
      items.push_back(std::move(value));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        break;
      }
      return Error("expected ',' or ']' in an array");
    }
    *out = JsonValue::Array(std::move(items));
    return Status::Ok();
  }

  // Four hex digits at pos_ (after "\u").
  Status ParseHex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_ + i];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return Error("bad hex digit in a \\u escape");
      }
    }
    pos_ += 4;
    *out = v;
    return Status::Ok();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Error("control character in a string");
      }
      if (c != '\\') {
        *out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= text_.size()) return Error("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          MPIMOE_RETURN_IF_ERROR(ParseHex4(&cp));
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!Consume("\\u")) return Error("lone high surrogate (no \\u low half)");
            uint32_t low = 0;
            MPIMOE_RETURN_IF_ERROR(ParseHex4(&low));
            if (low < 0xDC00 || low > 0xDFFF) {
              pos_ -= 6;
              return Error("high surrogate followed by a non-low surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            pos_ -= 6;
            return Error("lone low surrogate");
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          --pos_;
          return Error("unknown escape \\" + Describe(e));
      }
    }
  }

  // JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Status ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    const auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return Error("bad number: expected a digit");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return Error("bad number: no digits after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Error("bad number: no digits in the exponent");
    }
    // strtod needs a terminated string; the grammar check above bounds what it reads.
    const std::string number(text_.substr(start, pos_ - start));
    const double v = std::strtod(number.c_str(), nullptr);
    if (!std::isfinite(v)) {  // overflow; underflow quietly becomes 0 or subnormal
      pos_ = start;
      return Error("number out of range: " + number);
    }
    *out = JsonValue::Number(v);
    return Status::Ok();
  }

  std::string_view text_;
  std::string_view source_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<JsonValue> ParseJson(std::string_view text, std::string_view source) {
  return Parser(text, source).ParseDocument();
}

}  // namespace mpimoe
