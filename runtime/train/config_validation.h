// Validation of a training config (internal to runtime/train; config_loader.h runs it
// on every config it loads and documents what is checked).
//
// Every check names the field path and the bad value; the first failure wins, as
// "<source_name>: <field path>: <why>", e.g.
//   "configs/x.textproto: model.moe.top_k: must be in [1, model.moe.num_experts=4],
//    got 8".
// Errors are InvalidArgument, NotFound for a data.text_path that does not exist.
//
// Thread-safety: pure functions (ValidateTrainConfig looks at the file system for
// data.text_path).
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/status.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

// The vocabulary the data of `data` needs: 256 for byte-level text, the synthetic
// tasks' token count otherwise (empty tasks count as all four).
int32_t DataVocabSize(const DataSection& data);

// Checks `config` as loaded from `source_name`, with synthetic tasks resolved;
// model.vocab_size, model.dense_d_ffn and run.name may still be 0/empty (= resolve).
[[nodiscard]] Status ValidateTrainConfig(const TrainConfig& config,
                                         const std::string& source_name);

}  // namespace mpimoe::train
