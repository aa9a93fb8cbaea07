#include "runtime/core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mpimoe {
namespace {

// strerror of an errno value saved right after the failing call (building a message
// may allocate, and nothing promises that keeps errno).
std::string Why(int error) { return std::strerror(error); }

StatusOr<ScopedFd> Open(const std::string& path, int flags, const char* verb) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    std::string message = std::string("cannot ") + verb + " " + path + ": " + Why(error);
    if (error == ENOENT && (flags & O_CREAT) == 0) {
      return NotFoundError(std::move(message));
    }
    return IoError(std::move(message));
  }
  return ScopedFd(fd, path);
}

}  // namespace

ScopedFd::ScopedFd(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  MPIMOE_CHECK_MSG(fd >= 0, "ScopedFd adopts only an open descriptor");
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

ScopedFd::ScopedFd(ScopedFd&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

Status ScopedFd::Close() {
  if (fd_ < 0) return Status::Ok();
  if (::close(std::exchange(fd_, -1)) != 0) {
    const int error = errno;
    return IoError("cannot close " + path_ + ": " + Why(error));
  }
  return Status::Ok();
}

StatusOr<ScopedFd> OpenForReading(const std::string& path) {
  return Open(path, O_RDONLY, "open");
}

StatusOr<ScopedFd> CreateForWriting(const std::string& path) {
  return Open(path, O_WRONLY | O_CREAT | O_TRUNC, "create");
}

StatusOr<ScopedFd> OpenDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return IoError("cannot open directory " + dir + ": " + Why(error));
  }
  return ScopedFd(fd, dir);
}

Status WriteAll(const ScopedFd& fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd.get(), p, size);
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      return IoError("cannot write " + fd.path() + ": " + Why(error));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status PreadAll(const ScopedFd& fd, int64_t offset, void* data, size_t size,
                std::string_view what) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  auto context = [&] {
    return std::string(what.empty() ? std::string_view(fd.path()) : what) +
           ": cannot read " + std::to_string(size) + " bytes at offset " +
           std::to_string(offset) + ": ";
  };
  while (done < size) {
    const ssize_t n = ::pread(fd.get(), p + done, size - done,
                              static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      return IoError(context() + Why(error));
    }
    if (n == 0) {
      return InvalidArgumentError(context() + "the file ends " +
                                  std::to_string(size - done) +
                                  " bytes early (truncated?)");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

StatusOr<std::string> ReadFileToString(const std::string& path) {
  MPIMOE_ASSIGN_OR_RETURN(const ScopedFd fd, OpenForReading(path));
  std::string text;
  char chunk[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      return IoError("cannot read " + path + ": " + Why(error));
    }
    if (n == 0) return text;
    text.append(chunk, static_cast<size_t>(n));
  }
}

Status Fsync(const ScopedFd& fd) {
  if (::fsync(fd.get()) != 0) {
    const int error = errno;
    return IoError("cannot flush " + fd.path() + ": " + Why(error));
  }
  return Status::Ok();
}

void StartWriteback(const ScopedFd& fd, int64_t offset, int64_t size) {
  ::sync_file_range(fd.get(), offset, size, SYNC_FILE_RANGE_WRITE);
}

}  // namespace mpimoe
