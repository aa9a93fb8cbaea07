#include "runtime/core/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime/core/file_io.h"

namespace mpimoe {
namespace {

// Writes, flushes and closes `tmp`; the descriptor is closed on every path.
Status WriteAndFlush(const std::string& tmp, std::string_view contents) {
  MPIMOE_ASSIGN_OR_RETURN(ScopedFd fd, CreateForWriting(tmp));
  MPIMOE_RETURN_IF_ERROR(WriteAll(fd, contents.data(), contents.size()));
  MPIMOE_RETURN_IF_ERROR(Fsync(fd));
  return fd.Close();
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  Status status = WriteAndFlush(tmp, contents);
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    status =
        IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(error));
  }
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

Status SyncDirectory(const std::string& dir) {
  MPIMOE_ASSIGN_OR_RETURN(ScopedFd fd, OpenDirectory(dir));
  MPIMOE_RETURN_IF_ERROR(Fsync(fd));
  return fd.Close();
}

}  // namespace mpimoe
