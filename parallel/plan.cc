#include "parallel/plan.h"

#include <algorithm>

namespace mpimoe::parallel {

std::vector<int64_t> Plan::BucketBegins() const {
  std::vector<int64_t> begins(static_cast<size_t>(world_size) + 1, 0);
  for (int32_t r = 0; r < world_size; ++r) {
    begins[static_cast<size_t>(r) + 1] = begins[static_cast<size_t>(r)] + num_slots(r);
  }
  return begins;
}

std::vector<int32_t> Plan::HomeBuckets() const {
  const std::vector<int64_t> begins = BucketBegins();
  std::vector<int32_t> buckets(static_cast<size_t>(num_experts));
  for (int32_t e = 0; e < num_experts; ++e) {
    const ExpertHome& home = homes[static_cast<size_t>(e)];
    buckets[static_cast<size_t>(e)] =
        static_cast<int32_t>(begins[static_cast<size_t>(home.rank)] + home.slot);
  }
  return buckets;
}

std::vector<std::vector<int32_t>> Plan::ExpertCopies() const {
  std::vector<std::vector<int32_t>> copies(static_cast<size_t>(num_experts));
  const std::vector<int32_t> home = HomeBuckets();
  for (int32_t e = 0; e < num_experts; ++e)
    copies[static_cast<size_t>(e)].push_back(home[static_cast<size_t>(e)]);
  int32_t bucket = 0;
  for (int32_t r = 0; r < world_size; ++r) {
    for (int32_t s = 0; s < num_slots(r); ++s, ++bucket) {
      if (!IsHome(r, s)) {
        copies[static_cast<size_t>(
                   rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)])]
            .push_back(bucket);
      }
    }
  }
  return copies;
}

bool Plan::IsHome(int rank, int slot) const {
  const int32_t e = rank_slots[static_cast<size_t>(rank)][static_cast<size_t>(slot)];
  const ExpertHome& home = homes[static_cast<size_t>(e)];
  return home.rank == rank && home.slot == slot;
}

std::vector<int32_t> Plan::ReplicasPerRank() const {
  std::vector<int32_t> replicas(static_cast<size_t>(world_size), 0);
  for (int32_t r = 0; r < world_size; ++r) {
    for (int32_t s = 0; s < num_slots(r); ++s)
      replicas[static_cast<size_t>(r)] += IsHome(r, s) ? 0 : 1;
  }
  return replicas;
}

int32_t Plan::max_slots_per_rank() const {
  int32_t most = 0;
  for (int32_t r = 0; r < world_size; ++r) most = std::max(most, num_slots(r));
  return most;
}

Status Plan::Validate() const {
  if (num_experts <= 0 || world_size <= 0) {
    return InvalidArgumentError("plan needs num_experts > 0 and world_size > 0");
  }
  if (homes.size() != static_cast<size_t>(num_experts) ||
      rank_slots.size() != static_cast<size_t>(world_size)) {
    return InvalidArgumentError("plan arrays do not match num_experts/world_size");
  }
  for (int32_t r = 0; r < world_size; ++r) {
    std::vector<int32_t> on_rank(static_cast<size_t>(num_experts), 0);
    for (int32_t s = 0; s < num_slots(r); ++s) {
      const int32_t e = rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)];
      if (e < 0 || e >= num_experts) {
        return InvalidArgumentError("rank " + std::to_string(r) + " slot " +
                                    std::to_string(s) + " holds unknown expert " +
                                    std::to_string(e));
      }
      if (++on_rank[static_cast<size_t>(e)] > 1) {
        return InvalidArgumentError("rank " + std::to_string(r) +
                                    " holds two copies of expert " + std::to_string(e));
      }
    }
  }
  for (int32_t e = 0; e < num_experts; ++e) {
    const ExpertHome& home = homes[static_cast<size_t>(e)];
    if (home.rank < 0 || home.rank >= world_size || home.slot < 0 ||
        home.slot >= num_slots(home.rank) ||
        rank_slots[static_cast<size_t>(home.rank)][static_cast<size_t>(home.slot)] != e) {
      return InvalidArgumentError("expert " + std::to_string(e) + "'s home (rank " +
                                  std::to_string(home.rank) + " slot " +
                                  std::to_string(home.slot) + ") does not hold it");
    }
  }
  return Status::Ok();
}

std::string Plan::DebugString() const {
  std::string s = "plan v" + std::to_string(version) + ":";
  for (int32_t r = 0; r < world_size; ++r) {
    s += " r" + std::to_string(r) + "[";
    for (int32_t s2 = 0; s2 < num_slots(r); ++s2) {
      if (s2 > 0) s += ",";
      s += std::to_string(rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s2)]);
    }
    s += "]";
  }
  return s;
}

QuotaTable HomeOnlyQuotas(const Plan& plan, const std::vector<int64_t>& counts) {
  QuotaTable quotas;
  quotas.num_experts = plan.num_experts;
  quotas.world_size = plan.world_size;
  const std::vector<std::vector<int32_t>> copies = plan.ExpertCopies();
  quotas.rows.resize(static_cast<size_t>(plan.num_experts));
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    std::vector<int64_t>& rows = quotas.rows[static_cast<size_t>(e)];
    rows.assign(
        copies[static_cast<size_t>(e)].size() * static_cast<size_t>(plan.world_size), 0);
    for (int32_t s = 0; s < plan.world_size; ++s) {
      rows[static_cast<size_t>(s)] =
          counts[static_cast<size_t>(s * plan.num_experts + e)];
    }
  }
  return quotas;
}

Plan StaticPlan(int32_t num_experts, int32_t world_size) {
  Plan plan;
  plan.num_experts = num_experts;
  plan.world_size = world_size;
  plan.homes.resize(static_cast<size_t>(num_experts));
  plan.rank_slots.resize(static_cast<size_t>(world_size));
  const int32_t base = num_experts / world_size;
  const int32_t extra = num_experts % world_size;
  int32_t expert = 0;
  for (int32_t r = 0; r < world_size; ++r) {
    const int32_t count = base + (r < extra ? 1 : 0);
    for (int32_t s = 0; s < count; ++s, ++expert) {
      plan.rank_slots[static_cast<size_t>(r)].push_back(expert);
      plan.homes[static_cast<size_t>(expert)] = ExpertHome{r, s};
    }
  }
  return plan;
}

}  // namespace mpimoe::parallel
