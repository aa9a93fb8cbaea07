// Checkpoints: the whole training state on disk, loadable on any world size.
//
// RUN/checkpoints/step-N/ holds the state after N optimizer steps:
//   manifest.textproto  (schema configs/checkpoint.proto) the effective config, the
//                       step, the data cursor and seed, the last learning rate, skipped
//                       steps, every MoE layer's balancer state (plan, load forecast,
//                       anti-flapping memory, cost model) and the index of tensors with
//                       file, offset, shape, dtype, CRC-32C and AdamW step count.
//   shard-R.bin         raw f32 values written by rank R of the saving job: rank 0 the
//                       replicated parameters, every rank the experts it is home to,
//                       each with its AdamW moments ("<name>#adam_m", "<name>#adam_v").
// Tensors are named by logical parameter names (experts by logical expert id), so the
// content does not depend on which rank held what: a checkpoint saved on P ranks loads
// on any P'. At the same world size the saved plans and balancer states are restored
// and training continues bitwise as if never interrupted; at another world size (or
// with other balancer settings) the experts start from the static plan and the
// balancers keep only their load forecasts and counters.
//
// Atomicity: every rank writes and fsyncs its shard in RUN/checkpoints/.step-N.partial;
// rank 0 then writes and fsyncs the manifest, renames the directory to step-N and
// fsyncs RUN/checkpoints. A save interrupted at any point leaves the earlier
// checkpoints intact; a directory that is not step-N with a manifest is ignored (and
// removed by the next save). RUN must be on a filesystem every rank sees (checked).
//
// Fault injection for tests: with MPIMOE_TEST_CHECKPOINT_STALL_MS=T in the environment,
// every rank sleeps T ms after writing its shard, before the manifest is written.
//
// Thread-safety: one host thread per rank; every function is collective over `comm`
// except FindLatestCheckpoint and SetAsideCheckpointsAfter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/core/background_deleter.h"
#include "runtime/core/status.h"
#include "runtime/train/trainer.h"

namespace mpimoe::train {

struct CheckpointInfo {
  std::string dir;             // RUN/checkpoints/step-N
  int64_t step = 0;            // optimizer steps the state includes
  int64_t total_bytes = 0;     // tensor bytes over all shards
  double seconds = 0.0;        // wall time of the save or load on this rank
  double prune_seconds = 0.0;  // saving, rank 0: of `seconds`, pruning old checkpoints
  // Loading only: whether the saved placement plans were restored (same world size and
  // balancer settings), and the config fields that differ from the saved config.
  bool plans_restored = false;
  std::string config_changes;
};

// Saves `trainer`'s state after trainer.next_step() - 1 steps into
// run_dir/checkpoints/step-N and deletes all but the newest `keep` checkpoints (0 =
// keep all; the one just written is always kept). An existing step-N is replaced. With a
// `deleter` (used on rank 0), old checkpoints are removed in the background (renamed to
// hidden names first, so they stop being checkpoints at once); without, before return.
StatusOr<CheckpointInfo> SaveCheckpoint(Trainer& trainer, const std::string& run_dir,
                                        int keep, parallel::Communicator& comm,
                                        BackgroundDeleter* deleter = nullptr);

// The newest complete checkpoint (a step-N directory with a manifest) under
// run_dir/checkpoints; NotFound naming run_dir when there is none.
StatusOr<std::string> FindLatestCheckpoint(const std::string& run_dir);

// A run resumed from step `step` abandons the checkpoints its earlier life saved after
// that step: run_dir/checkpoints/step-M with M > step are renamed to step-M.abandoned
// (no longer found by FindLatestCheckpoint nor pruned) rather than deleted. Returns the
// names set aside. Not collective (rank 0 calls it).
StatusOr<std::vector<std::string>> SetAsideCheckpointsAfter(const std::string& run_dir,
                                                            int64_t step);

// Loads the checkpoint in `dir` into `trainer`, which must not have run a step yet.
// Checks that the manifest parses, its config is compatible (CheckResumeCompatible),
// every tensor exists with the right shape and dtype and its bytes match their
// checksum; errors name the file and the tensor, and leave the trainer in an
// unspecified state (the caller gives up on it). Afterwards trainer.next_step() is
// N + 1.
StatusOr<CheckpointInfo> LoadCheckpoint(const std::string& dir, Trainer& trainer,
                                        parallel::Communicator& comm);

}  // namespace mpimoe::train
