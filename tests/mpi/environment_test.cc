// MPI tests of parallel/mpi_environment.h and communicator management: node-local
// rank/size on one node, the thread count rule, and Split.
#include <gtest/gtest.h>

#include <cstdlib>

#include "parallel/mpi_environment.h"
#include "runtime/core/omp.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/mpi/test_compare.h"

namespace mpimoe::parallel {
namespace {

using mpimoe::testing::Env;
using mpimoe::testing::SumOverRanks;
using mpimoe::testing::World;

TEST(MpiEnvironmentTest, OneNodeMeansLocalEqualsWorld) {
  // ctest runs every rank on this machine.
  EXPECT_EQ(Env().local_size(), Env().world_size());
  EXPECT_EQ(Env().local_rank(), Env().world_rank());
  EXPECT_EQ(World().size(), Env().world_size());
  EXPECT_EQ(World().rank(), Env().world_rank());
}

TEST(MpiEnvironmentTest, ThreadsFollowOmpNumThreadsWhenSet) {
  ASSERT_NE(std::getenv("OMP_NUM_THREADS"), nullptr) << "ctest sets OMP_NUM_THREADS=1";
  EXPECT_EQ(Env().threads_per_rank(), std::atoi(std::getenv("OMP_NUM_THREADS")));
  EXPECT_EQ(MaxThreads(), Env().threads_per_rank());
}

TEST(MpiCommunicatorTest, SplitFormsIndependentGroups) {
  MpiCommunicator& world = World();
  const int color = world.rank() % 2;
  auto sub = world.Split(color, world.rank());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  const int expected_size = (world.size() + 1 - color) / 2;
  EXPECT_EQ(sub->size(), expected_size);
  EXPECT_EQ(sub->rank(), world.rank() / 2);
  int64_t expected = 0;
  for (int r = color; r < world.size(); r += 2) expected += r;
  EXPECT_EQ(SumOverRanks(*sub, world.rank()), expected);
}

}  // namespace
}  // namespace mpimoe::parallel
