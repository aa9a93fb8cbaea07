// Topology: which node (host) each rank of a communicator runs on.
//
// A node is a set of ranks that share memory (MPI_Comm_split_type SHARED), or, in
// tests, a group of consecutive ranks that stands in for one (MpiCommunicator::
// WithEmulatedNodes). Nodes are numbered 0..num_nodes-1 in the order of their lowest
// rank, so every rank computes the same numbering. Collective algorithms (hierarchical
// all-reduce and all-to-all) and the balancer's cost model read it; nothing else
// depends on where a rank runs.
//
// Thread-safety: a value type; const methods only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace mpimoe::parallel {

struct Topology {
  std::vector<int32_t> node_of_rank;  // [size]: the node of every rank
  int32_t num_nodes = 1;

  // All `size` ranks on one node.
  static Topology SingleNode(int size) {
    return Topology{std::vector<int32_t>(static_cast<size_t>(size), 0), 1};
  }
  // From any per-rank node labels (e.g. node leaders' ranks): renumbers them 0.. in the
  // order of each label's first rank.
  static Topology FromLabels(const std::vector<int32_t>& labels) {
    Topology t;
    t.node_of_rank.resize(labels.size());
    std::vector<int32_t> seen;
    for (size_t r = 0; r < labels.size(); ++r) {
      auto it = std::find(seen.begin(), seen.end(), labels[r]);
      if (it == seen.end()) it = seen.insert(seen.end(), labels[r]);
      t.node_of_rank[r] = static_cast<int32_t>(it - seen.begin());
    }
    t.num_nodes = std::max<int32_t>(1, static_cast<int32_t>(seen.size()));
    return t;
  }

  int32_t ranks_on_node(int32_t node) const {
    return static_cast<int32_t>(
        std::count(node_of_rank.begin(), node_of_rank.end(), node));
  }
  int32_t max_ranks_per_node() const {
    int32_t best = 0;
    for (int32_t n = 0; n < num_nodes; ++n) best = std::max(best, ranks_on_node(n));
    return best;
  }
  bool same_node(int a, int b) const {
    return node_of_rank[static_cast<size_t>(a)] == node_of_rank[static_cast<size_t>(b)];
  }
  // Several nodes, and some node with several ranks: where two-level algorithms apply.
  bool is_hierarchical() const { return num_nodes > 1 && max_ranks_per_node() > 1; }
  // Whether every node's ranks are consecutive (mpirun's default --map-by slot), so
  // that a ring over the ranks in order crosses each node boundary once.
  bool nodes_contiguous() const {
    for (size_t r = 1; r < node_of_rank.size(); ++r) {
      if (node_of_rank[r] != node_of_rank[r - 1] &&
          node_of_rank[r] != node_of_rank[r - 1] + 1)
        return false;
    }
    return true;
  }
};

}  // namespace mpimoe::parallel
