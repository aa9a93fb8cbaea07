// The checkpoint manifest (configs/checkpoint.proto) and its file: placement plans and
// balancer states to and from their proto form, the manifest filled from a trainer,
// and manifest.textproto written and read back with its closing CRC-32C line
// ("# crc32c XXXXXXXX" over every byte before it).
//
// Internal to the checkpoint code (checkpoint*.cc); the public API is checkpoint.h.
// Thread-safety: pure functions over values the caller owns.
#pragma once

#include <filesystem>

#include "checkpoint.pb.h"
#include "parallel/balancer.h"
#include "parallel/plan.h"
#include "runtime/core/status.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {

inline constexpr char kCheckpointManifestName[] = "manifest.textproto";

void PlanToProto(const parallel::Plan& plan, config::PlacementPlan* out);
// InvalidArgument when the sizes disagree or an expert's home does not hold it.
StatusOr<parallel::Plan> PlanFromProto(const config::PlacementPlan& in);

void BalancerToProto(const parallel::BalancerState& state, config::BalancerState* out);
StatusOr<parallel::BalancerState> BalancerFromProto(const config::BalancerState& in);

// Sets everything but the tensor index (already in `manifest`) from `trainer`, saved by
// a job of `world_size` ranks: format version, step, effective config, data cursor,
// seed, learning rate, skipped steps, balancer states, total tensor bytes, save time.
void FillManifest(Trainer& trainer, int world_size, config::CheckpointManifest* manifest);

// Writes dir/manifest.textproto (a comment line, the text proto, the CRC line) through
// WriteFileAtomically. Does not sync `dir`.
Status WriteManifest(const config::CheckpointManifest& manifest,
                     const std::filesystem::path& dir);

// Reads and checks dir/manifest.textproto: NotFound when the directory or the manifest
// is missing; InvalidArgument naming the file for a missing or wrong checksum, a parse
// error, another format version, a negative step or a non-positive world size.
StatusOr<config::CheckpointManifest> ReadManifest(const std::filesystem::path& dir);

}  // namespace mpimoe::train
