// MPI tests of parallel/: every collective with distinct values per element (so a
// misplaced element shows), zero-size parts, the chunked paths (a tiny chunk limit),
// and MPI errors surfacing as a Status naming the call and the rank.
#include "parallel/collectives.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "tests/mpi/mpi_test_env.h"

namespace mpimoe::parallel {
namespace {

using mpimoe::testing::World;

// A value unique to (source rank, destination rank, index).
int64_t Tag(int from, int to, int64_t i) { return from * 1000000 + to * 10000 + i; }

// Elements rank `from` sends to rank `to` in the Alltoallv tests: uneven, with zeros.
int64_t PairCount(int from, int to) { return (from * 3 + to * 5) % 4; }

class CollectivesTest : public ::testing::TestWithParam<int64_t> {
 protected:
  // Param: max chunk elements (INT32_MAX = direct MPI calls, small = chunked paths).
  void SetUp() override { World().set_max_chunk_elements(GetParam()); }
  void TearDown() override { World().set_max_chunk_elements(INT32_MAX); }
};

TEST_P(CollectivesTest, Alltoall) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  for (int64_t n : {0, 1, 5}) {
    std::vector<int64_t> send(static_cast<size_t>(p * n)), recv(send.size(), -1);
    for (int r = 0; r < p; ++r) {
      for (int64_t i = 0; i < n; ++i)
        send[static_cast<size_t>(r * n + i)] = Tag(me, r, i);
    }
    ASSERT_TRUE(
        Alltoall(comm, std::span<const int64_t>(send), std::span<int64_t>(recv)).ok());
    for (int r = 0; r < p; ++r) {
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(recv[static_cast<size_t>(r * n + i)], Tag(r, me, i));
    }
  }
}

TEST_P(CollectivesTest, AlltoallvUnevenWithEmptyParts) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  std::vector<int64_t> sc(static_cast<size_t>(p)), sd(sc.size()), rc(sc.size()),
      rd(sc.size());
  int64_t send_total = 0, recv_total = 0;
  for (int r = 0; r < p; ++r) {
    sc[static_cast<size_t>(r)] = PairCount(me, r);
    rc[static_cast<size_t>(r)] = PairCount(r, me);
  }
  // Send blocks in reverse rank order, to check displacements are honoured.
  for (int r = p - 1; r >= 0; --r) {
    sd[static_cast<size_t>(r)] = send_total;
    send_total += sc[static_cast<size_t>(r)];
  }
  for (int r = 0; r < p; ++r) {
    rd[static_cast<size_t>(r)] =
        recv_total + 1;  // a gap of one element before each block
    recv_total += rc[static_cast<size_t>(r)] + 1;
  }
  std::vector<double> send(static_cast<size_t>(send_total)),
      recv(static_cast<size_t>(recv_total), -1.0);
  for (int r = 0; r < p; ++r) {
    for (int64_t i = 0; i < sc[static_cast<size_t>(r)]; ++i) {
      send[static_cast<size_t>(sd[static_cast<size_t>(r)] + i)] =
          static_cast<double>(Tag(me, r, i));
    }
  }
  AlltoallvOptions o{sc, sd, rc, rd};
  ASSERT_TRUE(
      Alltoallv(comm, std::span<const double>(send), std::span<double>(recv), o).ok());
  for (int r = 0; r < p; ++r) {
    EXPECT_EQ(recv[static_cast<size_t>(rd[static_cast<size_t>(r)] - 1)], -1.0)
        << "gap overwritten";
    for (int64_t i = 0; i < rc[static_cast<size_t>(r)]; ++i) {
      EXPECT_EQ(recv[static_cast<size_t>(rd[static_cast<size_t>(r)] + i)],
                static_cast<double>(Tag(r, me, i)));
    }
  }
}

