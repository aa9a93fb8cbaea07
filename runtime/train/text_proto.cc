// text_proto.cc: see text_proto.h.
#include "runtime/train/text_proto.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include <vector>

namespace mpimoe::train {
namespace {

namespace pb = ::google::protobuf;

// Records parse errors as "<file>:<line>:<column>: <message>" (1-based positions).
class ParseErrorCollector : public pb::io::ErrorCollector {
 public:
  explicit ParseErrorCollector(std::string source) : source_(std::move(source)) {}

  void AddError(int line, pb::io::ColumnNumber column,
                const std::string& message) override {
    std::string error = source_;
    if (line >= 0) {
      error += ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1);
    }
    error += ": " + message;
    errors_.push_back(std::move(error));
  }

  // Warnings (none are expected from this schema) do not fail a load.
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}

  // All errors, one a line; a generic message when the parser failed silently.
  std::string Message() const {
    if (errors_.empty()) return source_ + ": could not parse the config";
    std::string out;
    for (const std::string& error : errors_) {
      if (!out.empty()) out += "\n";
      out += error;
    }
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

}  // namespace

Status ParseTextProto(const std::string& text, const std::string& source_name,
                      pb::Message* message) {
  ParseErrorCollector collector(source_name);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  if (!parser.ParseFromString(text, message)) {
    return InvalidArgumentError(collector.Message());
  }
  return Status::Ok();
}

std::string DescribeDifferences(const pb::Message& before, const pb::Message& after) {
  std::string report;
  pb::util::MessageDifferencer differencer;
  differencer.set_message_field_comparison(pb::util::MessageDifferencer::EQUIVALENT);
  differencer.ReportDifferencesToString(&report);
  if (differencer.Compare(before, after)) return "";
  while (!report.empty() && report.back() == '\n') report.pop_back();
  return report;
}

}  // namespace mpimoe::train
