// LoadForecast implementation (see load_forecast.h): integer Q16 EMA of per-expert
// loads. Owns only its state vector. Thread-safety: a value, no globals.
#include "parallel/load_forecast.h"

#include <cstddef>

#include "runtime/core/check.h"

namespace mpimoe::parallel {

std::vector<int64_t> ExpertTotals(const std::vector<int64_t>& counts, int32_t num_experts,
                                  int32_t world_size) {
  MPIMOE_CHECK(counts.size() ==
               static_cast<size_t>(num_experts) * static_cast<size_t>(world_size));
  std::vector<int64_t> totals(static_cast<size_t>(num_experts), 0);
  for (int32_t s = 0; s < world_size; ++s) {
    for (int32_t e = 0; e < num_experts; ++e) {
      totals[static_cast<size_t>(e)] +=
          counts[static_cast<size_t>(s) * static_cast<size_t>(num_experts) +
                 static_cast<size_t>(e)];
    }
  }
  return totals;
}

LoadForecast::LoadForecast(int32_t num_experts, int32_t shift)
    : shift_(shift),
      state_(static_cast<size_t>(num_experts), 0),
      deviation_(static_cast<size_t>(num_experts), 0) {
  MPIMOE_CHECK(num_experts > 0);
  MPIMOE_CHECK(shift >= 0 && shift <= 30);
}

void LoadForecast::Observe(const std::vector<int64_t>& expert_totals) {
  MPIMOE_CHECK(expert_totals.size() == state_.size());
  for (size_t e = 0; e < state_.size(); ++e) {
    MPIMOE_CHECK(expert_totals[e] >= 0);
    const int64_t target = expert_totals[e] << kFracBits;
    if (steps_ == 0) {
      state_[e] = target;
    } else {
      const int64_t diff = target - state_[e];
      const int64_t abs_diff = diff < 0 ? -diff : diff;
      deviation_[e] =
          steps_ == 1 ? abs_diff : deviation_[e] + ((abs_diff - deviation_[e]) >> shift_);
      state_[e] += diff >> shift_;
    }
  }
  ++steps_;
}

std::vector<int64_t> LoadForecast::Loads() const {
  std::vector<int64_t> loads(state_.size());
  constexpr int64_t kHalf = int64_t{1} << (kFracBits - 1);
  for (size_t e = 0; e < state_.size(); ++e) loads[e] = (state_[e] + kHalf) >> kFracBits;
  return loads;
}

Status LoadForecast::Restore(const std::vector<int64_t>& fixed_point,
                             const std::vector<int64_t>& deviation, int64_t steps) {
  if (fixed_point.size() != state_.size() || deviation.size() != state_.size()) {
    return InvalidArgumentError("load forecast has " +
                                std::to_string(fixed_point.size()) + " experts and " +
                                std::to_string(deviation.size()) +
                                " deviations, expected " + std::to_string(state_.size()));
  }
  for (size_t e = 0; e < deviation.size(); ++e) {
    if (deviation[e] < 0) {
      return InvalidArgumentError("load deviation of expert " + std::to_string(e) +
                                  " is negative (" + std::to_string(deviation[e]) + ")");
    }
  }
  if (steps < 0) return InvalidArgumentError("load forecast steps must be >= 0");
  for (size_t e = 0; e < fixed_point.size(); ++e) {
    if (fixed_point[e] < 0) {
      return InvalidArgumentError("load forecast of expert " + std::to_string(e) +
                                  " is negative (" + std::to_string(fixed_point[e]) +
                                  ")");
    }
  }
  state_ = fixed_point;
  deviation_ = deviation;
  steps_ = steps;
  return Status::Ok();
}

std::vector<int64_t> LoadForecast::Deviations() const {
  std::vector<int64_t> deviations(deviation_.size());
  constexpr int64_t kHalf = int64_t{1} << (kFracBits - 1);
  for (size_t e = 0; e < deviation_.size(); ++e)
    deviations[e] = (deviation_[e] + kHalf) >> kFracBits;
  return deviations;
}

}  // namespace mpimoe::parallel
