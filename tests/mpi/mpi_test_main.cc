// gtest main for tests run under mpirun: initialises MPI through MpiEnvironment, keeps
// gtest's output on rank 0 only (other ranks print their failures, prefixed by rank),
// and makes every rank exit with the same code: non-zero if any rank had a failure.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "parallel/collectives.h"
#include "runtime/core/logging.h"
#include "tests/mpi/mpi_test_env.h"

namespace mpimoe::testing {
namespace {

std::unique_ptr<parallel::MpiEnvironment> g_env;  // owned by main, see header
std::unique_ptr<parallel::MpiCommunicator> g_world;

// On ranks other than 0: print only failures, labelled with the rank.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

}  // namespace

parallel::MpiEnvironment& Env() { return *g_env; }
parallel::MpiCommunicator& World() { return *g_world; }

}  // namespace mpimoe::testing

int main(int argc, char** argv) {
  using mpimoe::testing::g_env;
  using mpimoe::testing::g_world;
  auto env = mpimoe::parallel::MpiEnvironment::Init(&argc, &argv);
  if (!env.ok()) {
    std::fprintf(stderr, "%s\n", env.status().ToString().c_str());
    return 1;
  }
  g_env = std::move(env).value();
  auto world = mpimoe::parallel::MpiCommunicator::World(*g_env);
  if (!world.ok()) g_env->Abort(1, world.status().ToString());
  g_world = std::make_unique<mpimoe::parallel::MpiCommunicator>(std::move(world).value());

  ::testing::InitGoogleTest(&argc, argv);
  const int rank = g_world->rank();
  if (rank != 0) {
    ::testing::TestEventListeners& listeners =
        ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new mpimoe::testing::FailurePrinter(rank));
  }
  const int local_result = RUN_ALL_TESTS();
  int32_t failed = local_result == 0 ? 0 : 1;
  mpimoe::Status agree = mpimoe::parallel::AllreduceInPlace(
      *g_world, std::span<int32_t>(&failed, 1), {mpimoe::parallel::ReduceOp::kMax});
  if (!agree.ok()) g_env->Abort(1, agree.ToString());
  if (rank == 0) {
    std::printf("mpi tests on %d ranks: %s\n", g_world->size(),
                failed == 0 ? "all ranks passed" : "a rank failed");
  }
  g_world.reset();
  g_env.reset();
  return failed == 0 ? 0 : 1;
}
