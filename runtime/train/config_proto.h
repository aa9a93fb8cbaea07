// Conversions between the generated config proto (configs/mpimoe.proto,
// mpimoe::config::TrainConfig) and the plain structs of config.h that everything below
// runtime/train takes. Only runtime/train includes this header (config loading,
// checkpoints): protobuf types go no further.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "mpimoe.pb.h"
#include "runtime/train/config.h"

namespace mpimoe::train {

// The plain form of `p`, with proto defaults for unset fields and nothing resolved yet
// (config_loader.cc resolves, config_validation.cc validates).
TrainConfig FromProto(const config::TrainConfig& p);
// The proto form of `c`, every field set.
config::TrainConfig ToProto(const TrainConfig& c);
// The enum name of a synthetic task, e.g. "COPY".
std::string_view TaskName(SyntheticTask t);

}  // namespace mpimoe::train
