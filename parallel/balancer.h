// Balancer: the pure planning half of dynamic expert load balancing (DESIGN.md section
// 4). Fed one step's all-gathered integer counts at a time, it keeps an integer EMA
// forecast of every expert's load, decides whether to change the Plan (homes +
// replicas), and splits each step's routes among an expert's copies (quotas). It moves
// no weights and talks to no one: every rank runs its own Balancer on the same counts
// and, with all arithmetic that decides a plan in integers (the accept rule compares
// doubles computed from integers the same way everywhere), gets the same plans — no
// coordinator. The trainer owns the Balancer and applies plan() changes.
//
// Policies (BalancerOptions::policy), all producing a Plan and per-step quotas:
//   static        the initial placement, never changed (baseline).
//   greedy_place  every replan_interval steps, homes by LPT on the forecast, relabelled
//                 to ranks to keep the most experts in place; no replicas. Having no
//                 replicas, it may fill a rank's replica slots with homes.
//   replicate     every replan_interval steps, replica counts by load per copy within
//                 the budget P * replica_slots_per_rank, packed by LPT with slot limits
//                 and anti-affinity; homes stay.
//   cost_aware    (default) re-plans when the forecast imbalance rises above
//                 imbalance_high and keeps re-planning every replan_interval steps
//                 until it falls below imbalance_low (hysteresis). Candidates: the
//                 current plan improved by replica drops/adds/swaps on the cost model,
//                 replicate's layout so improved, replicas rebuilt from scratch on the
//                 current homes, and LPT homes plus replicas. A candidate is applied only
//                 if
//                   (T(current) - T(candidate)) * plan_lifetime_steps >= kappa *
//                   migration
//                 with T the predicted max rank cost per step; replica-only candidates
//                 win unless home moves are better by min_relative_gain.
// cost_aware also requires the cut to exceed the forecast's noise: noise_sigmas standard
// errors of the predicted hot rank's load, from the forecast's mean absolute deviation
// of each expert's per-step count (sigma ~ 1.2533 MAD per step, times sqrt(w / (2 - w))
// for the EMA of weight w = 2^-ema_shift, summed in quadrature over the experts with a
// copy on that rank, times row_cost).
// For every dynamic policy a new plan must also cut T by at least min_relative_gain,
// and a plan replaced within the last kRecentPlans changes may come back only if it
// cuts T by max(kRevertGainFactor * min_relative_gain, kRevertMinGain) (no A-B-A
// flapping, even with min_relative_gain = 0).
// Quotas (every step, any policy): SplitQuotas (parallel/quota_split.h).
//
// Slot limits: a rank holds at most ceil(E/P) homes (greedy_place: ceil(E/P) +
// replica_slots_per_rank) and at most ceil(E/P) + replica_slots_per_rank copies, never
// two copies of one expert; at most P * replica_slots_per_rank replicas in all.
//
// Thread-safety: one thread; Quotas(), plan() and planner_us() are const.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "parallel/load_forecast.h"
#include "parallel/placement_policies.h"
#include "parallel/plan.h"
#include "parallel/quota_split.h"
#include "runtime/core/status.h"

