// Tests of parallel/pairwise_exchange.h without MPI: the exact schedules of small cases
// (chunking, order, self copies), the errors, and a simulated world of 1-5 ranks that
// delivers every rank's planned messages in order per pair of ranks, so that every
// element must land exactly where the caller addressed it, for several chunk limits.
#include "parallel/pairwise_exchange.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/core/random.h"

namespace mpimoe::parallel {

// gtest prints schedule entries through these (found by argument-dependent lookup).
void PrintTo(const ExchangeMessage& m, std::ostream* os) {
  *os << "{peer " << m.peer << ", offset " << m.offset << ", count " << m.count << "}";
}
void PrintTo(const ExchangeCopy& c, std::ostream* os) {
  *os << "{" << c.send_offset << " -> " << c.recv_offset << ", count " << c.count << "}";
}

namespace {

TEST(PairwiseExchangeTest, AlltoallvCutsBlocksIntoChunksInPeerOrder) {
  // Rank 1 of 3, chunks of 2 elements.
  const int64_t sc[] = {5, 3, 0}, sd[] = {3, 0, 8};
  const int64_t rc[] = {0, 3, 4}, rd[] = {9, 1, 4};
  ExchangeSchedule s;
  ASSERT_TRUE(PlanPairwiseAlltoallv(1, 3, sc, sd, rc, rd, 2, "MPI_Alltoallv", &s).ok());
  EXPECT_EQ(s.copies, (std::vector<ExchangeCopy>{{0, 1, 3}}));
  EXPECT_EQ(s.receives, (std::vector<ExchangeMessage>{{2, 4, 2}, {2, 6, 2}}));
  EXPECT_EQ(s.sends, (std::vector<ExchangeMessage>{{0, 3, 2}, {0, 5, 2}, {0, 7, 1}}));
  // Planning again replaces the schedule; an empty self block makes no copy.
  const int64_t zero[] = {0, 0, 0};
  ASSERT_TRUE(
      PlanPairwiseAlltoallv(1, 3, zero, zero, zero, zero, 2, "MPI_Alltoall", &s).ok());
  EXPECT_TRUE(s.copies.empty());
  EXPECT_TRUE(s.receives.empty());
  EXPECT_TRUE(s.sends.empty());
}

TEST(PairwiseExchangeTest, AlltoallvRejectsMismatchedSelfBlock) {
  const int64_t sc[] = {1, 3}, rc[] = {1, 2}, displs[] = {0, 0};
  ExchangeSchedule s;
  const Status status =
      PlanPairwiseAlltoallv(1, 2, sc, displs, rc, displs, 8, "MPI_Alltoallv", &s);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "MPI_Alltoallv on rank 1: sends 3 elements to itself but expects 2");
  EXPECT_TRUE(s.receives.empty() && s.sends.empty() && s.copies.empty());
}

TEST(PairwiseExchangeTest, BlockExchangeKeepsBlockOrderAndPairsSelfBlocks) {
  // Rank 0 of 2, chunks of 2 elements.
  const BlockTransfer sends[] = {{1, 0, 3}, {0, 3, 2}, {1, 5, 0}, {0, 5, 1}};
  const BlockTransfer recvs[] = {{0, 10, 2}, {1, 0, 5}, {0, 20, 1}};
  ExchangeSchedule s;
  ASSERT_TRUE(PlanBlockExchange(0, 2, sends, 4, recvs, 3, 2, &s).ok());
  EXPECT_EQ(s.receives, (std::vector<ExchangeMessage>{{1, 0, 2}, {1, 2, 2}, {1, 4, 1}}));
  EXPECT_EQ(s.sends, (std::vector<ExchangeMessage>{{1, 0, 2}, {1, 2, 1}}));
  EXPECT_EQ(s.copies, (std::vector<ExchangeCopy>{{3, 10, 2}, {5, 20, 1}}));
}

TEST(PairwiseExchangeTest, BlockExchangeRejectsBadBlocks) {
  ExchangeSchedule s;
  const BlockTransfer ok[] = {{0, 0, 1}};
  const BlockTransfer bad_peer[] = {{2, 0, 1}};
  const BlockTransfer negative[] = {{1, 4, -1}};
  Status status = PlanBlockExchange(0, 2, ok, 1, bad_peer, 1, 8, &s);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "ExchangeBlocks on rank 0: bad receive block 0 (peer 2, 1 elements)");
  status = PlanBlockExchange(0, 2, negative, 1, ok, 1, 8, &s);
  EXPECT_EQ(status.message(),
            "ExchangeBlocks on rank 0: bad send block 0 (peer 1, -1 elements)");
  // Self blocks: one send but no receive, then equal numbers of different sizes.
  const BlockTransfer to_peer[] = {{1, 0, 1}};
  status = PlanBlockExchange(0, 2, ok, 1, to_peer, 1, 8, &s);
  EXPECT_EQ(status.message(),
            "ExchangeBlocks on rank 0: blocks to itself do not pair up");
  const BlockTransfer sends[] = {{1, 0, 4}, {0, 4, 2}};
  const BlockTransfer recvs[] = {{1, 0, 4}, {0, 4, 3}};
  status = PlanBlockExchange(0, 2, sends, 2, recvs, 2, 8, &s);
  EXPECT_EQ(status.message(),
            "ExchangeBlocks on rank 0: blocks to itself do not pair up");
  EXPECT_TRUE(s.receives.empty() && s.sends.empty() && s.copies.empty());
}

