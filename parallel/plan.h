// Plan: where every logical expert of an MoE layer lives.
//
// Each logical expert has exactly one home (rank, slot) holding its master weights and
// optimizer state, and zero or more *replicas*: read-only copies in other slots, on
// other ranks (never two copies of an expert on one rank). Each rank has an ordered list
// of slots; slot s of rank r processes expert rank_slots[r][s], as its home or as a
// replica. *Buckets* number all slots globally in (rank, slot) order; the MoE layer
// groups its rows by bucket, so rows for rank r are contiguous.
//
// QuotaTable says how one step's routes of a replicated expert are split among its
// copies: rows[e][c * P + s] routes of source rank s go to copy c of expert e (copies
// as listed by Plan::ExpertCopies: home first, then replicas in (rank, slot) order).
// A source sends its routes of e in token order: the first quota to copy 0, the next
// to copy 1, and so on.
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
  // Buckets of each expert's copies, home first, then replicas in (rank, slot) order:
  // [num_experts][copies].
  std::vector<std::vector<int32_t>> ExpertCopies() const;
  // Whether slot `slot` of rank `rank` is its expert's home (else a replica).
  bool IsHome(int rank, int slot) const;
  // Number of replica slots in use on each rank: [world_size].
  std::vector<int32_t> ReplicasPerRank() const;
  // Largest number of slots on any rank.
  int32_t max_slots_per_rank() const;

  // OK if homes and rank_slots agree, every expert has exactly one home, no rank holds
  // two copies of an expert, and every id is in range; otherwise InvalidArgument saying
  // what is wrong.
  Status Validate() const;
  std::string DebugString() const;
  bool operator==(const Plan& other) const {
    if (num_experts != other.num_experts || world_size != other.world_size ||
        rank_slots != other.rank_slots || homes.size() != other.homes.size()) {
      return false;
    }
    // Which copy is the home matters too: swapping it moves optimizer state.
    for (size_t e = 0; e < homes.size(); ++e) {
      if (homes[e].rank != other.homes[e].rank || homes[e].slot != other.homes[e].slot) {
        return false;
      }
    }
    return true;
  }
};

struct QuotaTable {
  int32_t num_experts = 0;
  int32_t world_size = 1;
  std::vector<std::vector<int64_t>> rows;  // [num_experts][copies * world_size]

  int64_t get(int32_t expert, int32_t copy, int32_t source) const {
    return rows[static_cast<size_t>(expert)]
               [static_cast<size_t>(copy * world_size + source)];
  }
};

// The trivial quotas: every route goes to the home (copy 0). counts: [P * E] routes of
// each source rank per expert (row-major by source).
QuotaTable HomeOnlyQuotas(const Plan& plan, const std::vector<int64_t>& counts);

// The initial placement: experts in contiguous blocks, as even as possible; the first
// E % P ranks hold one more. With E < P, ranks E..P-1 hold no expert.
Plan StaticPlan(int32_t num_experts, int32_t world_size);

}  // namespace mpimoe::parallel
