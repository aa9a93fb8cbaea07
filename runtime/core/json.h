// JSON in mpimoe: nlohmann::json (Debian's nlohmann-json3-dev) for reading and writing,
// plus the one conversion the library does not give: a parse error as a Status.
//
// Writing: build an `Json` (nlohmann::ordered_json, so keys keep insertion order and
// files read top-down the way they were written) and write DumpJson() of it, never
// dump(): dump() throws on a string that is not valid UTF-8 (a run name or path in
// Latin-1, say), DumpJson() replaces such bytes with U+FFFD. Non-finite doubles dump as
// null. Reading: ParseJson() below; the result's accessors (at(), value(),
// is_number(), ...) are nlohmann's.
//
// Thread-safety: ParseJson is a pure function; a Json is a value.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "runtime/core/status.h"

namespace mpimoe {

using Json = nlohmann::ordered_json;

// One line of compact JSON; invalid UTF-8 in strings becomes U+FFFD instead of
// throwing.
std::string DumpJson(const Json& value);

// `v` as the double that prints as the float's shortest text: a float stored as is
// widens to a double that prints with ~17 digits of noise (1.5e-4 ->
// 0.0001500000071246177). Non-finite values pass through (they dump as null).
double FloatForJson(float v);

// Parses `text`, exactly one JSON value surrounded by optional whitespace. `source`
// names the text in errors (a file name, "metrics.jsonl:12"): InvalidArgument
// "<source>: parse error at line L, column C: <what>".
StatusOr<Json> ParseJson(std::string_view text, std::string_view source);

// Reads and parses the file at `path` (NotFound when it is missing, IoError when it
// cannot be read, InvalidArgument naming the file when it is not JSON).
StatusOr<Json> ReadJsonFile(const std::string& path);

}  // namespace mpimoe
