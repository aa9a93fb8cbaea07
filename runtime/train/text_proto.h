// Protobuf text format in and out for runtime/train (configs, checkpoint manifests) and
// the launcher (experiments): parsing with "<source>:<line>:<column>: <what>" errors and
// no unknown fields, the collector of the parser's errors, and the differences between
// two messages named by their field paths.
//
// Only runtime/train and the launcher see protobuf types (DESIGN.md section 2).
// Thread-safety: pure functions; a TextFormatErrors belongs to the parse it records.
#pragma once

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::train {

// Records the errors a TextFormat parser reports (its warnings, none expected from our
// schemas, do not fail a parse). Give it to Parser::RecordErrorsTo.
class TextFormatErrors final : public google::protobuf::io::ErrorCollector {
 public:
  // `source` names the parsed text in Located().
  explicit TextFormatErrors(std::string source = "") : source_(std::move(source)) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override;
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}

  // Every error as "<source>:<line>:<column>: <message>" (1-based; "<source>:
  // <message>" when the parser gave no position), one a line; "<source>: could not
  // parse the <what>" when the parser failed without saying why.
  std::string Located(std::string_view what) const;
  // Only the messages, joined by "; " ("" when none): for a value parsed on its own,
  // where positions add nothing.
  std::string Messages() const;

 private:
  struct Error {
    int line = -1;  // 0-based; -1 when unknown
    int column = 0;
    std::string message;
  };
  std::string source_;
  std::vector<Error> errors_;
};

// Parses `text` (read from `source_name`) into `message`, unknown fields being errors;
// InvalidArgument with TextFormatErrors::Located(`what`). `locations`, when given,
// receives where each field was set.
Status ParseTextProto(const std::string& text, const std::string& source_name,
                      google::protobuf::Message* message,
                      std::string_view what = "config",
                      google::protobuf::TextFormat::ParseInfoTree* locations = nullptr);

// Differences between two messages of the same type, one a line ("moe.num_experts: 8 ->
// 16"), or "" when they are equal (fields set to their default count as equal to unset).
std::string DescribeDifferences(const google::protobuf::Message& before,
                                const google::protobuf::Message& after);

}  // namespace mpimoe::train
