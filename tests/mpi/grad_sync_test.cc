// MPI tests of GradSync (runtime/train/grad_sync.h): buckets start during the backward
// as their parameters become final, strictly in bucket order; Finish gives the exact
// sums over ranks, the same as the all-reduce after the backward; Drain abandons a step
// without touching the gradients.
#include "runtime/train/grad_sync.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "tests/mpi/mpi_test_env.h"

namespace mpimoe::train {
namespace {

using mpimoe::testing::World;

// Five parameters; with 8 KB buckets: {p0, p1, p2}, {p3}, {p4}.
struct Params {
  std::vector<std::unique_ptr<Parameter>> owned;
  std::vector<Parameter*> all;
  Params() {
    const int64_t sizes[] = {3, 1000, 7, 300000, 11};
    for (int i = 0; i < 5; ++i) {
      owned.push_back(std::make_unique<Parameter>("p" + std::to_string(i),
                                                  std::vector<int64_t>{sizes[i]}));
      all.push_back(owned.back().get());
    }
  }
  // Small integers, so that every sum is exact.
  void Fill(int rank) {
    for (size_t p = 0; p < all.size(); ++p) {
      float* g = all[p]->grad.data<float>();
      for (int64_t i = 0; i < all[p]->grad.numel(); ++i)
        g[i] = static_cast<float>((i + static_cast<int64_t>(p) + rank) % 5);
    }
  }
  // Whether every gradient is the sum over `ranks` of Fill's values (or rank `only`'s).
  bool Holds(int ranks, int only = -1) const {
    for (size_t p = 0; p < all.size(); ++p) {
      const float* g = all[p]->grad.data<float>();
      for (int64_t i = 0; i < all[p]->grad.numel(); ++i) {
        float expected = 0.f;
        for (int r = 0; r < ranks; ++r) {
          if (only < 0 || r == only)
            expected += static_cast<float>((i + static_cast<int64_t>(p) + r) % 5);
        }
        if (g[i] != expected) return false;
      }
    }
    return true;
  }
};

TEST(GradSyncTest, BucketsStartInOrderAsTheyBecomeFinal) {
  parallel::MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  Params params;
  GradSync sync(&comm, params.all, 8 * 1024);
  ASSERT_EQ(sync.num_buckets(), 3);
  params.Fill(me);
  sync.BeginStep();
  EXPECT_TRUE(sync.Ready({params.all.data(), 1}).ok());  // p0: bucket 0 still waits
  EXPECT_EQ(sync.buckets_started_early(), 0);
  EXPECT_TRUE(sync.Ready({params.all.data() + 1, 2}).ok());  // p1, p2: bucket 0 starts
  EXPECT_EQ(sync.buckets_started_early(), p > 1 ? 1 : 0);
  EXPECT_TRUE(sync.Ready({params.all.data() + 4, 1}).ok());  // p4: waits for bucket 1
  EXPECT_EQ(sync.buckets_started_early(), p > 1 ? 1 : 0);
  EXPECT_TRUE(sync.Ready({params.all.data() + 3, 1}).ok());  // p3: buckets 1 and 2 start
  EXPECT_EQ(sync.buckets_started_early(), p > 1 ? 3 : 0);
  EXPECT_TRUE(sync.Finish().ok());
  EXPECT_TRUE(params.Holds(p));

  // The same sums as the all-reduce after the backward, bit for bit.
  Params again;
  again.Fill(me);
  GradSync after(&comm, again.all, 8 * 1024);
  EXPECT_TRUE(after.AllReduce().ok());
  for (size_t q = 0; q < params.all.size(); ++q) {
    EXPECT_EQ(0, std::memcmp(params.all[q]->grad.data<float>(),
                             again.all[q]->grad.data<float>(),
                             static_cast<size_t>(params.all[q]->grad.size_bytes())));
  }
}

TEST(GradSyncTest, DrainLeavesTheGradientsAlone) {
  parallel::MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  Params params;
  GradSync sync(&comm, params.all, 8 * 1024);
  params.Fill(me);
  sync.BeginStep();
  EXPECT_TRUE(sync.Ready({params.all.data(), 3}).ok());  // bucket 0 in flight
  sync.Drain();
  EXPECT_TRUE(params.Holds(p, me));  // still this rank's own values
  // The next step runs normally.
  sync.BeginStep();
  EXPECT_TRUE(sync.Finish().ok());
  EXPECT_TRUE(params.Holds(p));
}

}  // namespace
}  // namespace mpimoe::train
