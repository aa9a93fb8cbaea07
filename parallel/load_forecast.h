// LoadForecast: the balancer's per-expert load forecast, an exponential moving average
// kept in integer fixed point so that every rank, fed the same all-gathered counts,
// holds bitwise the same forecast (no floating point, no platform-dependent rounding).
//
// The state is one Q16 value per logical expert (kFracBits fractional bits). The first
// observation sets it to the observed totals; each later one applies
//   f += ((count << kFracBits) - f) >> shift
// (an arithmetic shift, so the update is well defined for falling loads), i.e. an EMA
// with weight 2^-shift on the newest step. Loads() rounds to whole routes. Alongside,
// the same EMA of each step's absolute deviation |count - forecast before the step|
// (Q16 too) measures how noisy each expert's count is: Deviations().
//
// Ownership: a value; the Balancer owns one. Thread-safety: a value, not synchronised.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::parallel {

// Per-expert totals of all-gathered counts: counts[s * E + e] -> totals[e].
std::vector<int64_t> ExpertTotals(const std::vector<int64_t>& counts, int32_t num_experts,
                                  int32_t world_size);

class LoadForecast {
 public:
  static constexpr int kFracBits = 16;

  // shift in [0, 30]; 0 means "the last step only".
  LoadForecast(int32_t num_experts, int32_t shift);

  // Folds one step's per-expert totals (size num_experts, each >= 0) into the EMA.
  void Observe(const std::vector<int64_t>& expert_totals);

  bool empty() const { return steps_ == 0; }
  int64_t steps() const { return steps_; }
  // The forecast in whole routes per step (rounded half up): [num_experts].
  std::vector<int64_t> Loads() const;
  // The raw Q16 state: [num_experts] each.
  const std::vector<int64_t>& fixed_point() const { return state_; }
  const std::vector<int64_t>& deviation_fixed_point() const { return deviation_; }
  // Restores a state saved from fixed_point(), deviation_fixed_point() and steps() (e.g.
  // from a checkpoint). InvalidArgument if a size is not num_experts or a value is
  // negative.
  Status Restore(const std::vector<int64_t>& fixed_point,
                 const std::vector<int64_t>& deviation, int64_t steps);
  // EMA of the per-step absolute deviation in whole routes (rounded half up; 0 before
  // the second observation): [num_experts].
  std::vector<int64_t> Deviations() const;
  int32_t shift() const { return shift_; }

 private:
  int32_t shift_;
  int64_t steps_ = 0;
  std::vector<int64_t> state_;
  std::vector<int64_t> deviation_;  // Q16
};

}  // namespace mpimoe::parallel
