// Plan: where every logical expert of an MoE layer lives.
//
// Each logical expert has exactly one home (rank, slot) holding its master weights and
// optimizer state. Each rank has an ordered list of slots; slot s of rank r processes
// expert rank_slots[r][s]. *Buckets* number all slots globally in (rank, slot) order;
// the MoE layer groups its rows by bucket, so rows for rank r are contiguous.
// (Replicas — extra read-only copies in spare slots — arrive with the balancer; they
// will add slots and buckets without changing this numbering rule.)
//
// A Plan is a plain value computed identically on every rank; `version` increases when
// the placement changes. Thread-safety: a value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::parallel {

struct ExpertHome {
  int32_t rank = 0;
  int32_t slot = 0;
};

struct Plan {
  int64_t version = 0;
  int32_t num_experts = 0;
  int32_t world_size = 1;
  std::vector<ExpertHome> homes;                 // [num_experts]
  std::vector<std::vector<int32_t>> rank_slots;  // [world_size][slots of that rank]

  int32_t num_slots(int rank) const {
    return static_cast<int32_t>(rank_slots[static_cast<size_t>(rank)].size());
  }
  // First bucket of each rank: [world_size + 1], rank r's buckets are
  // [bucket_begin[r], bucket_begin[r + 1]).
  std::vector<int64_t> BucketBegins() const;
  // Bucket of each expert's home: [num_experts].
  std::vector<int32_t> HomeBuckets() const;
  // Largest number of slots on any rank.
  int32_t max_slots_per_rank() const;

  // OK if homes and rank_slots agree, every expert has exactly one home and every rank
  // id is in range; otherwise InvalidArgument saying what is wrong.
  Status Validate() const;
  std::string DebugString() const;
};

// The initial placement: experts in contiguous blocks, as even as possible; the first
// E % P ranks hold one more. With E < P, ranks E..P-1 hold no expert.
Plan StaticPlan(int32_t num_experts, int32_t world_size);

}  // namespace mpimoe::parallel
