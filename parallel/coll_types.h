// Element types and reduction operators of mpimoe's collectives, and the mapping from
// C++ types to them. Plain enums, no MPI: the typed front ends (collectives.h) and the
// byte-level back ends (Communicator implementations) meet here.
//
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "runtime/core/dtype.h"

namespace mpimoe::parallel {

// kBFloat16 is moved, never reduced (a bf16 wire format; reductions reject it).
enum class CollDType : uint8_t { kByte, kInt32, kInt64, kFloat32, kFloat64, kBFloat16 };
enum class ReduceOp : uint8_t { kSum, kMax, kMin };

// How Allreduce and StartAllreduce combine the ranks (parallel.allreduce_algorithm):
// kFlat is one MPI all-reduce over every rank; kHierarchical reduces within each node
// to its first rank, all-reduces across those node leaders and broadcasts back within
// the node, so only one rank per node sends over the network; kAuto is kHierarchical
// when the communicator spans several nodes, some node has several ranks and the nodes'
// ranks are not consecutive (e.g. mpirun --map-by node), else kFlat. With consecutive
// ranks, MPI's ring all-reduce already crosses each node boundary once and was faster
// on the test bed (seeds/design-record.md, "Node-aware all-reduce").
enum class AllreduceAlgorithm : uint8_t { kAuto, kFlat, kHierarchical };

// How ExchangeBlocks (the MoE layers' token exchange) moves blocks between nodes
// (parallel.a2a_algorithm): kDirect sends every block to its rank; kHierarchical
// (parallel/hierarchical_exchange.h) gathers a node's blocks for each other node's
// rank j at the node's rank j, which sends them in one message (where it applies:
// several nodes, equal ranks per node, more than one per node; else direct). kAuto is
// kDirect for now: the two hops move the same bytes plus two copies, and measured
// faster only for tiny exchanges (seeds/design-record.md, "Node-aware exchange").
enum class AlltoallAlgorithm : uint8_t { kAuto, kDirect, kHierarchical };

// Algorithm choices of a communicator's collectives (Communicator::set_options).
struct CollectiveOptions {
  AllreduceAlgorithm allreduce = AllreduceAlgorithm::kAuto;
  AlltoallAlgorithm alltoall = AlltoallAlgorithm::kAuto;
};

constexpr int64_t CollDTypeSizeBytes(CollDType dtype) {
  switch (dtype) {
    case CollDType::kByte:
      return 1;
    case CollDType::kBFloat16:
      return 2;
    case CollDType::kInt32:
    case CollDType::kFloat32:
      return 4;
    case CollDType::kInt64:
    case CollDType::kFloat64:
      return 8;
  }
  return 0;
}

template <typename T>
struct CollDTypeOf;
template <>
struct CollDTypeOf<uint8_t> {
  static constexpr CollDType value = CollDType::kByte;
};
template <>
struct CollDTypeOf<char> {
  static constexpr CollDType value = CollDType::kByte;
};
template <>
struct CollDTypeOf<int32_t> {
  static constexpr CollDType value = CollDType::kInt32;
};
template <>
struct CollDTypeOf<int64_t> {
  static constexpr CollDType value = CollDType::kInt64;
};
template <>
struct CollDTypeOf<float> {
  static constexpr CollDType value = CollDType::kFloat32;
};
template <>
struct CollDTypeOf<double> {
  static constexpr CollDType value = CollDType::kFloat64;
};
template <>
struct CollDTypeOf<BFloat16> {
  static constexpr CollDType value = CollDType::kBFloat16;
};

}  // namespace mpimoe::parallel
