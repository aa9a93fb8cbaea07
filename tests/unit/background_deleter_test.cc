// BackgroundDeleter removes whole trees, batch after batch, and its destructor waits.
#include "runtime/core/background_deleter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mpimoe {
namespace {

namespace fs = std::filesystem;

fs::path MakeTree(const fs::path& root, const std::string& name) {
  const fs::path dir = root / name;
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "a.bin") << std::string(1 << 16, 'x');
  std::ofstream(dir / "sub" / "b.bin") << "y";
  return dir;
}

TEST(BackgroundDeleterTest, RemovesTreesInBatches) {
  const fs::path root =
      fs::temp_directory_path() / ("mpimoe-deleter-" + std::to_string(::getpid()));
  fs::create_directories(root);
  const fs::path keep = MakeTree(root, "keep");
  std::vector<fs::path> first = {MakeTree(root, "one"), MakeTree(root, "two")};
  const fs::path third = MakeTree(root, "three");
  {
    BackgroundDeleter deleter;
    deleter.Delete(first);
    deleter.Delete({third, root / "missing"});  // waits for the first batch
    for (const fs::path& p : first) EXPECT_FALSE(fs::exists(p)) << p;
    deleter.Wait();
    EXPECT_FALSE(fs::exists(third));
    deleter.Delete({});
    deleter.Delete({MakeTree(root, "four")});
  }  // the destructor waits for "four"
  EXPECT_FALSE(fs::exists(root / "four"));
  EXPECT_TRUE(fs::exists(keep / "sub" / "b.bin"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace mpimoe
