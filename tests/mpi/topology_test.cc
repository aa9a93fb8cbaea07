// MPI tests of node awareness: the topology a communicator finds (one node on this
// host; groups of consecutive ranks with WithEmulatedNodes) and the hierarchical
// all-reduce over it (every algorithm, every op, blocking and not, in place or not),
// against the exact sums; the inter-node bandwidth probe.
#include <gtest/gtest.h>

#include <chrono>
#include <span>
#include <thread>
#include <vector>

#include "parallel/collectives.h"
#include "parallel/hierarchical_exchange.h"
#include "parallel/link_probe.h"
#include "parallel/mpi_communicator.h"
#include "runtime/core/timer.h"
#include "tests/mpi/mpi_test_env.h"

namespace mpimoe::parallel {
namespace {

using mpimoe::testing::Env;
using mpimoe::testing::World;

TEST(TopologyTest, OneHostIsOneNode) {
  const Topology& t = World().topology();
  EXPECT_EQ(t.num_nodes, 1);
  EXPECT_EQ(t.node_of_rank, std::vector<int32_t>(static_cast<size_t>(World().size()), 0));
  EXPECT_FALSE(t.is_hierarchical());
}

TEST(TopologyTest, EmulatedNodesGroupConsecutiveRanks) {
  auto comm = MpiCommunicator::WithEmulatedNodes(Env(), 2);
  ASSERT_TRUE(comm.ok()) << comm.status().ToString();
  const int p = comm->size();
  const Topology& t = comm->topology();
  EXPECT_EQ(t.num_nodes, (p + 1) / 2);
  for (int r = 0; r < p; ++r) EXPECT_EQ(t.node_of_rank[static_cast<size_t>(r)], r / 2);
  EXPECT_EQ(t.is_hierarchical(), p >= 3);
  EXPECT_TRUE(t.nodes_contiguous());
  EXPECT_FALSE(MpiCommunicator::WithEmulatedNodes(Env(), 0).ok());
}

TEST(TopologyTest, FromLabelsNumbersNodesByFirstRank) {
  const Topology t = Topology::FromLabels({7, 7, 3, 7, 3, 9});
  EXPECT_EQ(t.num_nodes, 3);
  EXPECT_EQ(t.node_of_rank, (std::vector<int32_t>{0, 0, 1, 0, 1, 2}));
  EXPECT_EQ(t.ranks_on_node(0), 3);
  EXPECT_EQ(t.max_ranks_per_node(), 3);
  EXPECT_TRUE(t.same_node(2, 4));
  EXPECT_FALSE(t.same_node(0, 5));
  EXPECT_FALSE(t.nodes_contiguous());  // node 0's ranks are 0, 1 and 3
  EXPECT_TRUE(Topology::FromLabels({4, 4, 2, 2, 2, 0}).nodes_contiguous());
  EXPECT_FALSE(Topology::FromLabels({0, 1, 0, 1}).nodes_contiguous());  // --map-by node
}

// busy_seconds: time inside calls, counted once when calls nest (a chunked Allgather
// runs Allgatherv, which runs one Bcast per rank), and waiting for a late rank counts.
TEST(BusySecondsTest, CountsTimeInsideCallsOnce) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  comm.set_max_chunk_elements(3);
  std::vector<int32_t> send(5, me), recv(static_cast<size_t>(5 * p));
  const double before = comm.busy_seconds();
  Stopwatch watch;
  EXPECT_TRUE(
      Allgather(comm, std::span<const int32_t>(send), std::span<int32_t>(recv)).ok());
  const double wall = watch.ElapsedSeconds();
  comm.set_max_chunk_elements(INT32_MAX);
  const double busy = comm.busy_seconds() - before;
  EXPECT_GT(busy, 0.0);
  EXPECT_LE(busy, wall);  // nested calls would count twice
  for (int r = 0; r < p; ++r) EXPECT_EQ(recv[static_cast<size_t>(r * 5)], r);
  // Rank 0 arrives 50 ms late at a barrier: the others wait (busy), rank 0 does not.
  if (p > 1) {
    if (me == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double start = comm.busy_seconds();
    EXPECT_TRUE(Barrier(comm).ok());
    const double waited = comm.busy_seconds() - start;
    if (me != 0) EXPECT_GE(waited, 0.03);
  }
}

// ExchangeBlocks through the two-hop exchange gives exactly the direct result: uneven,
// empty and scattered blocks, several per pair, on emulated nodes of 2 ranks (np 4: two
// nodes; other sizes: unequal or single nodes, where it falls back to direct).
TEST(HierarchicalExchangeTest, MatchesTheDirectExchangeExactly) {
  auto hier = MpiCommunicator::WithEmulatedNodes(Env(), 2);
  ASSERT_TRUE(hier.ok()) << hier.status().ToString();
  const int p = hier->size(), me = hier->rank();
  EXPECT_EQ(HierarchicalExchangeApplies(hier->topology()), p == 4 || p == 6 || p == 8);
  auto blocks_between = [](int a, int b) { return (a * 7 + b * 3) % 3; };
  auto block_count = [](int a, int b, int i) { return int64_t{(a + 2 * b + 3 * i) % 4}; };
  auto value = [](int a, int b, int i, int64_t k) {
    return static_cast<float>(a * 100000 + b * 1000 + i * 100 + k);
  };
  // Send blocks: peers in descending order in the buffer, blocks in order per peer.
  std::vector<BlockTransfer> sends, recvs;
  std::vector<float> send;
  for (int b = p - 1; b >= 0; --b) {
    for (int i = 0; i < blocks_between(me, b); ++i) {
      const int64_t n = block_count(me, b, i);
      sends.push_back({b, static_cast<int64_t>(send.size()), n});
      for (int64_t k = 0; k < n; ++k) send.push_back(value(me, b, i, k));
    }
  }
  // Receive blocks: sources in ascending order, each block 2 elements apart.
  int64_t at = 0;
  for (int a = 0; a < p; ++a) {
    for (int i = 0; i < blocks_between(a, me); ++i) {
      recvs.push_back({a, at, block_count(a, me, i)});
      at += block_count(a, me, i) + 2;
    }
  }
  for (AlltoallAlgorithm algorithm :
       {AlltoallAlgorithm::kDirect, AlltoallAlgorithm::kHierarchical}) {
    hier->set_options({.alltoall = algorithm});
    std::vector<float> recv(static_cast<size_t>(at), -1.f);
    EXPECT_TRUE(hier->ExchangeBlocks(send.data(), sends.data(),
                                     static_cast<int64_t>(sends.size()), recv.data(),
                                     recvs.data(), static_cast<int64_t>(recvs.size()),
                                     CollDType::kFloat32)
                    .ok());
    for (const BlockTransfer& r : recvs) {
      int i = 0;
      for (const BlockTransfer& q : recvs) {
        if (&q == &r) break;
        i += q.peer == r.peer;
      }
      for (int64_t k = 0; k < r.count; ++k) {
        EXPECT_EQ(recv[static_cast<size_t>(r.offset + k)], value(r.peer, me, i, k))
            << "from " << r.peer << " block " << i << " element " << k;
      }
      if (r.offset + r.count < at)
        EXPECT_EQ(recv[static_cast<size_t>(r.offset + r.count)], -1.f);
    }
  }
}

TEST(LinkProbeTest, InterNodeBandwidthIsPositiveAndAgreed) {
  EXPECT_FALSE(MeasureInterNodeBandwidth(World()).ok());  // one host = one node
  auto comm = MpiCommunicator::WithEmulatedNodes(Env(), 1);
  ASSERT_TRUE(comm.ok()) << comm.status().ToString();
  if (comm->size() < 2) return;  // a single rank is a single node
  auto measured = MeasureInterNodeBandwidth(*comm, 1 << 16, 2);
  ASSERT_TRUE(measured.ok()) << measured.status().ToString();
  EXPECT_GT(*measured, 0.0);
  double low = *measured, high = *measured;
  EXPECT_TRUE(AllreduceInPlace(*comm, std::span<double>(&low, 1), {ReduceOp::kMin}).ok());
  EXPECT_TRUE(
      AllreduceInPlace(*comm, std::span<double>(&high, 1), {ReduceOp::kMax}).ok());
  EXPECT_EQ(low, high);  // every rank holds the same number
}

class HierarchicalAllreduceTest
    : public ::testing::TestWithParam<std::tuple<int, AllreduceAlgorithm>> {};

TEST_P(HierarchicalAllreduceTest, SumsMaxMinMatchTheExactResult) {
  const auto [ranks_per_node, algorithm] = GetParam();
  auto comm = MpiCommunicator::WithEmulatedNodes(Env(), ranks_per_node);
  ASSERT_TRUE(comm.ok()) << comm.status().ToString();
  comm->set_options({.allreduce = algorithm});
  const int p = comm->size(), me = comm->rank();
  const int64_t n = 37;
  std::vector<float> send(static_cast<size_t>(n)), recv(static_cast<size_t>(n), -1.f);
  for (int64_t i = 0; i < n; ++i)
    send[static_cast<size_t>(i)] = static_cast<float>(me * 100 + i);
  EXPECT_TRUE(
      Allreduce(*comm, std::span<const float>(send), std::span<float>(recv)).ok());
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(recv[static_cast<size_t>(i)],
              static_cast<float>(100 * p * (p - 1) / 2 + p * i))
        << "element " << i;
  }
  // The send buffer is left alone when not in place.
  EXPECT_EQ(send[1], static_cast<float>(me * 100 + 1));
  std::vector<int32_t> v{me, -me, 7};
  EXPECT_TRUE(AllreduceInPlace(*comm, std::span<int32_t>(v), {ReduceOp::kMax}).ok());
  EXPECT_EQ(v, (std::vector<int32_t>{p - 1, 0, 7}));
  std::vector<int64_t> w{me, -me};
  EXPECT_TRUE(AllreduceInPlace(*comm, std::span<int64_t>(w), {ReduceOp::kMin}).ok());
  EXPECT_EQ(w, (std::vector<int64_t>{0, -(p - 1)}));
  // Several non-blocking all-reduces in flight, waited for in order (as GradSync does).
  std::vector<std::vector<double>> buckets(3,
                                           std::vector<double>(static_cast<size_t>(n)));
  std::vector<Request> requests(buckets.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (int64_t i = 0; i < n; ++i)
      buckets[b][static_cast<size_t>(i)] = me + static_cast<double>(b) * i;
    EXPECT_TRUE(
        StartAllreduceInPlace(*comm, std::span<double>(buckets[b]), &requests[b]).ok());
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    EXPECT_TRUE(requests[b].Wait().ok());
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(buckets[b][static_cast<size_t>(i)],
                p * (p - 1) / 2.0 + p * static_cast<double>(b) * i);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    NodesAndAlgorithms, HierarchicalAllreduceTest,
    ::testing::Combine(::testing::Values(1, 2, 3),
                       ::testing::Values(AllreduceAlgorithm::kAuto,
                                         AllreduceAlgorithm::kFlat,
                                         AllreduceAlgorithm::kHierarchical)));

}  // namespace
}  // namespace mpimoe::parallel
