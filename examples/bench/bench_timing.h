// How mpimoe-bench times a step of a multi-rank job: the ranks start it together (a
// barrier before the stopwatch) and the job's time is the slowest rank's.
//
// Thread-safety: SlowestRank is a collective on `world`: every rank calls it, from the
// thread that owns the communicator.
#pragma once

#include <span>

#include "parallel/collectives.h"
#include "parallel/communicator.h"
#include "runtime/core/status.h"

namespace mpimoe::bench {

// The largest of every rank's `seconds` (the same on every rank).
inline StatusOr<double> SlowestRank(parallel::Communicator& world, double seconds) {
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<double>(&seconds, 1),
                                                    {parallel::ReduceOp::kMax}));
  return seconds;
}

}  // namespace mpimoe::bench
