// checkpoint_dir.cc: naming, publishing and pruning checkpoint directories (see
// checkpoint_dir.h), and the two public functions that work on directories alone.
#include "runtime/train/checkpoint_dir.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "runtime/core/atomic_file.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/checkpoint_manifest.h"

namespace mpimoe::train {
namespace {

namespace fs = std::filesystem;

// Hidden leftovers of earlier saves (interrupted ones, deletions cut short).
std::vector<fs::path> Leftovers(const fs::path& checkpoints) {
  std::vector<fs::path> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 8 && name[0] == '.' &&
        (name.ends_with(".partial") || name.ends_with(".deleting"))) {
      found.push_back(entry.path());
    }
  }
  return found;
}

// All complete checkpoints, newest first.
std::vector<std::pair<int64_t, fs::path>> CompleteCheckpoints(
    const fs::path& checkpoints) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints, error)) {
    const int64_t step = StepOfDirName(entry.path().filename().string());
    if (step < 0 || !fs::is_regular_file(entry.path() / kCheckpointManifestName, error)) {
      continue;
    }
    found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  return found;
}

// Renames `path` to a hidden ".<name>.deleting" (instant, and no longer a checkpoint)
// and adds that name to `garbage`; a name already hidden that way is added as it is.
void Discard(const fs::path& checkpoints, const fs::path& path,
             std::vector<fs::path>* garbage) {
  std::string name = path.filename().string();
  if (name.ends_with(".deleting")) {
    garbage->push_back(path);
    return;
  }
  if (name[0] == '.') name = name.substr(1, name.rfind('.') - 1);  // .step-N.partial
  const fs::path hidden = checkpoints / ("." + name + ".deleting");
  std::error_code error;
  fs::remove_all(hidden, error);  // only after a crash mid-deletion
  fs::rename(path, hidden, error);
  if (!error) garbage->push_back(hidden);
}

}  // namespace

std::string StepDirName(int64_t step) { return "step-" + std::to_string(step); }

int64_t StepOfDirName(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5 || name.size() > 5 + 18) return -1;
  int64_t n = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

CheckpointDirs DirsForStep(const std::string& run_dir, int64_t step) {
  CheckpointDirs dirs;
  dirs.checkpoints = fs::path(run_dir) / "checkpoints";
  dirs.final_dir = dirs.checkpoints / StepDirName(step);
  // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) about "." + temporary.
  std::string partial = ".";
  partial += StepDirName(step);
  partial += ".partial";
  dirs.partial = dirs.checkpoints / partial;
  return dirs;
}

Status CreatePartialDir(const CheckpointDirs& dirs) {
  std::error_code error;
  fs::create_directories(dirs.checkpoints, error);
  if (!error) fs::remove_all(dirs.partial, error);
  if (!error) fs::create_directory(dirs.partial, error);
  if (error) {
    return IoError("cannot create " + dirs.partial.string() + ": " + error.message());
  }
  return Status::Ok();
}

Status CheckPartialDirVisible(const CheckpointDirs& dirs, int rank) {
  std::error_code error;
  if (!fs::is_directory(dirs.partial, error)) {
    return IoError("rank " + std::to_string(rank) + " does not see " +
                   dirs.partial.string() +
                   " created by rank 0: checkpoints need a filesystem shared by all "
                   "ranks");
  }
  return Status::Ok();
}

Status PublishCheckpoint(const CheckpointDirs& dirs) {
  MPIMOE_RETURN_IF_ERROR(SyncDirectory(dirs.partial.string()));
  std::error_code error;
  if (fs::exists(dirs.final_dir, error)) {
    // A step saved again (e.g. by a run resumed from an earlier step): swap the two
    // directories in one atomic step, so that step-N is always a complete checkpoint;
    // the old one, now under the partial name, is pruned later.
    if (::renameat2(AT_FDCWD, dirs.partial.c_str(), AT_FDCWD, dirs.final_dir.c_str(),
                    RENAME_EXCHANGE) != 0) {
      const int why = errno;
      return IoError("cannot replace " + dirs.final_dir.string() + " with " +
                     dirs.partial.string() + ": " + std::strerror(why));
    }
  } else {
    fs::rename(dirs.partial, dirs.final_dir, error);
    if (error) {
      return IoError("cannot rename " + dirs.partial.string() + " to " +
                     dirs.final_dir.string() + ": " + error.message());
    }
  }
  return SyncDirectory(dirs.checkpoints.string());
}

void PruneCheckpoints(const CheckpointDirs& dirs, int keep, BackgroundDeleter* deleter) {
  // The previous batch is finished first, so no name below is being deleted.
  if (deleter != nullptr) deleter->Wait();
  std::vector<fs::path> garbage;
  // Leftovers include the replaced step-N, now under the partial name.
  for (const fs::path& path : Leftovers(dirs.checkpoints)) {
    Discard(dirs.checkpoints, path, &garbage);
  }
  if (keep > 0) {
    int kept = 1;  // the new one
    for (const auto& [step, path] : CompleteCheckpoints(dirs.checkpoints)) {
      if (path == dirs.final_dir) continue;
      if (kept < keep) {
        ++kept;
      } else {
        Discard(dirs.checkpoints, path, &garbage);
      }
    }
  }
  if (deleter != nullptr) {
    deleter->Delete(std::move(garbage));
  } else {
    std::error_code error;
    for (const fs::path& path : garbage) fs::remove_all(path, error);
  }
}

StatusOr<std::string> FindLatestCheckpoint(const std::string& run_dir) {
  const fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  std::error_code error;
  if (!fs::is_directory(checkpoints, error)) {
    return NotFoundError("no checkpoints in " + run_dir + " (" + checkpoints.string() +
                         " does not exist)");
  }
  const auto found = CompleteCheckpoints(checkpoints);
  if (found.empty()) {
    return NotFoundError("no complete checkpoint in " + checkpoints.string());
  }
  return found.front().second.string();
}

StatusOr<std::vector<std::string>> SetAsideCheckpointsAfter(const std::string& run_dir,
                                                            int64_t step) {
  const fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  std::error_code error;
  if (!fs::is_directory(checkpoints, error)) return std::vector<std::string>();
  std::vector<fs::path> later;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints, error)) {
    if (StepOfDirName(entry.path().filename().string()) > step) {
      later.push_back(entry.path());
    }
  }
  std::vector<std::string> names;
  for (const fs::path& path : later) {
    fs::path target = path;
    target += ".abandoned";
    fs::remove_all(target, error);
    fs::rename(path, target, error);
    if (error) {
      return IoError("cannot set aside " + path.string() + ": " + error.message());
    }
    names.push_back(path.filename().string());
  }
  return names;
}

}  // namespace mpimoe::train
