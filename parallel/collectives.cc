#include "parallel/collectives.h"

namespace mpimoe::parallel {

Status AgreeOnStatus(Communicator& comm, const Status& local) {
  // The lowest failing rank speaks for all: its code and message go to every rank.
  int32_t first = local.ok() ? comm.size() : comm.rank();
  MPIMOE_RETURN_IF_ERROR(
      AllreduceInPlace(comm, std::span<int32_t>(&first, 1), {ReduceOp::kMin}));
  if (first == comm.size()) return Status::Ok();
  std::string message = comm.rank() == first ? local.message() : std::string();
  int64_t header[2] = {static_cast<int64_t>(local.code()),
                       static_cast<int64_t>(message.size())};
  MPIMOE_RETURN_IF_ERROR(Bcast(comm, std::span<int64_t>(header, 2), {first}));
  message.resize(static_cast<size_t>(header[1]));
  MPIMOE_RETURN_IF_ERROR(
      Bcast(comm, std::span<char>(message.data(), message.size()), {first}));
  if (comm.rank() == first) return local;
  // A rank that failed itself keeps its own error; the others report rank `first`'s.
  if (!local.ok()) return local;
  return Status(static_cast<StatusCode>(header[0]),
                "rank " + std::to_string(first) + ": " + message);
}

}  // namespace mpimoe::parallel
