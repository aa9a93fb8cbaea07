#include "parallel/collectives.h"

namespace mpimoe::parallel {

Status AgreeOnStatus(Communicator& comm, const Status& local) {
  int32_t failed_ranks = local.ok() ? 0 : 1;
  Status reduce = AllreduceInPlace(comm, std::span<int32_t>(&failed_ranks, 1));
  if (!reduce.ok()) return reduce;
  if (!local.ok()) return local;
  if (failed_ranks > 0) {
    return InternalError(std::to_string(failed_ranks) + " other rank(s) failed");
  }
  return Status::Ok();
}

}  // namespace mpimoe::parallel
