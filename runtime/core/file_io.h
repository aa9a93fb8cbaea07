// File descriptors without leaks or lost errors: ScopedFd owns one POSIX descriptor
// (closed exactly once, by Close() or the destructor) and remembers the path it was
// opened with, so every error below names the file. Open* return StatusOr<ScopedFd>;
// WriteAll and PreadAll loop over partial transfers and EINTR; Fsync flushes to disk;
// ReadFileToString reads a whole file. Error messages read "cannot <verb> <path>:
// <strerror>".
//
// Used by atomic_file.cc, the checkpoint code (runtime/train/checkpoint_*.cc) and every
// reader of a whole small file (configs, manifests, JSON, the launcher's results).
// Linux only (sync_file_range, O_CLOEXEC on every descriptor).
//
// Thread-safety: a ScopedFd is a value owned by one thread at a time; the free functions
// keep no state, and PreadAll on one descriptor may run from several threads (pread
// does not move the file offset).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/core/status.h"

namespace mpimoe {

class ScopedFd {
 public:
  ScopedFd() = default;  // holds nothing
  // Adopts `fd` (>= 0), which this object then closes; `path` names it in errors.
  ScopedFd(int fd, std::string path);
  ~ScopedFd();  // closes the descriptor if still open; a close error is lost

  ScopedFd(ScopedFd&& other) noexcept;
  ScopedFd& operator=(ScopedFd&& other) noexcept;  // closes what this one held
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;

  bool is_open() const { return fd_ >= 0; }
  int get() const { return fd_; }  // -1 when nothing is held
  const std::string& path() const { return path_; }

  // Closes the descriptor now and reports a failed close (on some filesystems the
  // first sign of a lost write): IoError "cannot close <path>: ...". The descriptor is
  // released either way (Linux never keeps it after close). OK when nothing is held.
  Status Close();

 private:
  int fd_ = -1;
  std::string path_;
};

// O_RDONLY. NotFound when the file does not exist, IoError otherwise.
StatusOr<ScopedFd> OpenForReading(const std::string& path);

// O_WRONLY | O_CREAT | O_TRUNC, mode 0644: a new or emptied file. IoError "cannot
// create <path>: ...".
StatusOr<ScopedFd> CreateForWriting(const std::string& path);

// A directory, opened to fsync its entries. IoError "cannot open directory <dir>: ...".
StatusOr<ScopedFd> OpenDirectory(const std::string& dir);

// Writes all `size` bytes at the file offset, however many write() calls it takes.
// IoError "cannot write <path>: ...".
Status WriteAll(const ScopedFd& fd, const void* data, size_t size);

// Reads exactly `size` bytes starting at byte `offset` into `data`. Errors name `what`
// (the file's path when empty) and the offset: IoError for a failed read;
// InvalidArgument "... the file ends N bytes early (truncated?)" when the file is too
// short, since a caller that knows the range expects those bytes to be there.
Status PreadAll(const ScopedFd& fd, int64_t offset, void* data, size_t size,
                std::string_view what = {});

// The whole contents of the file at `path`, read to its end (not to the size stat
// reports, so pipes and /proc files work too). NotFound "cannot open <path>: No such
// file or directory" when it does not exist; IoError "cannot open <path>: ..." or
// "cannot read <path>: ..." (e.g. "Is a directory") otherwise.
StatusOr<std::string> ReadFileToString(const std::string& path);

// fsync: the file's data (and metadata) reach the disk. IoError "cannot flush <path>".
Status Fsync(const ScopedFd& fd);

// Asks the kernel to start writing `size` bytes from `offset` back to disk without
// waiting (sync_file_range WRITE), so that a later Fsync waits for less. Only a hint:
// failures are ignored, Fsync reports the real ones.
void StartWriteback(const ScopedFd& fd, int64_t offset, int64_t size);

}  // namespace mpimoe
