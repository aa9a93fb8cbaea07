// MergeTrace: one trace.json from the trace recorders of every rank of a job.
//
// Every rank's events travel to rank 0 through the communicator (sizes by Allgather,
// bytes by Gatherv), so no shared filesystem is needed; rank 0 gets the merged
// document (runtime/core/trace.h TraceDocument), the other ranks an empty string.
//
// Thread-safety: collective over `comm`; one thread per rank.
#pragma once

#include <string>

#include "parallel/communicator.h"
#include "runtime/core/status.h"
#include "runtime/core/trace.h"

namespace mpimoe::train {

StatusOr<std::string> MergeTrace(parallel::Communicator& comm,
                                 const TraceRecorder& trace);

}  // namespace mpimoe::train
