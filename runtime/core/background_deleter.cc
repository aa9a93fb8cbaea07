#include "runtime/core/background_deleter.h"

#include <system_error>
#include <utility>

namespace mpimoe {

void BackgroundDeleter::Delete(std::vector<std::filesystem::path> paths) {
  Wait();
  if (paths.empty()) return;
  worker_ = std::thread([paths = std::move(paths)] {
    std::error_code ignored;
    for (const std::filesystem::path& path : paths)
      std::filesystem::remove_all(path, ignored);
  });
}

void BackgroundDeleter::Wait() {
  if (worker_.joinable()) worker_.join();
}

}  // namespace mpimoe
