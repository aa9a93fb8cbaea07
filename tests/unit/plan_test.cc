// Tests of parallel/plan.h: the static placement for any E and P (E < P, E not
// divisible by P), bucket numbering, and validation of broken plans.
#include "parallel/plan.h"

#include <gtest/gtest.h>

namespace mpimoe::parallel {
namespace {

TEST(PlanTest, StaticPlanCoversEveryExpertOnce) {
  for (int32_t p = 1; p <= 6; ++p) {
    for (int32_t e = 1; e <= 13; ++e) {
      const Plan plan = StaticPlan(e, p);
      ASSERT_TRUE(plan.Validate().ok()) << plan.DebugString();
      int32_t most = 0, least = e;
      for (int32_t r = 0; r < p; ++r) {
        most = std::max(most, plan.num_slots(r));
        least = std::min(least, plan.num_slots(r));
      }
      EXPECT_LE(most - least, 1) << "unbalanced " << plan.DebugString();
      EXPECT_EQ(plan.BucketBegins().back(), e);
      // Static placement is contiguous: expert e's home bucket is e.
      const std::vector<int32_t> buckets = plan.HomeBuckets();
      for (int32_t x = 0; x < e; ++x) EXPECT_EQ(buckets[static_cast<size_t>(x)], x);
    }
  }
}

TEST(PlanTest, FewerExpertsThanRanksLeavesRanksEmpty) {
  const Plan plan = StaticPlan(3, 5);
  EXPECT_EQ(plan.num_slots(0), 1);
  EXPECT_EQ(plan.num_slots(2), 1);
  EXPECT_EQ(plan.num_slots(3), 0);
  EXPECT_EQ(plan.num_slots(4), 0);
  EXPECT_EQ(plan.max_slots_per_rank(), 1);
  EXPECT_EQ(plan.BucketBegins(), (std::vector<int64_t>{0, 1, 2, 3, 3, 3}));
}

TEST(PlanTest, UnevenSplitGivesFirstRanksOneMore) {
  const Plan plan = StaticPlan(7, 3);
  EXPECT_EQ(plan.rank_slots[0], (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(plan.rank_slots[1], (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(plan.rank_slots[2], (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(plan.homes[4].rank, 1);
  EXPECT_EQ(plan.homes[4].slot, 1);
}

TEST(PlanTest, ValidateRejectsBrokenPlans) {
  Plan plan = StaticPlan(4, 2);
  plan.rank_slots[1].push_back(0);  // a replica of expert 0 on rank 1: fine
  EXPECT_TRUE(plan.Validate().ok()) << plan.Validate().ToString();
  EXPECT_FALSE(plan.IsHome(1, 2));
  EXPECT_EQ(plan.ExpertCopies()[0], (std::vector<int32_t>{0, 4}));
  EXPECT_EQ(plan.ReplicasPerRank(), (std::vector<int32_t>{0, 1}));
  plan.rank_slots[0].push_back(0);  // a second copy of expert 0 on its home rank
  Status twice = plan.Validate();
  EXPECT_FALSE(twice.ok());
  EXPECT_NE(twice.message().find("two copies of expert 0"), std::string::npos) << twice.ToString();
  plan = StaticPlan(4, 2);
  plan.homes[3].slot = 0;  // home disagrees with the slot table
  EXPECT_FALSE(plan.Validate().ok());
  plan = StaticPlan(4, 2);
  plan.rank_slots[0][0] = 9;  // unknown expert
  Status s = plan.Validate();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown expert 9"), std::string::npos);
}

TEST(PlanTest, HomeOnlyQuotasSendEverythingHome) {
  Plan plan = StaticPlan(3, 2);
  plan.rank_slots[1].push_back(0);  // expert 0 replicated on rank 1
  ASSERT_TRUE(plan.Validate().ok());
  const std::vector<int64_t> counts = {5, 1, 2,   // source rank 0, experts 0..2
                                       7, 0, 4};  // source rank 1
  const QuotaTable q = HomeOnlyQuotas(plan, counts);
  EXPECT_EQ(q.get(0, 0, 0), 5);
  EXPECT_EQ(q.get(0, 0, 1), 7);
  EXPECT_EQ(q.get(0, 1, 0), 0);  // the replica gets nothing
  EXPECT_EQ(q.get(0, 1, 1), 0);
  EXPECT_EQ(q.get(2, 0, 1), 4);
}

}  // namespace
}  // namespace mpimoe::parallel
