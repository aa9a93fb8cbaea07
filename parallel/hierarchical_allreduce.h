// HierarchicalAllreduce: a two-level all-reduce over a node communicator and a
// communicator of node leaders, so that only one rank per node sends over the network.
//
//   1. reduce within the node to its rank 0 (shared memory);
//   2. the node leaders all-reduce among themselves (the network);
//   3. each leader broadcasts the result within its node.
//
// The result is the same on every rank; it may differ from a flat all-reduce in the
// last bits of floating-point sums (another summation order), and is deterministic for
// a fixed topology. MpiCommunicator uses it for AllreduceAlgorithm::kHierarchical; it is
// written against the Communicator interface so that any pair of groups can drive it.
//
// Thread-safety: the calling thread owns both communicators (communicator.h).
#pragma once

#include <cstdint>

#include "parallel/communicator.h"

namespace mpimoe::parallel {

// `node`: this rank's node (its rank 0 is the leader); `leaders`: the leaders' group,
// non-null exactly on node rank 0. send/recv: [count] of `dtype`; send == recv is in
// place. Collective over every rank of every node.
Status HierarchicalAllreduce(Communicator& node, Communicator* leaders, const void* send,
                             void* recv, int64_t count, CollDType dtype, ReduceOp op);

}  // namespace mpimoe::parallel
