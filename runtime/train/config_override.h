// `--set path=value` overrides of a config message (internal to runtime/train; the
// public entry points are ParseTrainConfig and CheckOverride in config_loader.h).
//
// The path is walked with protobuf descriptors (model.moe.num_experts: message fields
// down to one non-message field); the value is parsed by protobuf's own TextFormat
// parser as the text-format value of that field, with two conveniences: an enum name
// may be in any case (`swiglu` = SWIGLU), and a string without quotes is taken
// literally (quoted, it is a text-format string literal: escapes such as \" apply);
// and one refusal: an integer with a leading 0 ("010", which text format reads as
// octal 8) is an error rather than a surprise.
// A repeated field takes a comma-separated list, optionally in [...], that replaces
// the whole list; an empty value clears it. Elements cannot contain commas.
//
// Errors are InvalidArgument "--set <path>=<value>: <what>", where <what> names the
// field and the bad value: an unknown field (listing the fields there are), a path
// through a non-message, a path ending at a message, or a value that is not of the
// field's type, e.g.
//   "--set model.d_model=four: expected an int32 for model.d_model: Expected integer,
//    got: four".
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "runtime/core/status.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace mpimoe::train {

// Applies one `path=value` override to `config` (a config::TrainConfig for the
// loader; the path is relative to `config`). On error `config` may be partly changed.
Status ApplyOverride(const std::string& override_text, google::protobuf::Message* config);

}  // namespace mpimoe::train