TEST_P(CollectivesTest, AllreduceSumMaxMinAndNonBlocking) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const int64_t n = 11;
  std::vector<float> send(static_cast<size_t>(n)), recv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    send[static_cast<size_t>(i)] = static_cast<float>(me * 100 + i);
  ASSERT_TRUE(Allreduce(comm, std::span<const float>(send), std::span<float>(recv)).ok());
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(recv[static_cast<size_t>(i)],
              static_cast<float>(100 * p * (p - 1) / 2 + p * i));
  }
  std::vector<int32_t> v{me, -me, 7};
  ASSERT_TRUE(AllreduceInPlace(comm, std::span<int32_t>(v), {ReduceOp::kMax}).ok());
  EXPECT_EQ(v, (std::vector<int32_t>{p - 1, 0, 7}));
  std::vector<int64_t> w{me, -me};
  ASSERT_TRUE(AllreduceInPlace(comm, std::span<int64_t>(w), {ReduceOp::kMin}).ok());
  EXPECT_EQ(w, (std::vector<int64_t>{0, -(p - 1)}));
  std::vector<double> a(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    a[static_cast<size_t>(i)] = me + 0.5 * static_cast<double>(i);
  Request request;
  ASSERT_TRUE(StartAllreduceInPlace(comm, std::span<double>(a), &request).ok());
  ASSERT_TRUE(request.Wait().ok());
  EXPECT_FALSE(request.pending());
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(a[static_cast<size_t>(i)],
              p * (p - 1) / 2.0 + p * 0.5 * static_cast<double>(i));
  }
  std::vector<int32_t> empty;
  EXPECT_TRUE(AllreduceInPlace(comm, std::span<int32_t>(empty)).ok());
}

TEST_P(CollectivesTest, AllgatherAndAllgatherv) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  std::vector<int32_t> mine{me * 10, me * 10 + 1, me * 10 + 2};
  std::vector<int32_t> all(static_cast<size_t>(3 * p));
  ASSERT_TRUE(
      Allgather(comm, std::span<const int32_t>(mine), std::span<int32_t>(all)).ok());
  for (int r = 0; r < p; ++r) {
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(all[static_cast<size_t>(3 * r + i)], r * 10 + i);
  }
  // Rank r contributes r % 3 elements (rank 0 nothing).
  std::vector<int64_t> counts(static_cast<size_t>(p)), displs(static_cast<size_t>(p));
  int64_t total = 0;
  for (int r = 0; r < p; ++r) {
    counts[static_cast<size_t>(r)] = r % 3;
    displs[static_cast<size_t>(r)] = total;
    total += r % 3;
  }
  std::vector<int64_t> send(static_cast<size_t>(me % 3));
  for (int i = 0; i < me % 3; ++i) send[static_cast<size_t>(i)] = Tag(me, 0, i);
  std::vector<int64_t> recv(static_cast<size_t>(total), -1);
  ASSERT_TRUE(Allgatherv(comm, std::span<const int64_t>(send), std::span<int64_t>(recv),
                         {counts, displs})
                  .ok());
  for (int r = 0; r < p; ++r) {
    for (int i = 0; i < r % 3; ++i)
      EXPECT_EQ(recv[static_cast<size_t>(displs[static_cast<size_t>(r)] + i)],
                Tag(r, 0, i));
  }
}

TEST_P(CollectivesTest, GathervToRootOnly) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const int root = p - 1;
  // Rank r contributes (r + 2) % 3 elements (some ranks nothing), blocks placed in
  // reverse rank order with a gap of one element before each.
  std::vector<int64_t> counts(static_cast<size_t>(p)), displs(static_cast<size_t>(p));
  int64_t total = 0;
  for (int r = p - 1; r >= 0; --r) {
    total += 1;
    counts[static_cast<size_t>(r)] = (r + 2) % 3;
    displs[static_cast<size_t>(r)] = total;
    total += counts[static_cast<size_t>(r)];
  }
  std::vector<int64_t> send(static_cast<size_t>((me + 2) % 3));
  for (size_t i = 0; i < send.size(); ++i)
    send[i] = Tag(me, root, static_cast<int64_t>(i));
  std::vector<int64_t> recv(me == root ? static_cast<size_t>(total) : 0, -1);
  GathervOptions options;
  options.root = root;
  if (me == root) {
    options.recv_counts = counts;
    options.recv_displs = displs;
  }
  ASSERT_TRUE(
      Gatherv(comm, std::span<const int64_t>(send), std::span<int64_t>(recv), options)
          .ok());
  if (me != root) return;
  std::vector<int64_t> expected(static_cast<size_t>(total), -1);
  for (int r = 0; r < p; ++r) {
    for (int64_t i = 0; i < counts[static_cast<size_t>(r)]; ++i)
      expected[static_cast<size_t>(displs[static_cast<size_t>(r)] + i)] = Tag(r, root, i);
  }
  EXPECT_EQ(recv, expected);
}

