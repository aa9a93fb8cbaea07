// ScopedFd and the read/write helpers (file_io.h), and WriteFileAtomically built on them
// (atomic_file.h): round trips, whole-file reads, errors that name the path and offset,
// descriptors closed exactly once, and failures that leave no temporary file or open
// descriptor behind.
#include "runtime/core/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/core/atomic_file.h"

namespace mpimoe {
namespace {

namespace fs = std::filesystem;

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int CountOpenDescriptors() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// Names under dir that start with `prefix`.
std::vector<std::string> NamesStartingWith(const fs::path& dir,
                                           const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  return names;
}

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mpimoe-file-io-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Bytes 0, 1, ..., 250, 0, 1, ...: a misplaced byte shows up.
  static std::vector<char> Pattern(size_t size) {
    std::vector<char> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i % 251);
    return bytes;
  }

  fs::path dir_;
};

TEST_F(FileIoTest, WriteAllThenPreadAllRoundTrips) {
  const std::string path = (dir_ / "data.bin").string();
  const std::vector<char> bytes = Pattern((3 << 20) + 17);  // several MB, odd size
  {
    auto fd = CreateForWriting(path);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    EXPECT_EQ(fd->path(), path);
    ASSERT_TRUE(WriteAll(*fd, bytes.data(), bytes.size()).ok());
    ASSERT_TRUE(Fsync(*fd).ok());
    StartWriteback(*fd, 0, static_cast<int64_t>(bytes.size()));  // a hint, no result
    ASSERT_TRUE(fd->Close().ok());
    EXPECT_FALSE(fd->is_open());
  }
  EXPECT_EQ(fs::file_size(path), bytes.size());

  auto fd = OpenForReading(path);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  std::vector<char> whole(bytes.size());
  ASSERT_TRUE(PreadAll(*fd, 0, whole.data(), whole.size()).ok());
  EXPECT_EQ(whole, bytes);
  // A range in the middle, read after the whole file (pread ignores the file offset).
  const size_t offset = 1000003, size = 4099;
  std::vector<char> part(size);
  ASSERT_TRUE(PreadAll(*fd, offset, part.data(), size).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), bytes.begin() + offset));
  ASSERT_TRUE(PreadAll(*fd, 5, part.data(), 0).ok());  // nothing to read
}

TEST_F(FileIoTest, WriteAllThroughAPipeDeliversEveryByteInOrder) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  ScopedFd reader(ends[0], "pipe (read end)");
  ScopedFd writer(ends[1], "pipe (write end)");
  // More than a pipe holds (64 KiB), read in small pieces, so the writer blocks and
  // resumes many times.
  const std::vector<char> bytes = Pattern(1 << 20);
  std::vector<char> received;
  std::thread drain([&] {
    char piece[1000];
    ssize_t n;
    while ((n = ::read(reader.get(), piece, sizeof(piece))) > 0) {
      received.insert(received.end(), piece, piece + n);
    }
  });
  const Status status = WriteAll(writer, bytes.data(), bytes.size());
  const Status closed = writer.Close();  // the reader sees end-of-file
  drain.join();
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_TRUE(closed.ok()) << closed.ToString();
  EXPECT_EQ(received, bytes);
}

TEST_F(FileIoTest, ShortFileIsAnErrorNamingThePathAndOffset) {
  const std::string path = (dir_ / "short.bin").string();
  std::ofstream(path, std::ios::binary) << std::string(100, 'x');
  auto fd = OpenForReading(path);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  std::vector<char> buffer(64);
  // Bytes 60..123 of a 100-byte file: 24 are missing.
  Status status = PreadAll(*fd, 60, buffer.data(), buffer.size());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), path +
                                  ": cannot read 64 bytes at offset 60: the file ends 24 "
                                  "bytes early (truncated?)");
  // What was there was read.
  EXPECT_EQ(std::string(buffer.data(), 40), std::string(40, 'x'));
  // A caller's description replaces the path.
  status = PreadAll(*fd, 200, buffer.data(), 8, "shard-0.bin: tensor w");
  EXPECT_EQ(status.message(),
            "shard-0.bin: tensor w: cannot read 8 bytes at offset 200: the file ends 8 "
            "bytes early (truncated?)");
}

TEST_F(FileIoTest, ReadErrorNamesThePath) {
  // pread on a directory descriptor fails (EISDIR): an IoError, not a short file.
  auto fd = OpenDirectory(dir_.string());
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  char byte;
  const Status status = PreadAll(*fd, 0, &byte, 1);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_EQ(
      status.message().rfind(dir_.string() + ": cannot read 1 bytes at offset 0: ", 0),
      0u)
      << status.message();
}

