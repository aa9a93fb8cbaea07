// config_override.cc: see config_override.h. The path is walked here; values are
// parsed by google::protobuf::TextFormat::Parser::ParseFieldValueFromString.
#include "runtime/train/config_override.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/train/quote.h"
#include "runtime/train/text_proto.h"

namespace mpimoe::train {
namespace {

namespace pb = ::google::protobuf;
using FD = pb::FieldDescriptor;

std::string_view Trim(std::string_view s) {
  const char* kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(separator, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string FieldNames(const pb::Descriptor* descriptor) {
  std::string names;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    if (i > 0) names += ", ";
    names += descriptor->field(i)->name();
  }
  return names;
}

std::string EnumNames(const pb::EnumDescriptor* descriptor) {
  std::string names;
  for (int i = 0; i < descriptor->value_count(); ++i) {
    if (i > 0) names += ", ";
    names += descriptor->value(i)->name();
  }
  return names;
}

// What a value of `field` is, for errors: "an int32", "one of GELU, SWIGLU", ...
std::string Expected(const FD* field) {
  switch (field->cpp_type()) {
    case FD::CPPTYPE_INT32:
      return "an int32";
    case FD::CPPTYPE_INT64:
      return "an int64";
    case FD::CPPTYPE_UINT32:
      return "a uint32";
    case FD::CPPTYPE_UINT64:
      return "a uint64";
    case FD::CPPTYPE_FLOAT:
      return "a float";
    case FD::CPPTYPE_DOUBLE:
      return "a double";
    case FD::CPPTYPE_BOOL:
      return "true or false";
    case FD::CPPTYPE_ENUM:
      return "one of " + EnumNames(field->enum_type());
    case FD::CPPTYPE_STRING:
      return "a string";
    case FD::CPPTYPE_MESSAGE:
      break;
  }
  return std::string("a ") + field->type_name();
}

// `text` as a text-format string literal: in double quotes, with \, " and control
// bytes escaped (other bytes, UTF-8 included, stay as they are).
std::string StringLiteral(std::string_view text) {
  std::string literal = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      literal += '\\';
      literal += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char octal[8];
      std::snprintf(octal, sizeof(octal), "\\%03o", static_cast<unsigned>(byte));
      literal += octal;
    } else {
      literal += c;
    }
  }
  return literal + "\"";
}

// `text` as TextFormat should read it for `field`: an enum name in another case becomes
// the declared name (`swiglu` -> SWIGLU); a string without quotes becomes a literal.
std::string TextFormatValue(const FD* field, std::string_view text) {
  if (field->cpp_type() == FD::CPPTYPE_ENUM) {
    std::string upper(text);
    for (char& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const pb::EnumDescriptor* type = field->enum_type();
    if (type->FindValueByName(std::string(text)) == nullptr &&
        type->FindValueByName(upper) != nullptr) {
      return upper;
    }
  }
  if (field->cpp_type() == FD::CPPTYPE_STRING) {
    const bool quoted = text.size() >= 2 &&
                        (text.front() == '"' || text.front() == '\'') &&
                        text.back() == text.front();
    if (!quoted) return StringLiteral(text);
  }
  return std::string(text);
}

// TextFormat reads a number too large for a float (or double) as infinity: true when
// the just-parsed value of `field` is such a number (not "inf" spelled out).
bool OverflowedToInfinity(const pb::Message& message, const FD* field,
                          std::string_view text) {
  const pb::Reflection* reflection = message.GetReflection();
  const int last = field->is_repeated() ? reflection->FieldSize(message, field) - 1 : -1;
  double value = 0;
  if (field->cpp_type() == FD::CPPTYPE_FLOAT) {
    value = last < 0 ? reflection->GetFloat(message, field)
                     : reflection->GetRepeatedFloat(message, field, last);
  } else if (field->cpp_type() == FD::CPPTYPE_DOUBLE) {
    value = last < 0 ? reflection->GetDouble(message, field)
                     : reflection->GetRepeatedDouble(message, field, last);
  }
  const bool has_digit = text.find_first_of("0123456789") != std::string_view::npos;
  return std::isinf(value) && has_digit;
}

// Whether `text` is an integer with a leading zero ("010", "-07"): text format reads it
// as octal, which nobody typing --set run.steps=010 means.
bool LooksOctal(const FD* field, std::string_view text) {
  switch (field->cpp_type()) {
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_INT64:
    case FD::CPPTYPE_UINT32:
    case FD::CPPTYPE_UINT64:
      break;
    default:
      return false;
  }
  if (!text.empty() && text.front() == '-') text.remove_prefix(1);
  return text.size() >= 2 && text.front() == '0' &&
         text.find_first_not_of("0123456789") == std::string_view::npos;
}

// Parses `text` as one value of the non-message `field` (at `path`) and sets it on
// `message` (appends, for a repeated field). Returns why not when it is no such value.
std::optional<std::string> ParseValue(std::string_view text, const FD* field,
                                      const std::string& path, pb::Message* message) {
  if (LooksOctal(field, text)) {
    return "expected " + Expected(field) + " for " + path + ": " + std::string(text) +
           " has a leading 0, which text format reads as octal; write it without";
  }
  TextFormatErrors errors;  // a value is one short line: positions add nothing
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  const bool parsed =
      parser.ParseFieldValueFromString(TextFormatValue(field, text), field, message);
  std::string why = errors.Messages();
  if (why.empty() && !parsed) why = "unexpected text after the value";
  if (why.empty() && OverflowedToInfinity(*message, field, text)) {
    why = std::string(text) + " is out of range";
  }
  if (why.empty()) return std::nullopt;
  return "expected " + Expected(field) + " for " + path + ": " + why;
}

// Sets the non-message `field` (at `path`) of `message` from the override's `value`;
// see the header for lists. Returns why not.
std::optional<std::string> SetField(std::string_view value, const FD* field,
                                    const std::string& path, pb::Message* message) {
  if (!field->is_repeated()) return ParseValue(value, field, path, message);
  std::string_view list = value;
  if (list.size() >= 2 && list.front() == '[' && list.back() == ']') {
    list = Trim(list.substr(1, list.size() - 2));
  }
  message->GetReflection()->ClearField(message, field);
  if (list.empty()) return std::nullopt;
  const std::vector<std::string_view> items = Split(list, ',');
  for (size_t i = 0; i < items.size(); ++i) {
    if (auto why = ParseValue(Trim(items[i]), field, path, message)) {
      return "list element " + std::to_string(i + 1) + ": " + *why;
    }
  }
  return std::nullopt;
}

}  // namespace

Status ApplyOverride(const std::string& override_text, pb::Message* config) {
  const auto fail = [&](const std::string& what) {
    return InvalidArgumentError("--set " + override_text + ": " + what);
  };
  const size_t eq = override_text.find('=');
  if (eq == std::string::npos) return fail("expected path=value");
  const std::string_view path = Trim(std::string_view(override_text).substr(0, eq));
  const std::string_view value = Trim(std::string_view(override_text).substr(eq + 1));
  if (path.empty()) return fail("empty field path");

  const std::vector<std::string_view> parts = Split(path, '.');
  pb::Message* message = config;
  std::string walked;  // the path up to (excluding) parts[i]
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::Descriptor* descriptor = message->GetDescriptor();
    if (parts[i].empty()) return fail("empty component in field path " + Quote(path));
    const FD* field = descriptor->FindFieldByName(std::string(parts[i]));
    if (field == nullptr) {
      return fail("unknown field " + Quote(parts[i]) + " in " +
                  (walked.empty() ? std::string("the config") : walked) +
                  " (fields: " + FieldNames(descriptor) + ")");
    }
    const std::string here =
        walked.empty() ? std::string(parts[i]) : walked + "." + std::string(parts[i]);
    const bool is_message = field->cpp_type() == FD::CPPTYPE_MESSAGE;
    if (i + 1 < parts.size()) {
      if (!is_message || field->is_repeated()) {
        return fail(Quote(here) + " is not a message (its type is " +
                    (field->is_repeated() ? "repeated " : "") + field->type_name() +
                    "), so it has no field " + Quote(parts[i + 1]));
      }
      message = message->GetReflection()->MutableMessage(message, field);
      walked = here;
      continue;
    }
    if (is_message) {
      return fail(Quote(here) + " is a message; set one of its fields (" +
                  FieldNames(field->message_type()) + ")");
    }
    if (auto why = SetField(value, field, here, message)) return fail(*why);
  }
  return Status::Ok();
}

}  // namespace mpimoe::train