// A value unique to (source, destination, block, index).
int64_t Tag(int from, int to, int64_t block, int64_t i) {
  return from * 1000000 + to * 10000 + block * 100 + i;
}

// Runs every rank's schedule: the messages from a to b, in posting order, fill the
// receives b posted for a, in posting order, and must match them one for one in size.
void Deliver(const std::vector<ExchangeSchedule>& schedules,
             const std::vector<std::vector<int64_t>>& send,
             std::vector<std::vector<int64_t>>* recv) {
  const int p = static_cast<int>(schedules.size());
  for (int a = 0; a < p; ++a) {
    for (const ExchangeCopy& c : schedules[a].copies) {
      std::copy_n(send[a].begin() + c.send_offset, c.count,
                  (*recv)[a].begin() + c.recv_offset);
    }
    for (int b = 0; b < p; ++b) {
      std::vector<ExchangeMessage> out, in;
      for (const ExchangeMessage& m : schedules[a].sends) {
        if (m.peer == b) out.push_back(m);
      }
      for (const ExchangeMessage& m : schedules[b].receives) {
        if (m.peer == a) in.push_back(m);
      }
      ASSERT_EQ(out.size(), in.size()) << "messages " << a << " -> " << b;
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i].count, in[i].count)
            << "message " << i << ", " << a << " -> " << b;
        std::copy_n(send[a].begin() + out[i].offset, out[i].count,
                    (*recv)[b].begin() + in[i].offset);
      }
    }
  }
}

// Checks the schedules' message sizes against the chunk limit.
void ExpectChunked(const std::vector<ExchangeSchedule>& schedules, int64_t max_chunk) {
  for (const ExchangeSchedule& s : schedules) {
    for (const auto* list : {&s.sends, &s.receives}) {
      for (const ExchangeMessage& m : *list) {
        EXPECT_GE(m.count, 1);
        EXPECT_LE(m.count, max_chunk);
      }
    }
  }
}

class SimulatedWorldTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(SimulatedWorldTest, AlltoallvDeliversEveryElement) {
  const int64_t max_chunk = GetParam();
  for (int p = 1; p <= 5; ++p) {
    Rng rng(MixSeed(3, {static_cast<uint64_t>(p)}));
    std::vector<int64_t> count(static_cast<size_t>(p * p));  // [from * p + to]
    for (int64_t& c : count) c = static_cast<int64_t>(rng.Below(6));
    std::vector<ExchangeSchedule> schedules(static_cast<size_t>(p));
    std::vector<std::vector<int64_t>> send(schedules.size()), recv(schedules.size()),
        expected(schedules.size());
    for (int me = 0; me < p; ++me) {
      std::vector<int64_t> sc(p), sd(p), rc(p), rd(p);
      int64_t at = 0;
      for (int r = p - 1; r >= 0; --r) {  // send blocks in reverse rank order
        sc[r] = count[me * p + r];
        sd[r] = at;
        at += sc[r];
      }
      send[me].resize(static_cast<size_t>(at));
      for (int r = 0; r < p; ++r) {
        for (int64_t i = 0; i < sc[r]; ++i) send[me][sd[r] + i] = Tag(me, r, 0, i);
      }
      at = 0;
      for (int r = 0; r < p; ++r) {  // a gap of one element before each block
        rc[r] = count[r * p + me];
        rd[r] = at + 1;
        at += rc[r] + 1;
      }
      recv[me].assign(static_cast<size_t>(at), -1);
      expected[me] = recv[me];
      for (int r = 0; r < p; ++r) {
        for (int64_t i = 0; i < rc[r]; ++i) expected[me][rd[r] + i] = Tag(r, me, 0, i);
      }
      ASSERT_TRUE(PlanPairwiseAlltoallv(me, p, sc.data(), sd.data(), rc.data(), rd.data(),
                                        max_chunk, "MPI_Alltoallv", &schedules[me])
                      .ok());
    }
    ExpectChunked(schedules, max_chunk);
    Deliver(schedules, send, &recv);
    for (int me = 0; me < p; ++me) EXPECT_EQ(recv[me], expected[me]) << "P=" << p;
  }
}

TEST_P(SimulatedWorldTest, BlockExchangeDeliversEveryBlockInPlace) {
  const int64_t max_chunk = GetParam();
  for (int p = 1; p <= 5; ++p) {
    Rng rng(MixSeed(4, {static_cast<uint64_t>(p)}));
    // sizes[from * p + to]: the blocks from `from` to `to`, in order (some empty).
    std::vector<std::vector<int64_t>> sizes(static_cast<size_t>(p * p));
    for (auto& blocks : sizes) {
      blocks.resize(rng.Below(4));
      for (int64_t& n : blocks) n = static_cast<int64_t>(rng.Below(5));
    }
    std::vector<ExchangeSchedule> schedules(static_cast<size_t>(p));
    std::vector<std::vector<int64_t>> send(schedules.size()), recv(schedules.size()),
        expected(schedules.size());
    for (int me = 0; me < p; ++me) {
      // Sends: peers interleaved round-robin, each peer's blocks in order.
      std::vector<BlockTransfer> sends, recvs;
      for (size_t k = 0; k < 3; ++k) {
        for (int r = 0; r < p; ++r) {
          const auto& blocks = sizes[me * p + r];
          if (k >= blocks.size()) continue;
          const int64_t at = static_cast<int64_t>(send[me].size());
          sends.push_back({r, at, blocks[k]});
          for (int64_t i = 0; i < blocks[k]; ++i) {
            send[me].push_back(Tag(me, r, static_cast<int64_t>(k), i));
          }
        }
      }
      // Receives: peers in reverse order, each peer's blocks in order, gaps between.
      int64_t at = 0;
      for (int r = p - 1; r >= 0; --r) {
        const auto& blocks = sizes[r * p + me];
        for (size_t k = 0; k < blocks.size(); ++k) {
          at += 1;
          recvs.push_back({r, at, blocks[k]});
          at += blocks[k];
        }
      }
      recv[me].assign(static_cast<size_t>(at), -1);
      expected[me] = recv[me];
      for (int r = p - 1, j = 0; r >= 0; --r) {
        const auto& blocks = sizes[r * p + me];
        for (size_t k = 0; k < blocks.size(); ++k, ++j) {
          for (int64_t i = 0; i < blocks[k]; ++i) {
            expected[me][recvs[j].offset + i] = Tag(r, me, static_cast<int64_t>(k), i);
          }
        }
      }
      ASSERT_TRUE(PlanBlockExchange(me, p, sends.data(),
                                    static_cast<int64_t>(sends.size()), recvs.data(),
                                    static_cast<int64_t>(recvs.size()), max_chunk,
                                    &schedules[me])
                      .ok());
    }
    ExpectChunked(schedules, max_chunk);
    Deliver(schedules, send, &recv);
    for (int me = 0; me < p; ++me) EXPECT_EQ(recv[me], expected[me]) << "P=" << p;
  }
}

INSTANTIATE_TEST_SUITE_P(ChunkLimits, SimulatedWorldTest,
                         ::testing::Values(1, 2, 3, 1000), [](const auto& info) {
                           return "chunk" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace mpimoe::parallel
