// MeasureInterNodeBandwidth: how fast bytes move between two nodes, measured.
//
// The first rank of node 0 and the first rank of node 1 (Topology) play ping-pong with
// `bytes` bytes, `rounds` times after one untimed warm-up round; the bandwidth of the
// median round (2 * bytes / seconds) is broadcast from rank 0, so every rank returns
// the same number. Used at start-up by the balancer's cost model for links across
// nodes (balancer.cost_inter_node_gbps = 0). Takes about 2 * (rounds + 1) * bytes at
// the link's speed: 0.1 s for the defaults at 1 Gbit/s.
//
// Thread-safety: collective over `comm`, on its owning thread.
#pragma once

#include <cstdint>

#include "parallel/communicator.h"
#include "runtime/core/status.h"

namespace mpimoe::parallel {

// Bytes per second; InvalidArgument if the communicator spans fewer than two nodes.
StatusOr<double> MeasureInterNodeBandwidth(Communicator& comm, int64_t bytes = 1 << 20,
                                           int rounds = 3);

}  // namespace mpimoe::parallel
