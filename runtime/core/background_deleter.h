// BackgroundDeleter: removes directory trees on a background thread, so that whoever
// asks (a checkpoint save pruning old checkpoints) does not wait for the file system to
// free their blocks. One batch runs at a time: Delete() first waits for the previous
// batch. Errors are ignored (what is left behind is garbage the caller tolerates, e.g.
// hidden directories a later save removes again).
//
// Ownership: owns its thread; the destructor waits for the pending batch. Thread-safety:
// call Delete/Wait from one thread; the worker touches only the paths it was given.
#pragma once

#include <filesystem>
#include <thread>
#include <vector>

namespace mpimoe {

class BackgroundDeleter {
 public:
  BackgroundDeleter() = default;
  ~BackgroundDeleter() { Wait(); }
  BackgroundDeleter(const BackgroundDeleter&) = delete;
  BackgroundDeleter& operator=(const BackgroundDeleter&) = delete;

  // Waits for the previous batch, then starts removing `paths` (recursively).
  void Delete(std::vector<std::filesystem::path> paths);
  // Returns once every requested removal has finished.
  void Wait();

 private:
  std::thread worker_;
};

}  // namespace mpimoe