TEST_F(FileIoTest, FailingOpenNamesThePathAndTheReason) {
  const std::string missing = (dir_ / "missing.bin").string();
  auto read = OpenForReading(missing);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(read.status().message(),
            "cannot open " + missing + ": No such file or directory");

  const std::string no_dir = (dir_ / "no-such-dir" / "new.bin").string();
  auto create = CreateForWriting(no_dir);
  ASSERT_FALSE(create.ok());
  EXPECT_EQ(create.status().code(), StatusCode::kIoError);
  EXPECT_EQ(create.status().message(),
            "cannot create " + no_dir + ": No such file or directory");

  auto dir = OpenDirectory(missing);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().message(),
            "cannot open directory " + missing + ": No such file or directory");
}

TEST_F(FileIoTest, ReadFileToStringReadsEveryByte) {
  // Several read() calls' worth, an odd size, NUL bytes included.
  const std::string path = (dir_ / "whole.bin").string();
  const std::vector<char> bytes = Pattern((1 << 20) + 7);
  {
    auto fd = CreateForWriting(path);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    ASSERT_TRUE(WriteAll(*fd, bytes.data(), bytes.size()).ok());
    ASSERT_TRUE(fd->Close().ok());
  }
  StatusOr<std::string> text = ReadFileToString(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, std::string(bytes.begin(), bytes.end()));

  const std::string empty = (dir_ / "empty.txt").string();
  std::ofstream(empty).close();
  text = ReadFileToString(empty);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "");
}

TEST_F(FileIoTest, ReadFileToStringReadsToTheEndNotToTheStatSize) {
  // A FIFO has no size: the reader stops at the writer's end-of-file.
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::vector<char> bytes = Pattern(200000);  // more than a pipe holds
  std::thread writer([&] {
    std::ofstream out(fifo, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
  const StatusOr<std::string> text = ReadFileToString(fifo);
  writer.join();
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, std::string(bytes.begin(), bytes.end()));
}

TEST_F(FileIoTest, ReadFileToStringErrorsNameThePathAndTheReason) {
  const std::string missing = (dir_ / "missing.txt").string();
  StatusOr<std::string> text = ReadFileToString(missing);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(),
            "cannot open " + missing + ": No such file or directory");

  // A directory opens but cannot be read.
  text = ReadFileToString(dir_.string());
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kIoError);
  EXPECT_EQ(text.status().message(), "cannot read " + dir_.string() + ": Is a directory");

  // A path through a regular file: ENOTDIR, an I/O error rather than "not found".
  const std::string file = (dir_ / "plain.txt").string();
  std::ofstream(file) << "x";
  text = ReadFileToString(file + "/inside.txt");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kIoError);
  EXPECT_EQ(text.status().message(),
            "cannot open " + file + "/inside.txt: Not a directory");
}

TEST_F(FileIoTest, WriteErrorNamesThePath) {
  const std::string path = (dir_ / "read-only.bin").string();
  std::ofstream(path) << "x";
  auto fd = OpenForReading(path);  // opened for reading: write fails with EBADF
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  const char byte = 'y';
  const Status status = WriteAll(*fd, &byte, 1);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_EQ(status.message(), "cannot write " + path + ": Bad file descriptor");
}

TEST_F(FileIoTest, MoveTransfersOwnershipAndClosesExactlyOnce) {
  const std::string path = (dir_ / "a.bin").string();
  auto opened = CreateForWriting(path);
  ASSERT_TRUE(opened.ok());
  const int raw = opened->get();
  ASSERT_TRUE(IsOpen(raw));
  int reused = -1;
  {
    ScopedFd moved_from = std::move(*opened);
    {
      ScopedFd owner(std::move(moved_from));
      EXPECT_FALSE(moved_from.is_open());  // NOLINT(bugprone-use-after-move): the point
      EXPECT_EQ(moved_from.get(), -1);
      EXPECT_EQ(owner.get(), raw);
      EXPECT_EQ(owner.path(), path);
      EXPECT_TRUE(IsOpen(raw));
    }
    EXPECT_FALSE(IsOpen(raw));  // closed by `owner`
    // The lowest free number is handed out again: if the moved-from objects closed
    // `raw` as well, they would close this unrelated descriptor.
    reused = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(reused, raw);
  }
  EXPECT_FALSE(opened->is_open());
  EXPECT_TRUE(IsOpen(reused));
  ::close(reused);
}

