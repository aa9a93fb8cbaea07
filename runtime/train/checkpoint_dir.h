// The life of checkpoint directories under RUN/checkpoints: a save writes into the
// hidden ".step-N.partial", which is published as "step-N" by one atomic rename (or an
// atomic exchange with an existing step-N), and old checkpoints and leftovers of
// interrupted saves are pruned by renaming them to hidden ".<name>.deleting" names
// before removing them. A directory is a checkpoint only when it is named step-N
// (N decimal) and holds a manifest. FindLatestCheckpoint and SetAsideCheckpointsAfter
// (checkpoint.h) are defined in checkpoint_dir.cc.
//
// Internal to the checkpoint code (checkpoint*.cc); the public API is checkpoint.h.
// Thread-safety: none of these is collective; rank 0 alone changes directories.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "runtime/core/background_deleter.h"
#include "runtime/core/status.h"

namespace mpimoe::train {

// "step-N".
std::string StepDirName(int64_t step);
// N for a directory named "step-N" (N decimal, no sign), else -1.
int64_t StepOfDirName(const std::string& name);

// Where one save of step N happens.
struct CheckpointDirs {
  std::filesystem::path checkpoints;  // RUN/checkpoints
  std::filesystem::path partial;      // RUN/checkpoints/.step-N.partial, written into
  std::filesystem::path final_dir;    // RUN/checkpoints/step-N, once published
};
CheckpointDirs DirsForStep(const std::string& run_dir, int64_t step);

// Rank 0: creates RUN/checkpoints and an empty partial directory (removing what an
// earlier attempt at the same step left there). IoError naming the partial directory.
Status CreatePartialDir(const CheckpointDirs& dirs);

// Any rank: IoError unless `rank` sees the partial directory rank 0 created (RUN must
// be on a filesystem shared by all ranks).
Status CheckPartialDirVisible(const CheckpointDirs& dirs, int rank);

// Rank 0, once the partial directory holds every shard and the manifest: makes its
// entries durable, renames it to step-N (exchanging it atomically with an existing
// step-N, which is left under the partial name for PruneCheckpoints) and makes the
// rename durable. IoError naming the directories.
Status PublishCheckpoint(const CheckpointDirs& dirs);

// Rank 0, after PublishCheckpoint: removes leftovers of interrupted saves and
// deletions, the replaced step-N and every checkpoint beyond the newest `keep` (0 =
// keep all; final_dir always stays). Each is renamed to ".<name>.deleting" at once and
// removed on `deleter`'s thread, or before return when `deleter` is null. Failures
// leave garbage a later save removes again, so nothing is reported.
void PruneCheckpoints(const CheckpointDirs& dirs, int keep, BackgroundDeleter* deleter);

}  // namespace mpimoe::train
