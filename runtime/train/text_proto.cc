// text_proto.cc: see text_proto.h.
#include "runtime/train/text_proto.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>

namespace mpimoe::train {

namespace pb = ::google::protobuf;

void TextFormatErrors::AddError(int line, pb::io::ColumnNumber column,
                                const std::string& message) {
  errors_.push_back({line, column, message});
}

std::string TextFormatErrors::Located(std::string_view what) const {
  if (errors_.empty()) return source_ + ": could not parse the " + std::string(what);
  std::string out;
  for (const Error& error : errors_) {
    if (!out.empty()) out += "\n";
    out += source_;
    if (error.line >= 0) {
      out += ':';
      out += std::to_string(error.line + 1);
      out += ':';
      out += std::to_string(error.column + 1);
    }
    out += ": ";
    out += error.message;
  }
  return out;
}

std::string TextFormatErrors::Messages() const {
  std::string out;
  for (const Error& error : errors_) {
    if (!out.empty()) out += "; ";
    out += error.message;
  }
  return out;
}

Status ParseTextProto(const std::string& text, const std::string& source_name,
                      pb::Message* message, std::string_view what,
                      pb::TextFormat::ParseInfoTree* locations) {
  TextFormatErrors errors(source_name);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(locations);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  if (!parser.ParseFromString(text, message)) {
    return InvalidArgumentError(errors.Located(what));
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
