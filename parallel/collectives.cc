#include "parallel/collectives.h"

#include <cstring>

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

namespace mpimoe::parallel::internal {

Status GathervBytes(Communicator& comm, const Status& root_checks, const void* send,
                    int64_t count, void* recv, const GathervOptions& o, CollDType dtype) {
  if (o.root < 0 || o.root >= comm.size()) {
    return SizeError("Gatherv", "root " + std::to_string(o.root) + " out of range");
  }
  MPIMOE_RETURN_IF_ERROR(AgreeOnStatus(comm, root_checks));
  if (comm.rank() != o.root) {
    return comm.Send(send, count, dtype, o.root, o.tag).WithContext("Gatherv");
  }
  const int64_t element_bytes = CollDTypeSizeBytes(dtype);
  char* out = static_cast<char*>(recv);
  for (int r = 0; r < comm.size(); ++r) {
    const size_t ru = static_cast<size_t>(r);
    if (r == o.root) {
      if (count > 0) {
        std::memmove(out + o.recv_displs[ru] * element_bytes, send,
                     static_cast<size_t>(count * element_bytes));
      }
      continue;
    }
    MPIMOE_RETURN_IF_ERROR(comm.Recv(out + o.recv_displs[ru] * element_bytes,
                                     o.recv_counts[ru], dtype, r, o.tag)
                               .WithContext("Gatherv from rank " + std::to_string(r)));
  }
  return Status::Ok();
}

}  // namespace mpimoe::parallel::internal
