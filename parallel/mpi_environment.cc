#include "parallel/mpi_environment.h"

#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "runtime/core/logging.h"
#include "runtime/core/omp.h"

namespace mpimoe::parallel {
namespace {

std::string ErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

int AffinityCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}

}  // namespace

StatusOr<std::unique_ptr<MpiEnvironment>> MpiEnvironment::Init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return InternalError("MPI_Init_thread: MPI is already initialised");
  int provided = MPI_THREAD_SINGLE;
  int code = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (code != MPI_SUCCESS)
    return InternalError("MPI_Init_thread failed: " + ErrorString(code));
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::unique_ptr<MpiEnvironment> env(new MpiEnvironment());
  if (provided < MPI_THREAD_FUNNELED) {
    return InternalError("MPI_Init_thread: the MPI library provides thread level " +
                         std::to_string(provided) + ", mpimoe needs MPI_THREAD_FUNNELED");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &env->world_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &env->world_size_);
  SetProcessLabel("rank " + std::to_string(env->world_rank_));

  MPI_Comm node = MPI_COMM_NULL;
  code = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, env->world_rank_,
                             MPI_INFO_NULL, &node);
  if (code != MPI_SUCCESS) {
    return InternalError("MPI_Comm_split_type failed on rank " +
                         std::to_string(env->world_rank_) + ": " + ErrorString(code));
  }
  MPI_Comm_rank(node, &env->local_rank_);
  MPI_Comm_size(node, &env->local_size_);
  MPI_Comm_free(&node);

  if (std::getenv("OMP_NUM_THREADS") != nullptr) {
    env->threads_per_rank_ = MaxThreads();
  } else {
    const int node_cores =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    int threads = std::max(1, node_cores / env->local_size_);
    const int allowed = AffinityCores();  // mpirun may bind a rank to fewer cores
    if (allowed > 0) threads = std::min(threads, allowed);
    env->threads_per_rank_ = threads;
    SetNumThreads(threads);
  }
  return env;
}

MpiEnvironment::~MpiEnvironment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiEnvironment::Abort(int exit_code, const std::string& message) const {
  if (!message.empty()) LogError(message);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

}  // namespace mpimoe::parallel
