// trace_merge.cc: see trace_merge.h.
#include "runtime/train/trace_merge.h"

#include <span>
#include <string_view>
#include <vector>

#include "parallel/collectives.h"

namespace mpimoe::train {

StatusOr<std::string> MergeTrace(parallel::Communicator& comm,
                                 const TraceRecorder& trace) {
  std::string mine;
  trace.AppendEventsJson(&mine);
  const int ranks = comm.size();
  std::vector<int64_t> sizes(static_cast<size_t>(ranks));
  const int64_t my_size = static_cast<int64_t>(mine.size());
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(comm, std::span<const int64_t>(&my_size, 1),
                                             std::span<int64_t>(sizes))
                             .WithContext("trace sizes"));
  const bool root = comm.rank() == 0;
  std::vector<int64_t> displs(static_cast<size_t>(ranks), 0);
  int64_t total = 0;
  for (int r = 0; r < ranks; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += sizes[static_cast<size_t>(r)];
  }
  std::string all(root ? static_cast<size_t>(total) : 0, '\0');
  parallel::GathervOptions gather;
  gather.root = 0;
  gather.recv_counts = sizes;
  gather.recv_displs = displs;
  MPIMOE_RETURN_IF_ERROR(
      parallel::Gatherv(comm, std::span<const char>(mine), std::span<char>(all), gather)
          .WithContext("trace gather"));
  if (!root) return std::string();
  std::vector<std::string_view> pieces;
  for (int r = 0; r < ranks; ++r) {
    pieces.push_back(
        std::string_view(all).substr(static_cast<size_t>(displs[static_cast<size_t>(r)]),
                                     static_cast<size_t>(sizes[static_cast<size_t>(r)])));
  }
  return TraceDocument(pieces);
}

}  // namespace mpimoe::train
