// MPI tests of the expert-parallel dispatcher: with identity experts, dispatch then
// combine returns every row exactly, for uneven counts, ranks that send nothing,
// experts that receive nothing, E < P and E not divisible by P; and each expert slot
// receives exactly the rows addressed to it, grouped by source rank in rank order.
#include <gtest/gtest.h>

#include <vector>

#include "parallel/collectives.h"
#include "runtime/core/random.h"
#include "runtime/moe/expert_parallel_dispatcher.h"
#include "tests/mpi/mpi_test_env.h"

namespace mpimoe::moe {
namespace {

using mpimoe::testing::World;

constexpr int64_t kD = 3;  // row width

// Row i of rank `src` going to `bucket`: its values encode all three.
float Encode(int src, int64_t bucket, int64_t i, int64_t c) {
  return static_cast<float>(src * 100000 + bucket * 1000 + i * kD + c);
}

class DispatcherTest : public ::testing::TestWithParam<int> {};

TEST_P(DispatcherTest, IdentityRoundTripAndSlotGrouping) {
  parallel::MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const int32_t num_experts = GetParam();
  const parallel::Plan plan = parallel::StaticPlan(num_experts, p);
  auto made = ExpertParallelDispatcher::Create(&comm, plan);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ExpertParallelDispatcher& dispatcher = **made;
  const int64_t num_buckets = dispatcher.num_buckets();
  ASSERT_EQ(num_buckets, num_experts);

  for (int round = 0; round < 3; ++round) {
    // Uneven rows per bucket; rank 0 sends nothing in round 1; bucket 0 gets nothing
    // in round 2.
    Rng rng(MixSeed(42, {static_cast<uint64_t>(me), static_cast<uint64_t>(round)}));
    std::vector<int64_t> offsets(static_cast<size_t>(num_buckets) + 1, 0);
    for (int64_t b = 0; b < num_buckets; ++b) {
      int64_t rows = static_cast<int64_t>(rng.Below(5));
      if (round == 1 && me == 0) rows = 0;
      if (round == 2 && b == 0) rows = 0;
      offsets[static_cast<size_t>(b) + 1] = offsets[static_cast<size_t>(b)] + rows;
    }
    const int64_t num_rows = offsets.back();
    std::vector<float> send(static_cast<size_t>(num_rows * kD));
    for (int64_t b = 0; b < num_buckets; ++b) {
      for (int64_t i = offsets[static_cast<size_t>(b)];
           i < offsets[static_cast<size_t>(b) + 1]; ++i) {
        for (int64_t c = 0; c < kD; ++c)
          send[static_cast<size_t>(i * kD + c)] = Encode(me, b, i, c);
      }
    }
    DispatchHandle handle;
    ASSERT_TRUE(dispatcher.Prepare(offsets.data(), &handle).ok());
    EXPECT_EQ(handle.num_send_rows, num_rows);
    std::vector<float> recv(static_cast<size_t>(handle.num_recv_rows * kD));
    ASSERT_TRUE(dispatcher.ToExperts(handle, send.data(), recv.data(), kD).ok());

    // Each local slot holds only rows for its bucket, sources in non-decreasing order.
    const std::vector<int64_t> begins = plan.BucketBegins();
    int64_t expected_recv = 0;
    std::vector<int64_t> all_offsets(static_cast<size_t>(p) * offsets.size());
    EXPECT_TRUE(parallel::Allgather(comm, std::span<const int64_t>(offsets),
                                    std::span<int64_t>(all_offsets))
                    .ok());
    for (int64_t s = 0; s < dispatcher.num_local_slots(); ++s) {
      const int64_t bucket = begins[static_cast<size_t>(me)] + s;
      int64_t expected_slot_rows = 0;
      for (int q = 0; q < p; ++q) {
        const size_t base = static_cast<size_t>(q) * offsets.size();
        expected_slot_rows += all_offsets[base + static_cast<size_t>(bucket) + 1] -
                              all_offsets[base + static_cast<size_t>(bucket)];
      }
      const int64_t lo = handle.recv_slot_offsets[static_cast<size_t>(s)];
      const int64_t hi = handle.recv_slot_offsets[static_cast<size_t>(s) + 1];
      EXPECT_EQ(hi - lo, expected_slot_rows) << "slot " << s;
      expected_recv += expected_slot_rows;
      int last_src = -1;
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t v = static_cast<int64_t>(recv[static_cast<size_t>(i * kD)]);
        const int src = static_cast<int>(v / 100000);
        EXPECT_EQ((v % 100000) / 1000, bucket) << "row " << i << " in the wrong slot";
        EXPECT_GE(src, last_src) << "sources out of rank order";
        last_src = src;
      }
    }
    EXPECT_EQ(handle.num_recv_rows, expected_recv);

    // Identity experts: send the rows straight back.
    std::vector<float> back(send.size(), -1.0f);
    ASSERT_TRUE(dispatcher.FromExperts(handle, recv.data(), back.data(), kD).ok());
    EXPECT_EQ(back, send);
  }
}

// E = 1, 3, 4, 5, 8: E < P, E == P, E not divisible by P, E > P (depends on world size).
INSTANTIATE_TEST_SUITE_P(Experts, DispatcherTest, ::testing::Values(1, 3, 4, 5, 8));

// The bf16 wire: every row arrives as the bf16 rounding of what the f32 wire delivers,
// and comes back as the rounding of what was sent (rounding twice = rounding once).
TEST(DispatcherWireTest, Bf16WireDeliversTheRoundedRows) {
  parallel::MpiCommunicator& comm = World();
  const int p = comm.size(), me = comm.rank();
  const parallel::Plan plan = parallel::StaticPlan(5, p);
  auto f32 = ExpertParallelDispatcher::Create(&comm, plan);
  auto bf16 = ExpertParallelDispatcher::Create(&comm, plan, WireDType::kBF16);
  ASSERT_TRUE(f32.ok() && bf16.ok());
  EXPECT_EQ((*bf16)->wire_dtype(), WireDType::kBF16);
  const int64_t d = 7, buckets = (*f32)->num_buckets();
  std::vector<int64_t> offsets(static_cast<size_t>(buckets) + 1, 0);
  for (int64_t b = 0; b < buckets; ++b)
    offsets[static_cast<size_t>(b) + 1] =
        offsets[static_cast<size_t>(b)] + 1 + (b + me) % 3;
  Rng rng(MixSeed(9, {static_cast<uint64_t>(me)}));
  std::vector<float> send(static_cast<size_t>(offsets.back() * d));
  for (float& x : send) x = rng.Uniform() * 2.0f - 1.0f;
  DispatchHandle handle_f32, handle_bf16;
  ASSERT_TRUE((*f32)->Prepare(offsets.data(), &handle_f32).ok());
  ASSERT_TRUE((*bf16)->Prepare(offsets.data(), &handle_bf16).ok());
  const size_t recv_size = static_cast<size_t>(handle_f32.num_recv_rows * d);
  std::vector<float> exact(recv_size), rounded(recv_size);
  ASSERT_TRUE((*f32)->ToExperts(handle_f32, send.data(), exact.data(), d).ok());
  ASSERT_TRUE((*bf16)->ToExperts(handle_bf16, send.data(), rounded.data(), d).ok());
  int64_t changed = 0;
  for (size_t i = 0; i < recv_size; ++i) {
    EXPECT_EQ(rounded[i], Bf16ToFloat(FloatToBf16(exact[i]))) << "element " << i;
    changed += rounded[i] != exact[i];
  }
  EXPECT_GT(changed, 0);  // random values are rarely bf16 values already
  std::vector<float> back(send.size());
  ASSERT_TRUE((*bf16)->FromExperts(handle_bf16, rounded.data(), back.data(), d).ok());
  for (size_t i = 0; i < send.size(); ++i)
    EXPECT_EQ(back[i], Bf16ToFloat(FloatToBf16(send[i]))) << "element " << i;
}

TEST(DispatcherPlanTest, RejectsPlanForOtherWorldSize) {
  parallel::MpiCommunicator& comm = World();
  auto made =
      ExpertParallelDispatcher::Create(&comm, parallel::StaticPlan(4, comm.size() + 1));
  EXPECT_FALSE(made.ok());
}

}  // namespace
}  // namespace mpimoe::moe
