// config_loader.cc: mpimoe training configs from protobuf text format (see
// config_loader.h): parsing with file:line:column errors, `--set path=value` overrides
// through protobuf reflection, and validation with field paths. The conversion to (and
// back from) the plain structs of config.h is config_proto.cc.
//
// Thread-safety: pure functions (the parser and printer are local objects).
#include "runtime/train/config_loader.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "mpimoe.pb.h"
#include "runtime/train/config_proto.h"
#include "runtime/train/data.h"
#include "runtime/train/text_proto.h"

namespace mpimoe::train {
namespace {

namespace pb = ::google::protobuf;
namespace pbc = ::mpimoe::config;

constexpr int32_t kTextVocabSize = 256;  // byte-level text: every byte is a token

// ---------------------------------------------------------------------------------
// Small string helpers.

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

// Shortest text that reads back as the same float.
std::string FormatFloat(float v) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  return std::string(buffer, result.ptr);
}

std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

// ---------------------------------------------------------------------------------
// Parsing.

Status ParseText(const std::string& text, const std::string& source_name,
                 pbc::TrainConfig* proto) {
  return ParseTextProto(text, source_name, proto);
}

// ---------------------------------------------------------------------------------
// --set overrides (reflection).

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

template <typename Int>
std::optional<Int> ParseInteger(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  Int value{};
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() ||
      result.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

std::optional<double> ParseReal(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() ||
      result.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "True" || text == "t" || text == "1") return true;
  if (text == "false" || text == "False" || text == "f" || text == "0") return false;
  return std::nullopt;
}

const pb::EnumValueDescriptor* FindEnumValue(const pb::EnumDescriptor* descriptor,
                                             std::string_view text) {
  if (const auto* value = descriptor->FindValueByName(std::string(text))) return value;
  // Case-insensitive fallback: `swiglu` means SWIGLU.
  std::string upper(text);
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return descriptor->FindValueByName(upper);
}

// Sets (singular `field`) or appends (repeated `field`) the value `text` on `message`.
// Returns an explanation when `text` is not a value of the field's type.
std::optional<std::string> SetOrAddScalar(pb::Message* message,
                                          const pb::FieldDescriptor* field,
                                          std::string_view text) {
  const pb::Reflection* reflection = message->GetReflection();
  const bool repeated = field->is_repeated();
  const std::string got = ", got " + Quote(text);
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      const auto v = ParseInteger<int64_t>(text);
      if (!v || *v < std::numeric_limits<int32_t>::min() ||
          *v > std::numeric_limits<int32_t>::max()) {
        return "expected an int32" + got;
      }
      if (repeated) {
        reflection->AddInt32(message, field, static_cast<int32_t>(*v));
      } else {
        reflection->SetInt32(message, field, static_cast<int32_t>(*v));
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      const auto v = ParseInteger<int64_t>(text);
      if (!v) return "expected an int64" + got;
      if (repeated) {
        reflection->AddInt64(message, field, *v);
      } else {
        reflection->SetInt64(message, field, *v);
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      const auto v = ParseInteger<uint64_t>(text);
      if (!v || *v > std::numeric_limits<uint32_t>::max()) {
        return "expected a uint32" + got;
      }
      if (repeated) {
        reflection->AddUInt32(message, field, static_cast<uint32_t>(*v));
      } else {
        reflection->SetUInt32(message, field, static_cast<uint32_t>(*v));
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      const auto v = ParseInteger<uint64_t>(text);
      if (!v) return "expected a uint64 (non-negative integer)" + got;
      if (repeated) {
        reflection->AddUInt64(message, field, *v);
      } else {
        reflection->SetUInt64(message, field, *v);
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      const auto v = ParseReal(text);
      if (!v || (std::isfinite(*v) && std::abs(*v) > std::numeric_limits<float>::max())) {
        return "expected a float" + got;
      }
      if (repeated) {
        reflection->AddFloat(message, field, static_cast<float>(*v));
      } else {
        reflection->SetFloat(message, field, static_cast<float>(*v));
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE: {
      const auto v = ParseReal(text);
      if (!v) return "expected a double" + got;
      if (repeated) {
        reflection->AddDouble(message, field, *v);
      } else {
        reflection->SetDouble(message, field, *v);
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      const auto v = ParseBool(text);
      if (!v) return "expected true or false" + got;
      if (repeated) {
        reflection->AddBool(message, field, *v);
      } else {
        reflection->SetBool(message, field, *v);
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* v = FindEnumValue(field->enum_type(), text);
      if (v == nullptr) {
        return "expected one of " + EnumNames(field->enum_type()) + got;
      }
      if (repeated) {
        reflection->AddEnum(message, field, v);
      } else {
        reflection->SetEnum(message, field, v);
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      // Quotes are optional; escape sequences are not interpreted.
      if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
          text.back() == text.front()) {
        text = text.substr(1, text.size() - 2);
      }
      if (repeated) {
        reflection->AddString(message, field, std::string(text));
      } else {
        reflection->SetString(message, field, std::string(text));
      }
      return std::nullopt;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;  // handled by the caller
  }
  return "fields of type " + std::string(field->type_name()) +
         " cannot be set with --set";
}

// Applies one `path=value` override to `proto`.
Status ApplyOverride(const std::string& override_text, pbc::TrainConfig* proto) {
  const auto fail = [&](const std::string& what) {
    return InvalidArgumentError("--set " + override_text + ": " + what);
  };
  const size_t eq = override_text.find('=');
  if (eq == std::string::npos) return fail("expected path=value");
  const std::string_view path = Trim(std::string_view(override_text).substr(0, eq));
  const std::string_view value = Trim(std::string_view(override_text).substr(eq + 1));
  if (path.empty()) return fail("empty field path");

  const std::vector<std::string_view> parts = Split(path, '.');
  pb::Message* message = proto;
  std::string walked;  // the path up to (excluding) parts[i]
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::Descriptor* descriptor = message->GetDescriptor();
    if (parts[i].empty()) return fail("empty component in field path " + Quote(path));
    const pb::FieldDescriptor* field = descriptor->FindFieldByName(std::string(parts[i]));
    if (field == nullptr) {
      return fail("unknown field " + Quote(parts[i]) + " in " +
                  (walked.empty() ? std::string("the config") : walked) +
                  " (fields: " + FieldNames(descriptor) + ")");
    }
    const std::string here =
        walked.empty() ? std::string(parts[i]) : walked + "." + std::string(parts[i]);
    const bool is_message = field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;
    const bool last = i + 1 == parts.size();
    if (!last) {
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
    if (!field->is_repeated()) {
      if (auto error = SetOrAddScalar(message, field, value)) return fail(*error);
      return Status::Ok();
    }
    // Repeated: a comma-separated list (optionally in [...]) replaces the whole list;
    // an empty value clears it.
    std::string_view list = value;
    if (list.size() >= 2 && list.front() == '[' && list.back() == ']') {
      list = Trim(list.substr(1, list.size() - 2));
    }
    message->GetReflection()->ClearField(message, field);
    if (list.empty()) return Status::Ok();
    const std::vector<std::string_view> items = Split(list, ',');
    for (size_t j = 0; j < items.size(); ++j) {
      if (auto error = SetOrAddScalar(message, field, Trim(items[j]))) {
        return fail("list element " + std::to_string(j + 1) + ": " + *error);
      }
    }
    return Status::Ok();
  }
  return Status::Ok();  // not reached: the loop returns at the last component
}

// ---------------------------------------------------------------------------------
// Validation.

// Keeps the first failure as "<prefix><field path>: <why>".
class Checker {
 public:
  explicit Checker(std::string prefix) : prefix_(std::move(prefix)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  void Fail(std::string_view path, const std::string& why,
            StatusCode code = StatusCode::kInvalidArgument) {
    if (!status_.ok()) return;
    status_ = Status(code, prefix_ + std::string(path) + ": " + why);
  }

  void Positive(std::string_view path, int64_t v) {
    if (v <= 0) Fail(path, "must be positive, got " + std::to_string(v));
  }
  void NonNegative(std::string_view path, int64_t v) {
    if (v < 0) Fail(path, "must be >= 0, got " + std::to_string(v));
  }
  void PositiveReal(std::string_view path, float v) {
    if (!(v > 0) || !std::isfinite(v)) {
      Fail(path, "must be a positive finite number, got " + FormatFloat(v));
    }
  }
  void NonNegativeReal(std::string_view path, float v) {
    if (!(v >= 0) || !std::isfinite(v)) {
      Fail(path, "must be a finite number >= 0, got " + FormatFloat(v));
    }
  }
  // v in [lo, hi] (or [lo, hi) when !hi_inclusive; (lo, hi...] when !lo_inclusive).
  void RealInRange(std::string_view path, float v, float lo, bool lo_inclusive, float hi,
                   bool hi_inclusive) {
    const bool above = lo_inclusive ? v >= lo : v > lo;
    const bool below = hi_inclusive ? v <= hi : v < hi;
    if (!(above && below)) {
      Fail(path, "must be in " + std::string(lo_inclusive ? "[" : "(") + FormatFloat(lo) +
                     ", " + FormatFloat(hi) + (hi_inclusive ? "]" : ")") + ", got " +
                     FormatFloat(v));
    }
  }

 private:
  std::string prefix_;
  Status status_;
};

// Checks `c` (synthetic tasks resolved; vocab_size, dense_d_ffn and run.name not yet).
void Validate(const TrainConfig& c, Checker& check) {
  const ModelSection& m = c.model;
  check.NonNegative("model.vocab_size", m.vocab_size);
  check.Positive("model.seq_len", m.seq_len);
  check.Positive("model.d_model", m.d_model);
  check.Positive("model.num_layers", m.num_layers);
  check.Positive("model.num_heads", m.num_heads);
  if (check.ok() && m.d_model % m.num_heads != 0) {
    check.Fail("model.num_heads",
               "must divide model.d_model=" + std::to_string(m.d_model) + ", got " +
                   std::to_string(m.num_heads));
  }
  check.Positive("model.moe.num_experts", m.moe.num_experts);
  if (check.ok() && (m.moe.top_k < 1 || m.moe.top_k > m.moe.num_experts)) {
    check.Fail("model.moe.top_k", "must be in [1, model.moe.num_experts=" +
                                      std::to_string(m.moe.num_experts) + "], got " +
                                      std::to_string(m.moe.top_k));
  }
  check.Positive("model.moe.d_ffn", m.moe.d_ffn);
  check.NonNegativeReal("model.moe.capacity_factor", m.moe.capacity_factor);
  check.NonNegativeReal("model.moe.aux_loss_coef", m.moe.aux_loss_coef);
  check.NonNegativeReal("model.moe.z_loss_coef", m.moe.z_loss_coef);
  if (check.ok()) {
    std::set<int32_t> seen;
    for (int32_t layer : m.dense_layers) {
      if (layer < 0 || layer >= m.num_layers) {
        check.Fail("model.dense_layers", "layer " + std::to_string(layer) +
                                             " is out of range [0, model.num_layers=" +
                                             std::to_string(m.num_layers) + ")");
        break;
      }
      if (!seen.insert(layer).second) {
        check.Fail("model.dense_layers",
                   "layer " + std::to_string(layer) + " listed twice");
        break;
      }
    }
  }
  check.NonNegative("model.dense_d_ffn", m.dense_d_ffn);
  check.PositiveReal("model.layernorm_eps", m.layernorm_eps);
  check.PositiveReal("model.init_std", m.init_std);

  const DataSection& d = c.data;
  check.Positive("data.global_batch_size", d.global_batch_size);
  check.NonNegative("data.eval_batches", d.eval_batches);
  check.RealInRange("data.eval_fraction", d.eval_fraction, 0, true, 1, false);
  if (d.source == DataSource::kSynthetic) {
    check.Positive("data.synthetic.num_symbols", d.num_symbols);
    std::set<SyntheticTask> seen;
    std::string task_names;
    for (SyntheticTask task : d.tasks) {
      if (!seen.insert(task).second) {
        check.Fail("data.synthetic.tasks", std::string(TaskName(task)) + " listed twice");
      }
      task_names += (task_names.empty() ? "" : ", ") + std::string(TaskName(task));
    }
    const int32_t min_seq_len = SyntheticMinSeqLen(d);
    if (check.ok() && m.seq_len < min_seq_len) {
      check.Fail("model.seq_len",
                 "too short for the synthetic tasks (" + task_names +
                     "): they need at least " + std::to_string(min_seq_len) +
                     " tokens (task, payload, SEP, answer; MOD_ADD needs a 2-symbol "
                     "payload), got " +
                     std::to_string(m.seq_len));
    }
  } else {
    if (d.text_path.empty()) {
      check.Fail("data.text_path", "must name a text file when data.source is TEXT");
    } else if (check.ok()) {
      std::error_code ec;
      const auto status = std::filesystem::status(d.text_path, ec);
      if (!std::filesystem::exists(status)) {
        check.Fail("data.text_path", "file " + Quote(d.text_path) + " does not exist",
                   StatusCode::kNotFound);
      } else if (std::filesystem::is_directory(status)) {
        check.Fail("data.text_path", Quote(d.text_path) + " is a directory, not a file");
      }
    }
    if (d.eval_batches > 0 && d.eval_fraction == 0) {
      check.Fail(
          "data.eval_fraction",
          "must be positive for TEXT data with data.eval_batches > 0 (the held-out "
          "part would be empty)");
    }
  }
  if (check.ok() && m.vocab_size > 0) {
    const int32_t needed =
        d.source == DataSource::kText ? kTextVocabSize : SyntheticVocabSize(d);
    if (m.vocab_size < needed) {
      check.Fail("model.vocab_size",
                 "must be at least " + std::to_string(needed) + " (what the " +
                     (d.source == DataSource::kText ? "byte-level text" : "synthetic") +
                     " data needs; 0 = exactly that), got " +
                     std::to_string(m.vocab_size));
    }
  }

  const OptimizerSection& o = c.optimizer;
  check.PositiveReal("optimizer.lr", o.lr);
  check.RealInRange("optimizer.min_lr_ratio", o.min_lr_ratio, 0, true, 1, true);
  check.NonNegative("optimizer.warmup_steps", o.warmup_steps);
  check.RealInRange("optimizer.beta1", o.beta1, 0, true, 1, false);
  check.RealInRange("optimizer.beta2", o.beta2, 0, true, 1, false);
  check.PositiveReal("optimizer.eps", o.eps);
  check.NonNegativeReal("optimizer.weight_decay", o.weight_decay);
  check.NonNegativeReal("optimizer.grad_clip", o.grad_clip);

  const RunSection& r = c.run;
  if (r.name.find('/') != std::string::npos || r.name == "." || r.name == "..") {
    check.Fail("run.name", "must not be a path (it names the output directory), got " +
                               Quote(r.name));
  }
  check.Positive("run.steps", r.steps);
  check.Positive("run.log_every", r.log_every);
  check.NonNegative("run.eval_every", r.eval_every);
  check.NonNegative("run.warmup_steps_for_timing", r.warmup_steps_for_timing);
  check.NonNegative("run.checkpoint_every", r.checkpoint_every);
  check.NonNegative("run.keep_checkpoints", r.keep_checkpoints);
  check.Positive("run.max_skipped_steps", r.max_skipped_steps);

  const ParallelSection& p = c.parallel;
  check.NonNegative("parallel.world_size", p.world_size);
  if (check.ok() && p.world_size > 0 && d.global_batch_size % p.world_size != 0) {
    check.Fail("data.global_batch_size", "must be divisible by parallel.world_size=" +
                                             std::to_string(p.world_size) + ", got " +
                                             std::to_string(d.global_batch_size));
  }
  check.NonNegative("parallel.threads_per_rank", p.threads_per_rank);
  check.Positive("parallel.grad_bucket_kb", p.grad_bucket_kb);

  check.NonNegativeReal("model.moe.skew", m.moe.skew);
  check.NonNegative("model.moe.skew_drift_steps", m.moe.skew_drift_steps);
  const BalancerSection& b = c.balancer;
  check.NonNegative("balancer.replica_slots_per_rank", b.replica_slots_per_rank);
  check.Positive("balancer.replan_interval", b.replan_interval);
  check.RealInRange("balancer.imbalance_low", b.imbalance_low, 1, true, 1e9, false);
  if (check.ok() && b.imbalance_high < b.imbalance_low) {
    check.Fail("balancer.imbalance_high", "must be >= balancer.imbalance_low");
  }
  check.Positive("balancer.plan_lifetime_steps", b.plan_lifetime_steps);
  check.PositiveReal("balancer.kappa", b.kappa);
  check.RealInRange("balancer.min_relative_gain", b.min_relative_gain, 0, true, 1, false);
  check.RealInRange("balancer.ema_shift", static_cast<float>(b.ema_shift), 0, true, 16,
                    true);
  check.NonNegativeReal("balancer.noise_sigmas", b.noise_sigmas);
  check.PositiveReal("balancer.cost_expert_gflops", b.cost_expert_gflops);
  check.PositiveReal("balancer.cost_memory_gbps", b.cost_memory_gbps);
  check.PositiveReal("balancer.cost_network_gbps", b.cost_network_gbps);
}

// The run name a config file gives by default: its base name without extension.
std::string DefaultRunName(const std::string& source_name) {
  std::string stem = std::filesystem::path(source_name).stem().string();
  if (stem.empty() || stem == "." || stem == "..") stem = "run";
  return stem;
}

}  // namespace

StatusOr<TrainConfig> ParseTrainConfig(const std::string& text,
                                       const std::string& source_name,
                                       const std::vector<std::string>& overrides) {
  pbc::TrainConfig proto;
  MPIMOE_RETURN_IF_ERROR(ParseText(text, source_name, &proto));
  for (const std::string& override_text : overrides) {
    MPIMOE_RETURN_IF_ERROR(ApplyOverride(override_text, &proto));
  }

  TrainConfig config = FromProto(proto);
  if (config.data.source == DataSource::kSynthetic && config.data.tasks.empty()) {
    config.data.tasks = {SyntheticTask::kCopy, SyntheticTask::kReverse,
                         SyntheticTask::kSort, SyntheticTask::kModAdd};
  }
  Checker check(source_name + ": ");
  Validate(config, check);
  MPIMOE_RETURN_IF_ERROR(check.status());

  if (config.model.vocab_size == 0) {
    config.model.vocab_size = config.data.source == DataSource::kText
                                  ? kTextVocabSize
                                  : SyntheticVocabSize(config.data);
  }
  if (config.model.dense_d_ffn == 0) config.model.dense_d_ffn = config.model.moe.d_ffn;
  if (config.run.name.empty()) config.run.name = DefaultRunName(source_name);
  return config;
}

TrainConfig DefaultTrainConfig() {
  StatusOr<TrainConfig> config = ParseTrainConfig("", "default", {});
  // The schema's defaults pass validation (tested); a failure is a broken schema.
  MPIMOE_CHECK_MSG(config.ok(), config.status().ToString().c_str());
  return std::move(config).value();
}

StatusOr<TrainConfig> LoadTrainConfig(const std::string& path,
                                      const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFoundError(path + ": config file does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgumentError(path + ": is a directory, not a config file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path + ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError(path + ": reading the config file failed");
  return ParseTrainConfig(text.str(), path, overrides);
}

std::string EffectiveConfigText(const TrainConfig& config) {
  const pbc::TrainConfig proto = ToProto(config);
  pb::TextFormat::Printer printer;
  std::string body;
  // Serialising a message built in memory cannot fail.
  MPIMOE_CHECK(printer.PrintToString(proto, &body));
  return "# mpimoe effective config: every field, defaults resolved "
         "(configs/mpimoe.proto).\n" +
         body;
}

Status CheckOverride(const std::string& override_text) {
  pbc::TrainConfig proto;
  return ApplyOverride(override_text, &proto);
}

Status ValidateForWorldSize(const TrainConfig& config, int world_size) {
  if (world_size < 1) {
    return InvalidArgumentError("world size must be positive, got " +
                                std::to_string(world_size));
  }
  if (config.parallel.world_size > 0 && config.parallel.world_size != world_size) {
    return InvalidArgumentError("parallel.world_size: the config expects " +
                                std::to_string(config.parallel.world_size) +
                                " ranks, but the job runs with world size " +
                                std::to_string(world_size));
  }
  if (config.data.global_batch_size % world_size != 0) {
    return InvalidArgumentError(
        "data.global_batch_size: " + std::to_string(config.data.global_batch_size) +
        " is not divisible by the world size " + std::to_string(world_size));
  }
  return Status::Ok();
}

StatusOr<ResumeCheck> CheckResumeCompatible(const std::string& saved_config_text,
                                            const std::string& source_name,
                                            const TrainConfig& current) {
  pbc::TrainConfig saved;
  MPIMOE_RETURN_IF_ERROR(ParseText(saved_config_text, source_name, &saved));
  const pbc::TrainConfig now = ToProto(current);
  const std::string model_diff = DescribeDifferences(saved.model(), now.model());
  if (!model_diff.empty()) {
    return InvalidArgumentError(
        source_name +
        ": the checkpoint's model differs from the config's (model fields must match to "
        "resume; the world size may differ):\n" +
        model_diff);
  }
  const std::string seed_diff = saved.run().seed() == now.run().seed()
                                    ? ""
                                    : "run.seed: " + std::to_string(saved.run().seed()) +
                                          " -> " + std::to_string(now.run().seed());
  const std::string data_diff = DescribeDifferences(saved.data(), now.data());
  if (!seed_diff.empty() || !data_diff.empty()) {
    return InvalidArgumentError(
        source_name +
        ": the checkpoint's data or seed differ from the config's (a resumed run must "
        "see the same batches):\n" +
        seed_diff + (seed_diff.empty() || data_diff.empty() ? "" : "\n") + data_diff);
  }
  ResumeCheck check;
  check.same_balancer = DescribeDifferences(saved.balancer(), now.balancer()).empty();
  pbc::TrainConfig saved_rest = saved, now_rest = now;
  saved_rest.mutable_run()->clear_name();
  now_rest.mutable_run()->clear_name();
  saved_rest.mutable_run()->clear_out_dir();
  now_rest.mutable_run()->clear_out_dir();
  check.changes = DescribeDifferences(saved_rest, now_rest);
  return check;
}

}  // namespace mpimoe::train