TEST_F(FileIoTest, MoveAssignmentClosesTheDescriptorItReplaces) {
  auto first = CreateForWriting((dir_ / "first.bin").string());
  auto second = CreateForWriting((dir_ / "second.bin").string());
  ASSERT_TRUE(first.ok() && second.ok());
  const int first_raw = first->get(), second_raw = second->get();
  ScopedFd target = std::move(*first);
  target = std::move(*second);
  EXPECT_FALSE(IsOpen(first_raw));
  EXPECT_TRUE(IsOpen(second_raw));
  EXPECT_EQ(target.get(), second_raw);
  EXPECT_EQ(target.path(), (dir_ / "second.bin").string());
  ScopedFd& alias = target;
  target = std::move(alias);  // self-move keeps the descriptor
  EXPECT_EQ(target.get(), second_raw);
  EXPECT_TRUE(IsOpen(second_raw));
  ASSERT_TRUE(target.Close().ok());
  EXPECT_FALSE(IsOpen(second_raw));
  EXPECT_TRUE(target.Close().ok());  // nothing held: nothing to report
}

TEST_F(FileIoTest, CloseReportsAnError) {
  const std::string path = (dir_ / "b.bin").string();
  auto fd = CreateForWriting(path);
  ASSERT_TRUE(fd.ok());
  // Closed behind the object's back, close() fails (EBADF): Close reports it, names the
  // file, and lets go of the number.
  ASSERT_EQ(::close(fd->get()), 0);
  const Status status = fd->Close();
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_EQ(status.message(), "cannot close " + path + ": Bad file descriptor");
  EXPECT_FALSE(fd->is_open());
}

TEST_F(FileIoTest, WriteFileAtomicallyReplacesTheFile) {
  const fs::path path = dir_ / "result.json";
  std::ofstream(path) << "old";
  ASSERT_TRUE(WriteFileAtomically(path.string(), "new contents\n").ok());
  EXPECT_EQ(ReadFileToString(path.string()).value(), "new contents\n");
  EXPECT_EQ(NamesStartingWith(dir_, "result.json.tmp."), std::vector<std::string>());
}

TEST_F(FileIoTest, FailedAtomicWriteLeavesNoTempFileAndNoDescriptor) {
  // The target is a non-empty directory: the temp file is written, flushed and closed,
  // then the rename fails.
  const fs::path target = dir_ / "occupied";
  fs::create_directories(target / "inside");
  const int before = CountOpenDescriptors();
  const Status status = WriteFileAtomically(target.string(), "contents");
  EXPECT_EQ(CountOpenDescriptors(), before);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find("cannot rename " + target.string() + ".tmp."),
            std::string::npos)
      << status.message();
  EXPECT_EQ(NamesStartingWith(dir_, "occupied.tmp."), std::vector<std::string>());
  EXPECT_TRUE(fs::is_directory(target / "inside"));

  // No directory to create the temp file in.
  const std::string nowhere = (dir_ / "missing" / "x.json").string();
  const Status create = WriteFileAtomically(nowhere, "contents");
  EXPECT_EQ(CountOpenDescriptors(), before);
  EXPECT_EQ(create.message().rfind("cannot create " + nowhere + ".tmp.", 0), 0u)
      << create.message();
}

// A file size limit makes the kernel accept part of a write and refuse the rest
// (EFBIG): WriteAll goes on after the partial write, then reports the error, and
// WriteFileAtomically removes its temp file and closes its descriptor. The limit and
// the ignored SIGXFSZ are confined to a child process (gtest's death-test fork).
TEST_F(FileIoTest, WriteFailingAfterAPartialWriteLeavesNothingBehind) {
  const fs::path path = dir_ / "big.bin";
  const std::string contents(10000, 'z');
  auto child = [&] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit = {4096, 4096};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) std::_Exit(10);
    const int before = CountOpenDescriptors();
    const Status status = WriteFileAtomically(path.string(), contents);
    if (status.ok()) std::_Exit(11);
    if (status.message().rfind("cannot write " + path.string() + ".tmp.", 0) != 0 ||
        status.message().find("File too large") == std::string::npos) {
      std::_Exit(12);
    }
    if (CountOpenDescriptors() != before) std::_Exit(13);
    if (!NamesStartingWith(dir_, "big.bin").empty()) std::_Exit(14);
    std::_Exit(0);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace mpimoe
