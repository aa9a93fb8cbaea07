// Protobuf text format in and out for runtime/train (configs, checkpoint manifests):
// parsing with "<source>:<line>:<column>: <what>" errors and no unknown fields, and the
// differences between two messages named by their field paths.
//
// Only runtime/train and the launcher see protobuf types (DESIGN.md section 2).
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "runtime/core/status.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace mpimoe::train {

// Parses `text` (read from `source_name`) into `message`; InvalidArgument listing every
// error with its position.
Status ParseTextProto(const std::string& text, const std::string& source_name,
                      google::protobuf::Message* message);

// Differences between two messages of the same type, one a line ("moe.num_experts: 8 ->
// 16"), or "" when they are equal (fields set to their default count as equal to unset).
std::string DescribeDifferences(const google::protobuf::Message& before,
                                const google::protobuf::Message& after);

}  // namespace mpimoe::train
