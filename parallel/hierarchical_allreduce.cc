// hierarchical_allreduce.cc: see hierarchical_allreduce.h.
#include "parallel/hierarchical_allreduce.h"

namespace mpimoe::parallel {

Status HierarchicalAllreduce(Communicator& node, Communicator* leaders, const void* send,
                             void* recv, int64_t count, CollDType dtype, ReduceOp op) {
  const bool leader = node.rank() == 0;
  if (leader != (leaders != nullptr)) {
    return InternalError("HierarchicalAllreduce: node rank " +
                         std::to_string(node.rank()) + (leader ? " has no" : " has a") +
                         " leaders' communicator");
  }
  MPIMOE_RETURN_IF_ERROR(node.Reduce(send, recv, count, dtype, op, /*root=*/0)
                             .WithContext("within the node"));
  if (leader && leaders->size() > 1) {
    MPIMOE_RETURN_IF_ERROR(leaders->Allreduce(recv, recv, count, dtype, op)
                               .WithContext("across node leaders"));
  }
  return node.Bcast(recv, count, dtype, /*root=*/0).WithContext("back within the node");
}

}  // namespace mpimoe::parallel