TEST_P(CollectivesTest, GathervRejectsBadCountsOnEveryRank) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const int root = 0;
  // The root's recv is too small for rank p-1's block: every rank gets the error before
  // any block moves (no sender is left waiting).
  std::vector<int64_t> counts(static_cast<size_t>(p), 1), displs(static_cast<size_t>(p));
  for (int r = 0; r < p; ++r) displs[static_cast<size_t>(r)] = r;
  counts[static_cast<size_t>(p - 1)] = 5;
  if (p == 1) counts[0] = 1, displs[0] = 1;  // one rank: a block outside recv
  std::vector<int64_t> send(me == p - 1 && p > 1 ? 5 : 1, me);
  std::vector<int64_t> recv(me == root ? static_cast<size_t>(p) : 0);
  GathervOptions options;
  options.root = root;
  if (me == root) {
    options.recv_counts = counts;
    options.recv_displs = displs;
  }
  const Status s =
      Gatherv(comm, std::span<const int64_t>(send), std::span<int64_t>(recv), options);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("lies outside recv"), std::string::npos) << s.message();
  // The communicator is still in step afterwards.
  EXPECT_TRUE(AgreeOnStatus(comm, Status::Ok()).ok());
}

TEST_P(CollectivesTest, BcastBarrierSendRecv) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const int root = p - 1;
  std::vector<float> data(9, -1.0f);
  if (me == root) std::iota(data.begin(), data.end(), 0.5f);
  ASSERT_TRUE(Bcast(comm, std::span<float>(data), {root}).ok());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(data[static_cast<size_t>(i)], 0.5f + i);
  EXPECT_TRUE(Barrier(comm).ok());
  // A ring: each rank sends to the next and receives from the previous.
  if (p > 1) {
    std::vector<int64_t> out(7), in(7, -1);
    for (int i = 0; i < 7; ++i) out[static_cast<size_t>(i)] = Tag(me, (me + 1) % p, i);
    const int next = (me + 1) % p, prev = (me + p - 1) % p;
    if (me % 2 == 0) {
      ASSERT_TRUE(Send(comm, std::span<const int64_t>(out), {next, 3}).ok());
      ASSERT_TRUE(Recv(comm, std::span<int64_t>(in), {prev, 3}).ok());
    } else {
      ASSERT_TRUE(Recv(comm, std::span<int64_t>(in), {prev, 3}).ok());
      ASSERT_TRUE(Send(comm, std::span<const int64_t>(out), {next, 3}).ok());
    }
    for (int i = 0; i < 7; ++i) EXPECT_EQ(in[static_cast<size_t>(i)], Tag(prev, me, i));
  }
}

TEST_P(CollectivesTest, ExchangeBlocksScattersIntoPlace) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  // To every peer (itself included): an empty block, then a block of PairCount + 1
  // elements. Received blocks are scattered in reverse peer order with gaps.
  std::vector<BlockTransfer> sends, recvs;
  std::vector<int64_t> send;
  for (int r = 0; r < p; ++r) {
    sends.push_back({r, static_cast<int64_t>(send.size()), 0});
    const int64_t n = PairCount(me, r) + 1;
    sends.push_back({r, static_cast<int64_t>(send.size()), n});
    for (int64_t i = 0; i < n; ++i) send.push_back(Tag(me, r, i));
  }
  int64_t at = 0;
  std::vector<int64_t> where(static_cast<size_t>(p));
  for (int r = p - 1; r >= 0; --r) {
    at += 2;  // a gap
    where[static_cast<size_t>(r)] = at;
    at += PairCount(r, me) + 1;
  }
  for (int r = 0; r < p; ++r) {
    recvs.push_back({r, where[static_cast<size_t>(r)], 0});
    recvs.push_back({r, where[static_cast<size_t>(r)], PairCount(r, me) + 1});
  }
  std::vector<int64_t> recv(static_cast<size_t>(at), -7);
  ASSERT_TRUE(comm.ExchangeBlocks(send.data(), sends.data(),
                                  static_cast<int64_t>(sends.size()), recv.data(),
                                  recvs.data(), static_cast<int64_t>(recvs.size()),
                                  CollDType::kInt64)
                  .ok());
  std::vector<int64_t> expected(recv.size(), -7);
  for (int r = 0; r < p; ++r) {
    for (int64_t i = 0; i <= PairCount(r, me); ++i) {
      expected[static_cast<size_t>(where[static_cast<size_t>(r)] + i)] = Tag(r, me, i);
    }
  }
  EXPECT_EQ(recv, expected);
}

