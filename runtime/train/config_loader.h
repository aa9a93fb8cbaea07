// Loading training configs: protobuf text format -> validated TrainConfig.
//
// LoadTrainConfig reads a .textproto file against configs/mpimoe.proto, applies
// `--set path=value` overrides in order, validates the result and converts it to the
// plain structs of config.h, resolving defaults that depend on other fields
// (model.vocab_size from the data, model.dense_d_ffn, run.name from the file name,
// synthetic tasks = all when empty). The schema is the one home of every default:
// DefaultTrainConfig() is a config file with no fields, loaded.
//
// An override's path is a field path such as model.moe.num_experts or run.name; its
// value is the text-format value of that field, read by protobuf's TextFormat parser:
// a number, true/false, an enum name like SWIGLU (any case: swiglu), a string with or
// without quotes (without, it is taken literally; quoted, escapes like \" apply). For
// repeated fields a comma-separated list (optionally in [...]) replaces the whole list,
// e.g. model.dense_layers=0,2 or data.synthetic.tasks=COPY,SORT; an empty value clears
// it (config_override.h).
//
// Errors are InvalidArgument (NotFound for a missing file: the config itself or
// data.text_path) and say where:
//   parse errors:    "<file>:<line>:<column>: <what>"
//   bad overrides:   "--set <path>=<value>: <what>" naming the field and the bad value,
//     e.g. "--set model.d_model=four: expected an int32 for model.d_model: Expected
//     integer, got: four" or "unknown field 'num_expert' in model.moe (fields: ...)"
//   semantic errors: "<file>: <field path>: <why>", e.g.
//     "configs/x.textproto: model.moe.top_k: must be in [1, model.moe.num_experts=4], got
//     8"
// Validation (config_validation.h) covers: non-positive sizes and counts; top_k >
// num_experts; num_heads not dividing d_model; vocab_size smaller than the data needs;
// dense_layers out of range; seq_len too short for the synthetic tasks; a TEXT source
// without text_path or whose file does not exist; global_batch_size not divisible by
// parallel.world_size (when set); learning-rate, optimizer and balancer values out of
// range. Nothing is written to disk.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

StatusOr<TrainConfig> LoadTrainConfig(const std::string& path,
                                      const std::vector<std::string>& overrides);

// Parses config text (as if read from a file named `source_name`) — for tests and the
// launcher, which embed configs.
StatusOr<TrainConfig> ParseTrainConfig(const std::string& text,
                                       const std::string& source_name,
                                       const std::vector<std::string>& overrides);

// The default config: the schema's defaults, resolved like a config file with no
// fields named "default" (model.vocab_size and data.synthetic tasks for the default
// synthetic data, model.dense_d_ffn = model.moe.d_ffn, run.name "default"). The start
// for code that builds a config by hand (the structs of config.h hold no defaults);
// such code must keep the resolved fields consistent with what it changes.
TrainConfig DefaultTrainConfig();

// The effective config — every field, defaults resolved — in text format, as written to
// OUT/config.textproto. Loading it back gives the same TrainConfig.
std::string EffectiveConfigText(const TrainConfig& config);

// Checks one `path=value` override on its own: the path names a settable field and the
// value has the field's type (or is one of its enum names). Does not validate a config
// (a value may still be out of range, or clash with other fields): that is
// ParseTrainConfig's job. Errors read like ParseTrainConfig's "--set ..." errors.
Status CheckOverride(const std::string& override_text);

// Checks what depends on the job rather than the file: the world size (the global
// batch must divide by it; parallel.world_size, when set, must equal it). Errors name
// the field and the world size.
Status ValidateForWorldSize(const TrainConfig& config, int world_size);

// Whether a run of `current` may resume from a checkpoint saved with the effective
// config `saved_config_text` (from `source_name`): the model (every field of `model`),
// the data section and run.seed must be equal (else InvalidArgument listing the
// differences); everything else (steps, optimizer, balancer, world size, ...) may
// change, and the result says what did.
struct ResumeCheck {
  bool same_balancer = true;  // the balancer section is unchanged
  std::string changes;        // other changed fields, one a line ("" = none)
};
StatusOr<ResumeCheck> CheckResumeCompatible(const std::string& saved_config_text,
                                            const std::string& source_name,
                                            const TrainConfig& current);

}  // namespace mpimoe::train
