// mpimoe-abort-probe: a job in which one rank fails a check while the others wait in a
// collective. Used by the abort test: mpirun must end the whole job, non-zero, quickly.
#include <cstdio>
#include <cstdlib>

#include "parallel/collectives.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_environment.h"
#include "runtime/core/check.h"

int main(int argc, char** argv) {
  auto env = mpimoe::parallel::MpiEnvironment::Init(&argc, &argv);
  if (!env.ok()) return 1;
  auto world = mpimoe::parallel::MpiCommunicator::World(**env);
  if (!world.ok()) (*env)->Abort(1, world.status().ToString());
  const int failing_rank = world->size() - 1;
  if (world->rank() == failing_rank) {
    MPIMOE_CHECK_MSG(false, "abort probe: this rank fails on purpose");
  }
  // The others block here; only the job's teardown can end them.
  mpimoe::Status s = mpimoe::parallel::Barrier(*world);
  std::fprintf(stderr, "abort probe: barrier returned %s (should not happen)\n",
               s.ToString().c_str());
  return 0;
}