namespace mpimoe::parallel {

enum class BalancerPolicy { kStatic, kGreedyPlace, kReplicate, kCostAware };

// Parses "static" | "greedy_place" | "replicate" | "cost_aware".
StatusOr<BalancerPolicy> ParseBalancerPolicy(std::string_view name);
std::string_view BalancerPolicyName(BalancerPolicy policy);

// No defaults here (zero-initialised; a zero replan_interval or plan_lifetime_steps is
// invalid): the one home of the balancer's defaults is the `balancer` section of
// configs/mpimoe.proto, and train::BalancerOptionsOf converts a config's section.
struct BalancerOptions {
  BalancerPolicy policy = BalancerPolicy::kStatic;
  int32_t replica_slots_per_rank = 0;
  int32_t replan_interval = 0;      // steps between re-plan checks (>= 1)
  double imbalance_high = 0.0;      // cost_aware re-plans when forecast exceeds this
  double imbalance_low = 0.0;       // ... and stays quiet below this
  int32_t ema_shift = 0;            // forecast += (count - forecast) >> shift
  int32_t plan_lifetime_steps = 0;  // gain horizon for the accept rule
  double kappa = 0.0;               // accept iff gain * lifetime >= kappa * migration
  double min_relative_gain = 0.0;   // a new plan must cut predicted max cost by this
  // cost_aware: ... and by noise_sigmas standard errors of the hot rank's forecast
  // load (see NoiseFloor), so that count noise alone never changes the plan.
  double noise_sigmas = 0.0;
  CostModel cost;
};

// InvalidArgument naming the first bad field, else OK.
Status ValidateBalancerOptions(const BalancerOptions& options);

struct PlanDecision {
  bool changed = false;
  std::string reason;  // human-readable: what moved and why (or why not)
  int32_t home_moves = 0, replicas_added = 0, replicas_removed = 0;
  double forecast_imbalance_before = 1.0, forecast_imbalance_after = 1.0;
};

// Everything a Balancer's future decisions depend on besides its options, for
// checkpoints: a Balancer with the same options restored from State() decides exactly as
// the original would have.
struct BalancerState {
  Plan plan;
  std::vector<int64_t> forecast;   // LoadForecast fixed point: [num_experts]
  std::vector<int64_t> deviation;  // LoadForecast deviation fixed point: [num_experts]
  int64_t forecast_steps = 0;
  bool active = false;
  bool checked = false;
  int64_t observations = 0;
  int64_t last_check_step = 0;
  std::vector<CopyLayout> recent;  // newest first
  CostModel cost;
};

class Balancer {
 public:
  static constexpr int kRecentPlans = 8;
  static constexpr double kRevertGainFactor = 5.0;
  static constexpr double kRevertMinGain = 0.05;

  // Starts from StaticPlan(num_experts, world_size). Options must validate.
  Balancer(const BalancerOptions& options, int32_t num_experts, int32_t world_size);
  // Starts from `initial` (e.g. a plan restored from a checkpoint); it must validate.
  Balancer(const BalancerOptions& options, Plan initial);

  const Plan& plan() const { return plan_; }
  const BalancerOptions& options() const { return options_; }
  // Replaces the cost model (e.g. refitted from measured expert times). Every rank must
  // pass the same values.
  void SetCostModel(const CostModel& cost) { options_.cost = cost; }
  // Feeds one step's all-gathered counts: counts[s * E + e] = routes of source rank s
  // for expert e. Updates the forecast; on re-plan steps may change plan() (version
  // increments). Deterministic.
  PlanDecision Observe(int64_t step, const std::vector<int64_t>& counts);
  // This step's quotas under plan() (SplitQuotas with options().cost).
  QuotaTable Quotas(const std::vector<int64_t>& counts) const;
  // Total planner wall time in Observe so far (microseconds).
  double planner_us() const { return planner_us_; }
  // The forecast per expert in routes per step (empty before the first Observe).
  std::vector<int64_t> ForecastLoads() const;
  // The decision state, and its restoration (InvalidArgument when `state` does not fit
  // this balancer: expert count, world size, an invalid plan or layout).
  BalancerState State() const;
  Status Restore(const BalancerState& state);
  // cost_aware's noise floor for `layout` under the current forecast, in cost units:
  // noise_sigmas standard errors of its most loaded rank's forecast cost (0 for other
  // policies or before two observations).
  double NoiseFloor(const CopyLayout& layout, const std::vector<int64_t>& loads) const;

 private:
  struct Candidate {
    const char* name;
    CopyLayout layout;
  };
  PlanDecision Replan(int64_t step, const std::vector<int64_t>& loads,
                      const std::vector<Candidate>& candidates, const std::string& why);
  bool DueForCheck(int64_t step) const;
  double Imbalance(const CopyLayout& layout, const std::vector<int64_t>& loads) const;

  BalancerOptions options_;
  SlotLimits limits_;
  Plan plan_;
  CopyLayout layout_;
  LoadForecast forecast_;
  bool active_ = false;  // cost_aware hysteresis state
  bool checked_ = false;
  int64_t observations_ = 0;  // Observe calls so far
  int64_t last_check_step_ = 0;
  std::deque<CopyLayout> recent_;  // layouts replaced recently, newest first
  double planner_us_ = 0.0;
};

// Per-rank expert cost of a quota assignment under a plan (quota_split.h) and
// rank_imbalance = max/mean, PlacementBound: declared in parallel/quota_split.h.

}  // namespace mpimoe::parallel
