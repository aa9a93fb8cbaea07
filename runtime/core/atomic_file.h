// Writing result files so that nobody ever sees half of one: WriteFileAtomically writes
// to "<path>.tmp.<pid>", flushes it to disk (fsync) and renames it over `path`. A crash
// leaves either the old file or the new one, never a partial file. (Durability of the
// rename itself needs SyncDirectory on the parent.) A failed call removes the temporary
// file and returns IoError naming it; no descriptor outlives a call (file_io.h).
//
// Thread-safety: distinct paths may be written concurrently.
#pragma once

#include <string>
#include <string_view>

#include "runtime/core/status.h"

namespace mpimoe {

Status WriteFileAtomically(const std::string& path, std::string_view contents);

// Flushes a directory's entries (new names, renames) to disk: the step that makes a
// rename durable. IoError naming the directory on failure.
Status SyncDirectory(const std::string& dir);

}  // namespace mpimoe
