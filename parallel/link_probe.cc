// link_probe.cc: see link_probe.h.
#include "parallel/link_probe.h"

#include <algorithm>
#include <vector>

#include "runtime/core/timer.h"

namespace mpimoe::parallel {
namespace {

constexpr int kProbeTag = 29000;  // below the communicators' internal tags

int FirstRankOf(const Topology& topology, int32_t node) {
  for (size_t r = 0; r < topology.node_of_rank.size(); ++r) {
    if (topology.node_of_rank[r] == node) return static_cast<int>(r);
  }
  return -1;
}

}  // namespace

StatusOr<double> MeasureInterNodeBandwidth(Communicator& comm, int64_t bytes,
                                           int rounds) {
  const Topology& topology = comm.topology();
  if (topology.num_nodes < 2) {
    return InvalidArgumentError("MeasureInterNodeBandwidth: the " +
                                std::to_string(comm.size()) + " ranks are on one node");
  }
  if (bytes < 1 || rounds < 1) {
    return InvalidArgumentError(
        "MeasureInterNodeBandwidth: bytes and rounds must be >= 1");
  }
  const int a = FirstRankOf(topology, 0), b = FirstRankOf(topology, 1);
  double bytes_per_second = 0.0;
  if (comm.rank() == a || comm.rank() == b) {
    const int peer = comm.rank() == a ? b : a;
    std::vector<uint8_t> buffer(static_cast<size_t>(bytes), 1);
    std::vector<double> seconds;
    for (int round = 0; round <= rounds; ++round) {
      Stopwatch watch;
      if (comm.rank() == a) {
        MPIMOE_RETURN_IF_ERROR(
            comm.Send(buffer.data(), bytes, CollDType::kByte, peer, kProbeTag));
        MPIMOE_RETURN_IF_ERROR(
            comm.Recv(buffer.data(), bytes, CollDType::kByte, peer, kProbeTag));
      } else {
        MPIMOE_RETURN_IF_ERROR(
            comm.Recv(buffer.data(), bytes, CollDType::kByte, peer, kProbeTag));
        MPIMOE_RETURN_IF_ERROR(
            comm.Send(buffer.data(), bytes, CollDType::kByte, peer, kProbeTag));
      }
      if (round > 0) seconds.push_back(watch.ElapsedSeconds());
    }
    bytes_per_second = 2.0 * static_cast<double>(bytes) / Median(seconds);
  }
  // Rank 0 is node 0's first rank: it holds the result.
  MPIMOE_RETURN_IF_ERROR(comm.Bcast(&bytes_per_second, 1, CollDType::kFloat64, 0));
  return bytes_per_second;
}

}  // namespace mpimoe::parallel
