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
  std::vector<int32_t> seen(static_cast<size_t>(num_experts), 0);
  for (int32_t r = 0; r < world_size; ++r) {
    for (int32_t s = 0; s < num_slots(r); ++s) {
      const int32_t e = rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)];
      if (e < 0 || e >= num_experts) {
        return InvalidArgumentError("rank " + std::to_string(r) + " slot " +
                                    std::to_string(s) + " holds unknown expert " +
                                    std::to_string(e));
      }
      const ExpertHome& home = homes[static_cast<size_t>(e)];
      if (home.rank != r || home.slot != s) {
        return InvalidArgumentError(
            "expert " + std::to_string(e) + " sits in rank " + std::to_string(r) +
            " slot " + std::to_string(s) + " but its home says rank " +
            std::to_string(home.rank) + " slot " + std::to_string(home.slot));
      }
      ++seen[static_cast<size_t>(e)];
    }
  }
  for (int32_t e = 0; e < num_experts; ++e) {
    if (seen[static_cast<size_t>(e)] != 1) {
      return InvalidArgumentError("expert " + std::to_string(e) + " has " +
                                  std::to_string(seen[static_cast<size_t>(e)]) +
                                  " homes");
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
