// hierarchical_exchange.cc: see hierarchical_exchange.h.
#include "parallel/hierarchical_exchange.h"

#include <cstring>
#include <string>

namespace mpimoe::parallel {
namespace {

// Fills b.node_ranks and b.local_index for `t` (once per topology).
void BuildMembers(const Topology& t, HierarchicalExchangeBuffers& b) {
  if (b.node_of_rank == t.node_of_rank) return;
  b.node_of_rank = t.node_of_rank;
  b.node_ranks.assign(static_cast<size_t>(t.num_nodes), {});
  b.local_index.resize(t.node_of_rank.size());
  for (size_t r = 0; r < t.node_of_rank.size(); ++r) {
    std::vector<int32_t>& members = b.node_ranks[static_cast<size_t>(t.node_of_rank[r])];
    b.local_index[r] = static_cast<int32_t>(members.size());
    members.push_back(static_cast<int32_t>(r));
  }
}

// Adds a block unless it is empty (both sides skip the same empty blocks).
void Add(std::vector<BlockTransfer>& blocks, int32_t peer, int64_t offset,
         int64_t count) {
  if (count > 0) blocks.push_back({peer, offset, count});
}

}  // namespace

bool HierarchicalExchangeApplies(const Topology& topology) {
  if (topology.num_nodes < 2) return false;
  const int32_t l = topology.ranks_on_node(0);
  if (l < 2) return false;
  for (int32_t n = 1; n < topology.num_nodes; ++n) {
    if (topology.ranks_on_node(n) != l) return false;
  }
  return true;
}

Status HierarchicalExchangeBlocks(Communicator& comm, Communicator& node,
                                  const DirectExchangeFn& direct, const void* send,
                                  const BlockTransfer* sends, int64_t num_sends,
                                  void* recv, const BlockTransfer* recvs,
                                  int64_t num_recvs, CollDType dtype,
                                  HierarchicalExchangeBuffers* buffers) {
  const Topology& topology = comm.topology();
  if (!HierarchicalExchangeApplies(topology)) {
    return InvalidArgumentError(
        "hierarchical exchange needs several nodes with the same number (> 1) of ranks");
  }
  const int p = comm.size(), me = comm.rank();
  HierarchicalExchangeBuffers& b = *buffers;
  BuildMembers(topology, b);
  auto member = [&b](int32_t node, int32_t j) {
    return b.node_ranks[static_cast<size_t>(node)][static_cast<size_t>(j)];
  };
  const int32_t my_node = topology.node_of_rank[static_cast<size_t>(me)];
  const int32_t my_j = b.local_index[static_cast<size_t>(me)];
  const int32_t l = static_cast<int32_t>(b.node_ranks[0].size());
  const int32_t nodes = topology.num_nodes;
  const int64_t width = CollDTypeSizeBytes(dtype);
  const char* send_bytes = static_cast<const char*>(send);
  char* recv_bytes = static_cast<char*>(recv);

  // 0. What every rank of the node sends to every rank.
  b.send_to.assign(static_cast<size_t>(p), 0);
  b.recv_from.assign(static_cast<size_t>(p), 0);
  for (int64_t i = 0; i < num_sends; ++i) {
    const BlockTransfer& s = sends[i];
    if (s.peer < 0 || s.peer >= p || s.count < 0) {
      return InvalidArgumentError("hierarchical exchange on rank " + std::to_string(me) +
                                  ": bad send block " + std::to_string(i));
    }
    b.send_to[static_cast<size_t>(s.peer)] += s.count;
  }
  for (int64_t i = 0; i < num_recvs; ++i) {
    const BlockTransfer& r = recvs[i];
    if (r.peer < 0 || r.peer >= p || r.count < 0) {
      return InvalidArgumentError("hierarchical exchange on rank " + std::to_string(me) +
                                  ": bad receive block " + std::to_string(i));
    }
    b.recv_from[static_cast<size_t>(r.peer)] += r.count;
  }
  b.node_counts.resize(static_cast<size_t>(l) * static_cast<size_t>(p));
  MPIMOE_RETURN_IF_ERROR(
      node.Allgather(b.send_to.data(), p, b.node_counts.data(), CollDType::kInt64)
          .WithContext("hierarchical exchange counts"));
  auto node_count = [&](int32_t local_source, int32_t dest) {
    return b.node_counts[static_cast<size_t>(local_source) * static_cast<size_t>(p) +
                         static_cast<size_t>(dest)];
  };

  // Pack: my blocks for other nodes, by (gateway index j, node M), each in block order.
  std::vector<int64_t>& pack_at = b.pack_at;
  pack_at.assign(static_cast<size_t>(l) * static_cast<size_t>(nodes), 0);
  int64_t packed = 0;
  for (int32_t j = 0; j < l; ++j) {
    for (int32_t m = 0; m < nodes; ++m) {
      if (m == my_node) continue;
      pack_at[static_cast<size_t>(j * nodes + m)] = packed;
      packed += b.send_to[static_cast<size_t>(member(m, j))];
    }
  }
  b.pack.resize(static_cast<size_t>(packed * width));
  {
    std::vector<int64_t>& cursor = b.cursor;
    cursor = pack_at;
    for (int64_t i = 0; i < num_sends; ++i) {
      const BlockTransfer& s = sends[i];
      const int32_t m = topology.node_of_rank[static_cast<size_t>(s.peer)];
      if (m == my_node || s.count == 0) continue;
      int64_t& at = cursor[static_cast<size_t>(
          b.local_index[static_cast<size_t>(s.peer)] * nodes + m)];
      std::memcpy(b.pack.data() + at * width, send_bytes + s.offset * width,
                  static_cast<size_t>(s.count * width));
      at += s.count;
    }
  }

  // Phase 1, within the node, as two exchanges (each has one send and one receive
  // buffer): (a) blocks for ranks of this node, user buffer to user buffer; (b) packed
  // data to the gateways, pack buffer to their outbound buffers.
  const std::vector<int32_t>& local = b.node_ranks[static_cast<size_t>(my_node)];
  // Outbound layout (as gateway my_j): by node M, then by local source in rank order.
  std::vector<int64_t>& out_at = b.out_at;
  out_at.assign(static_cast<size_t>(nodes) * static_cast<size_t>(l), 0);
  int64_t outbound = 0;
  for (int32_t m = 0; m < nodes; ++m) {
    if (m == my_node) continue;
    for (int32_t a = 0; a < l; ++a) {
      out_at[static_cast<size_t>(m * l + a)] = outbound;
      outbound += node_count(a, member(m, my_j));
    }
  }
  b.outbound.resize(static_cast<size_t>(outbound * width));

  // Phase 1a.
  b.sends.clear();
  b.recvs.clear();
  for (int64_t i = 0; i < num_sends; ++i) {
    if (topology.node_of_rank[static_cast<size_t>(sends[i].peer)] == my_node)
      Add(b.sends, sends[i].peer, sends[i].offset, sends[i].count);
  }
  for (int64_t i = 0; i < num_recvs; ++i) {
    if (topology.node_of_rank[static_cast<size_t>(recvs[i].peer)] == my_node)
      Add(b.recvs, recvs[i].peer, recvs[i].offset, recvs[i].count);
  }
  MPIMOE_RETURN_IF_ERROR(
      direct(send, b.sends.data(), static_cast<int64_t>(b.sends.size()), recv,
             b.recvs.data(), static_cast<int64_t>(b.recvs.size()), dtype)
          .WithContext("hierarchical exchange, within the node"));
  // Phase 1b: to gateway j, my data for (M, j) for every other node M, by M.
  b.sends.clear();
  b.recvs.clear();
  for (int32_t j = 0; j < l; ++j) {
    for (int32_t m = 0; m < nodes; ++m) {
      if (m == my_node) continue;
      Add(b.sends, local[static_cast<size_t>(j)],
          pack_at[static_cast<size_t>(j * nodes + m)],
          b.send_to[static_cast<size_t>(member(m, j))]);
    }
  }
  for (int32_t a = 0; a < l; ++a) {
    for (int32_t m = 0; m < nodes; ++m) {
      if (m == my_node) continue;
      Add(b.recvs, local[static_cast<size_t>(a)], out_at[static_cast<size_t>(m * l + a)],
          node_count(a, member(m, my_j)));
    }
  }
  MPIMOE_RETURN_IF_ERROR(direct(b.pack.data(), b.sends.data(),
                                static_cast<int64_t>(b.sends.size()), b.outbound.data(),
                                b.recvs.data(), static_cast<int64_t>(b.recvs.size()),
                                dtype)
                             .WithContext("hierarchical exchange, to the gateways"));

  // Phase 2, across nodes: my region for node M to (M, my_j); from (N, my_j) everything
  // node N's ranks send me, by source in rank order.
  std::vector<int64_t>& in_at = b.in_at;
  in_at.assign(static_cast<size_t>(nodes), 0);
  int64_t inbound = 0;
  for (int32_t n = 0; n < nodes; ++n) {
    if (n == my_node) continue;
    in_at[static_cast<size_t>(n)] = inbound;
    for (int32_t s : b.node_ranks[static_cast<size_t>(n)])
      inbound += b.recv_from[static_cast<size_t>(s)];
  }
  b.inbound.resize(static_cast<size_t>(inbound * width));
  b.sends.clear();
  b.recvs.clear();
  for (int32_t m = 0; m < nodes; ++m) {
    if (m == my_node) continue;
    int64_t count = 0;
    for (int32_t a = 0; a < l; ++a) count += node_count(a, member(m, my_j));
    Add(b.sends, member(m, my_j), out_at[static_cast<size_t>(m * l)], count);
  }
  for (int32_t n = 0; n < nodes; ++n) {
    if (n == my_node) continue;
    int64_t count = 0;
    for (int32_t s : b.node_ranks[static_cast<size_t>(n)])
      count += b.recv_from[static_cast<size_t>(s)];
    Add(b.recvs, member(n, my_j), in_at[static_cast<size_t>(n)], count);
  }
  MPIMOE_RETURN_IF_ERROR(direct(b.outbound.data(), b.sends.data(),
                                static_cast<int64_t>(b.sends.size()), b.inbound.data(),
                                b.recvs.data(), static_cast<int64_t>(b.recvs.size()),
                                dtype)
                             .WithContext("hierarchical exchange, across nodes"));

  // Scatter: node by node, source by source (rank order), block by block.
  std::vector<int64_t>& source_at = b.source_at;
  source_at.assign(static_cast<size_t>(p), 0);
  for (int32_t n = 0; n < nodes; ++n) {
    if (n == my_node) continue;
    int64_t at = in_at[static_cast<size_t>(n)];
    for (int32_t s : b.node_ranks[static_cast<size_t>(n)]) {
      source_at[static_cast<size_t>(s)] = at;
      at += b.recv_from[static_cast<size_t>(s)];
    }
  }
  for (int64_t i = 0; i < num_recvs; ++i) {
    const BlockTransfer& r = recvs[i];
    if (topology.node_of_rank[static_cast<size_t>(r.peer)] == my_node || r.count == 0)
      continue;
    int64_t& at = source_at[static_cast<size_t>(r.peer)];
    std::memcpy(recv_bytes + r.offset * width, b.inbound.data() + at * width,
                static_cast<size_t>(r.count * width));
    at += r.count;
  }
  return Status::Ok();
}

}  // namespace mpimoe::parallel