INSTANTIATE_TEST_SUITE_P(ChunkLimits, CollectivesTest, ::testing::Values(INT32_MAX, 2),
                         [](const auto& info) {
                           return info.param == INT32_MAX ? std::string("direct")
                                                          : std::string("chunked");
                         });

TEST(CollectiveErrorsTest, TruncatedMessageIsAStatusNamingCallAndRank) {
  MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  if (p < 2) GTEST_SKIP() << "needs two ranks";
  if (me == 0) {
    std::vector<int32_t> ten(10, 1);
    EXPECT_TRUE(Send(comm, std::span<const int32_t>(ten), {1, 5}).ok());
  } else if (me == 1) {
    std::vector<int32_t> five(5);
    Status s = Recv(comm, std::span<int32_t>(five), {0, 5});
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("MPI_Recv"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("rank 1 of"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("TRUNCATE"), std::string::npos) << s.ToString();
  }
  EXPECT_TRUE(Barrier(comm).ok());
}

TEST(CollectiveErrorsTest, BadArgumentsAreRejectedBeforeMpi) {
  MpiCommunicator& comm = World();
  std::vector<int32_t> a(3), b(4);
  EXPECT_EQ(Allreduce(comm, std::span<const int32_t>(a), std::span<int32_t>(b)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Bcast(comm, std::span<int32_t>(a), {comm.size()}).code(),
            StatusCode::kInvalidArgument);
  std::vector<int64_t> counts(static_cast<size_t>(comm.size()), 1000),
      displs(counts.size(), 0);
  EXPECT_EQ(Alltoallv(comm, std::span<const int32_t>(a), std::span<int32_t>(b),
                      {counts, displs, counts, displs})
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Send(comm, std::span<const int32_t>(a), {0, 40000}).code(),
            StatusCode::kInvalidArgument);
}

TEST(CollectiveErrorsTest, AgreeOnStatusTellsEveryRank) {
  MpiCommunicator& comm = World();
  const Status local =
      comm.rank() == comm.size() - 1 ? InternalError("boom") : Status::Ok();
  Status agreed = AgreeOnStatus(comm, local);
  EXPECT_FALSE(agreed.ok());
  if (comm.rank() == comm.size() - 1) {
    EXPECT_EQ(agreed.message(), "boom");
  } else {
    EXPECT_EQ(agreed.message(), "rank " + std::to_string(comm.size() - 1) + ": boom");
    EXPECT_EQ(agreed.code(), StatusCode::kInternal);
  }
  // Two failing ranks: each keeps its own error, the others hear the lowest one's.
  if (comm.size() >= 3) {
    const Status mine = comm.rank() >= 1
                            ? NotFoundError("r" + std::to_string(comm.rank()))
                            : Status::Ok();
    const Status both = AgreeOnStatus(comm, mine);
    if (comm.rank() == 0) {
      EXPECT_EQ(both.message(), "rank 1: r1");
      EXPECT_EQ(both.code(), StatusCode::kNotFound);
    } else {
      EXPECT_EQ(both.message(), "r" + std::to_string(comm.rank()));
    }
  }
  EXPECT_TRUE(AgreeOnStatus(comm, Status::Ok()).ok());
}

}  // namespace
}  // namespace mpimoe::parallel
