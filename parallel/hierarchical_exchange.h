// HierarchicalExchangeBlocks: Communicator::ExchangeBlocks in two hops, so that each pair
// of nodes exchanges one large message per rank instead of one per pair of ranks (the
// "2-D" all-to-all). Every node must run the same number L of ranks; a rank's local
// index j is its position among its node's ranks (in rank order), and rank (M, j) is the
// j-th rank of node M (parallel/topology.h).
//
//   0. Counts: every rank all-gathers over its node the elements it sends to each rank.
//   1. Within the node (one ExchangeBlocks): blocks for ranks of the own node go straight
//      to their final place. Blocks for (M, j) on another node M are packed and sent to
//      the local rank with index j (the gateway for index j), into its outbound buffer,
//      laid out by node M, then by source rank.
//   2. Across nodes (one ExchangeBlocks): each gateway j sends its region for node M to
//      (M, j), the final destination of all of it; the receiver scatters each node's
//      message, source by source (rank order), block by block, to the final places.
//
// The result is exactly ExchangeBlocks' (the same elements, copied); the pairing rule of
// ExchangeBlocks (the i-th send block from A to B fills B's i-th receive block from A)
// holds as there. Costs: one pack and one scatter copy of the rows that leave the node,
// an intra-node hop for them, and a node-local all-gather of P int64 counts.
//
// Thread-safety: collective over `comm` and `node`, on their owning thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "parallel/communicator.h"

namespace mpimoe::parallel {

// The direct exchange the two phases run on (a transport's plain ExchangeBlocks).
using DirectExchangeFn = std::function<Status(
    const void* send, const BlockTransfer* sends, int64_t num_sends, void* recv,
    const BlockTransfer* recvs, int64_t num_recvs, CollDType dtype)>;

// Reused between calls (grown, never shrunk), so a warm exchange allocates nothing:
// the node membership (rebuilt when the topology changes), counts, offsets, block
// lists and staging buffers.
struct HierarchicalExchangeBuffers {
  std::vector<int32_t> node_of_rank;             // the topology the members are for
  std::vector<std::vector<int32_t>> node_ranks;  // [nodes][L] ranks in rank order
  std::vector<int32_t> local_index;              // [P] index of each rank on its node
  std::vector<int64_t> send_to, recv_from;       // [P] elements to / from each rank
  std::vector<int64_t> node_counts;  // [L * P] send_to of every rank of the node
  std::vector<int64_t> pack_at, cursor, out_at, in_at, source_at;  // offsets
  std::vector<BlockTransfer> sends, recvs;
  std::vector<char> pack, outbound, inbound;
};

// Whether `topology` allows the two-hop exchange: several nodes, the same number of
// ranks on each, more than one rank per node.
bool HierarchicalExchangeApplies(const Topology& topology);

// `comm`: all ranks; `node`: this rank's node (the ranks of comm on it, in rank order).
// Arguments as Communicator::ExchangeBlocks. InvalidArgument when the topology does not
// apply or the blocks are invalid (as ExchangeBlocks).
Status HierarchicalExchangeBlocks(Communicator& comm, Communicator& node,
                                  const DirectExchangeFn& direct, const void* send,
                                  const BlockTransfer* sends, int64_t num_sends,
                                  void* recv, const BlockTransfer* recvs,
                                  int64_t num_recvs, CollDType dtype,
                                  HierarchicalExchangeBuffers* buffers);

}  // namespace mpimoe::parallel
