// The MPI test harness's shared objects: the MpiEnvironment and a world communicator,
// created by mpi_test_main.cc before any test runs and destroyed after the last one.
// Tests reach them through these functions (the harness owns them; tests borrow).
//
// Harness rules for MPI tests: every rank runs every test; put collectives before
// fatal assertions (use EXPECT_* around collectives) so that no rank leaves a test early
// while the others wait in a collective. The harness all-reduces the failure count at
// the end so that all ranks agree on pass/fail, and ctest kills a hung job by timeout.
#pragma once

#include "parallel/mpi_communicator.h"
#include "parallel/mpi_environment.h"

namespace mpimoe::testing {

parallel::MpiEnvironment& Env();
parallel::MpiCommunicator& World();

}  // namespace mpimoe::testing
