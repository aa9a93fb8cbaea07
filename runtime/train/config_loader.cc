// config_loader.cc: loading mpimoe training configs (see config_loader.h): read the
// file, parse it (text_proto.h), apply `--set` overrides (config_override.h), convert
// to the plain structs (config_proto.h), validate (config_validation.h) and resolve the
// defaults that depend on other fields; the effective config text, and the checks
// against a saved config or the job's world size.
//
// Thread-safety: pure functions (the parser and printer are local objects).
#include "runtime/train/config_loader.h"

#include <google/protobuf/text_format.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "mpimoe.pb.h"
#include "runtime/core/file_io.h"
#include "runtime/train/config_override.h"
#include "runtime/train/config_proto.h"
#include "runtime/train/config_validation.h"
#include "runtime/train/text_proto.h"

namespace mpimoe::train {
namespace {

namespace pb = ::google::protobuf;
namespace pbc = ::mpimoe::config;

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
  MPIMOE_RETURN_IF_ERROR(ParseTextProto(text, source_name, &proto));
  for (const std::string& override_text : overrides) {
    MPIMOE_RETURN_IF_ERROR(ApplyOverride(override_text, &proto));
  }

  TrainConfig config = FromProto(proto);
  if (config.data.source == DataSource::kSynthetic && config.data.tasks.empty()) {
    config.data.tasks = {SyntheticTask::kCopy, SyntheticTask::kReverse,
                         SyntheticTask::kSort, SyntheticTask::kModAdd};
  }
  MPIMOE_RETURN_IF_ERROR(ValidateTrainConfig(config, source_name));

  if (config.model.vocab_size == 0) config.model.vocab_size = DataVocabSize(config.data);
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
  MPIMOE_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  return ParseTrainConfig(text, path, overrides);
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
  MPIMOE_RETURN_IF_ERROR(ParseTextProto(saved_config_text, source_name, &saved));
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
