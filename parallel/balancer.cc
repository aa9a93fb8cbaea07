// Balancer implementation (see balancer.h): the forecast update, the per-policy
// re-plan triggers, candidate scoring with the accept rule and the anti-flapping check.
// The Balancer owns its plan, layout, forecast and recent-plan history. Thread-safety:
// one thread per Balancer; no globals.
#include "parallel/balancer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "runtime/core/check.h"
#include "runtime/core/timer.h"

namespace mpimoe::parallel {
namespace {

int64_t MaxOf(const std::vector<int64_t>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

std::string Format(const char* format, double a, double b) {
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), format, a, b);
  return buffer;
}

}  // namespace

StatusOr<BalancerPolicy> ParseBalancerPolicy(std::string_view name) {
  for (BalancerPolicy policy : {BalancerPolicy::kStatic, BalancerPolicy::kGreedyPlace,
                                BalancerPolicy::kReplicate, BalancerPolicy::kCostAware}) {
    if (name == BalancerPolicyName(policy)) return policy;
  }
  return InvalidArgumentError(
      "balancer.policy: expected static, greedy_place, replicate or cost_aware, got '" +
      std::string(name) + "'");
}

std::string_view BalancerPolicyName(BalancerPolicy policy) {
  switch (policy) {
    case BalancerPolicy::kStatic:
      return "static";
    case BalancerPolicy::kGreedyPlace:
      return "greedy_place";
    case BalancerPolicy::kReplicate:
      return "replicate";
    case BalancerPolicy::kCostAware:
      return "cost_aware";
  }
  return "unknown";
}

Status ValidateBalancerOptions(const BalancerOptions& o) {
  auto bad = [](const std::string& what) {
    return InvalidArgumentError("balancer." + what);
  };
  if (o.replica_slots_per_rank < 0) return bad("replica_slots_per_rank: must be >= 0");
  if (o.replan_interval < 1) return bad("replan_interval: must be >= 1");
  if (!(o.imbalance_low >= 1.0 && o.imbalance_high >= o.imbalance_low)) {
    return bad("imbalance_low/high: need 1 <= imbalance_low <= imbalance_high");
  }
  if (o.ema_shift < 0 || o.ema_shift > 30) return bad("ema_shift: must be in [0, 30]");
  if (o.plan_lifetime_steps < 1) return bad("plan_lifetime_steps: must be >= 1");
  if (!(o.kappa >= 0.0)) return bad("kappa: must be >= 0");
  if (!(o.min_relative_gain >= 0.0 && o.min_relative_gain < 1.0)) {
    return bad("min_relative_gain: must be in [0, 1)");
  }
  if (!(o.noise_sigmas >= 0.0)) return bad("noise_sigmas: must be >= 0");
  if (o.cost.row_cost <= 0) return bad("cost.row_cost: must be positive");
  if (o.cost.copy_cost < 0 || o.cost.replica_refresh_cost < 0 ||
      o.cost.replica_create_cost < 0 || o.cost.home_move_cost < 0 ||
      o.cost.remote_replica_refresh_cost < 0 || o.cost.remote_replica_create_cost < 0 ||
      o.cost.remote_home_move_cost < 0) {
    return bad("cost: fixed and migration costs must be >= 0");
  }
  return Status::Ok();
}

Balancer::Balancer(const BalancerOptions& options, int32_t num_experts,
                   int32_t world_size)
    : Balancer(options, StaticPlan(num_experts, world_size)) {}

Balancer::Balancer(const BalancerOptions& options, Plan initial)
    : options_(options),
      limits_(MakeSlotLimits(initial.num_experts, initial.world_size,
                             options.replica_slots_per_rank)),
      plan_(std::move(initial)),
      layout_(LayoutOf(plan_)),
      forecast_(plan_.num_experts, options.ema_shift) {
  const Status options_ok = ValidateBalancerOptions(options_);
  MPIMOE_CHECK_MSG(options_ok.ok(), options_ok.ToString().c_str());
  const Status plan_ok = plan_.Validate();
  MPIMOE_CHECK_MSG(plan_ok.ok(), plan_ok.ToString().c_str());
}

std::vector<int64_t> Balancer::ForecastLoads() const {
  return forecast_.empty() ? std::vector<int64_t>() : forecast_.Loads();
}

BalancerState Balancer::State() const {
  BalancerState state;
  state.plan = plan_;
  state.forecast = forecast_.fixed_point();
  state.deviation = forecast_.deviation_fixed_point();
  state.forecast_steps = forecast_.steps();
  state.active = active_;
  state.checked = checked_;
  state.observations = observations_;
  state.last_check_step = last_check_step_;
  state.recent.assign(recent_.begin(), recent_.end());
  state.cost = options_.cost;
  return state;
}

Status Balancer::Restore(const BalancerState& state) {
  const Plan& p = state.plan;
  if (p.num_experts != plan_.num_experts || p.world_size != plan_.world_size) {
    return InvalidArgumentError("balancer state is for " + std::to_string(p.num_experts) +
                                " experts on " + std::to_string(p.world_size) +
                                " ranks, this balancer has " +
                                std::to_string(plan_.num_experts) + " experts on " +
                                std::to_string(plan_.world_size) + " ranks");
  }
  MPIMOE_RETURN_IF_ERROR(p.Validate().WithContext("balancer state plan"));
  for (size_t i = 0; i < state.recent.size(); ++i) {
    const CopyLayout& layout = state.recent[i];
    const std::string where = "balancer state: recent layout " + std::to_string(i);
    if (layout.num_experts() != p.num_experts ||
        layout.replicas.size() != layout.home.size()) {
      return InvalidArgumentError(where + " has " + std::to_string(layout.home.size()) +
                                  " experts, expected " + std::to_string(p.num_experts));
    }
    for (size_t e = 0; e < layout.home.size(); ++e) {
      bool ok = layout.home[e] >= 0 && layout.home[e] < p.world_size;
      for (int32_t r : layout.replicas[e]) ok = ok && r >= 0 && r < p.world_size;
      if (!ok) {
        return InvalidArgumentError(where + ": expert " + std::to_string(e) +
                                    " has a rank outside [0, " +
                                    std::to_string(p.world_size) + ")");
      }
    }
  }
  BalancerOptions with_cost = options_;
  with_cost.cost = state.cost;
  MPIMOE_RETURN_IF_ERROR(
      ValidateBalancerOptions(with_cost).WithContext("balancer state cost model"));
  if (static_cast<int>(state.recent.size()) > kRecentPlans) {
    return InvalidArgumentError("balancer state: more than " +
                                std::to_string(kRecentPlans) + " recent layouts");
  }
  MPIMOE_RETURN_IF_ERROR(
      forecast_.Restore(state.forecast, state.deviation, state.forecast_steps));
  plan_ = p;
  layout_ = LayoutOf(plan_);
  active_ = state.active;
  checked_ = state.checked;
  observations_ = state.observations;
  last_check_step_ = state.last_check_step;
  recent_.assign(state.recent.begin(), state.recent.end());
  options_.cost = state.cost;
  return Status::Ok();
}

QuotaTable Balancer::Quotas(const std::vector<int64_t>& counts) const {
  return SplitQuotas(plan_, counts, options_.cost);
}

bool Balancer::DueForCheck(int64_t step) const {
  // The first check waits for replan_interval observations: a forecast of one or two
  // noisy steps is no reason to move anything.
  if (observations_ < options_.replan_interval) return false;
  return !checked_ || step - last_check_step_ >= options_.replan_interval;
}

double Balancer::Imbalance(const CopyLayout& layout,
                           const std::vector<int64_t>& loads) const {
  return RankImbalance(PredictRankCosts(layout, plan_.world_size, loads, options_.cost));
}

double Balancer::NoiseFloor(const CopyLayout& layout,
                            const std::vector<int64_t>& loads) const {
  if (options_.policy != BalancerPolicy::kCostAware || forecast_.steps() < 2 ||
      options_.noise_sigmas == 0.0) {
    return 0.0;
  }
  const std::vector<int64_t> costs =
      PredictRankCosts(layout, plan_.world_size, loads, options_.cost);
  const int32_t hot =
      static_cast<int32_t>(std::max_element(costs.begin(), costs.end()) - costs.begin());
  const std::vector<int64_t> deviations = forecast_.Deviations();
  int64_t sum_sq = 0;  // integers: the same on every rank
  for (int32_t e = 0; e < layout.num_experts(); ++e) {
    if (!layout.Holds(e, hot)) continue;
    const int64_t d = deviations[static_cast<size_t>(e)];
    sum_sq += d * d;
  }
  const double w = std::ldexp(1.0, -forecast_.shift());
  constexpr double kSigmaPerMad = 1.2533;  // sqrt(pi / 2), normal noise
  return options_.noise_sigmas * kSigmaPerMad * std::sqrt(static_cast<double>(sum_sq)) *
         std::sqrt(w / (2.0 - w)) * static_cast<double>(options_.cost.row_cost);
}

PlanDecision Balancer::Observe(int64_t step, const std::vector<int64_t>& counts) {
  Stopwatch watch;
  const int32_t world = plan_.world_size;
  forecast_.Observe(ExpertTotals(counts, plan_.num_experts, world));
  ++observations_;
  const std::vector<int64_t> loads = forecast_.Loads();
  const double before = Imbalance(layout_, loads);
  const std::string policy(BalancerPolicyName(options_.policy));
  PlanDecision decision;
  decision.forecast_imbalance_before = decision.forecast_imbalance_after = before;

  std::vector<Candidate> candidates;
  std::string why;
  switch (options_.policy) {
    case BalancerPolicy::kStatic:
      decision.reason = "static: the initial placement never changes";
      break;
    case BalancerPolicy::kGreedyPlace:
      if (DueForCheck(step)) {
        CopyLayout layout;
        layout.home =
            LptHomes(loads, world, limits_.total_slots, layout_.home, options_.cost);
        layout.replicas.assign(layout.home.size(), {});
        candidates.push_back({"LPT homes", std::move(layout)});
        why = "periodic check";
      }
      break;
    case BalancerPolicy::kReplicate:
      if (DueForCheck(step)) {
        const std::vector<int32_t> copies =
            ReplicaCounts(loads, world, limits_.replica_budget);
        candidates.push_back(
            {"replicas by load per copy",
             PackReplicas(layout_.home, copies, loads, world, limits_, options_.cost)});
        why = "periodic check";
      }
      break;
    case BalancerPolicy::kCostAware: {
      if (observations_ < options_.replan_interval) {
        decision.reason = "cost_aware: warming up the forecast";
        break;
      }
      const bool was_active = active_;
      if (before > options_.imbalance_high) {
        active_ = true;
      } else if (before < options_.imbalance_low) {
        active_ = false;
      }
      if (!active_) {
        decision.reason = Format("cost_aware: quiet, forecast imbalance %.4f (low %.4f)",
                                 before, options_.imbalance_low);
      } else if (was_active && !DueForCheck(step)) {
        decision.reason =
            Format("cost_aware: forecast imbalance %.4f (high %.4f), next check later",
                   before, options_.imbalance_high);
      } else {
        why = Format("forecast imbalance %.4f above high %.4f or not yet below low",
                     before, options_.imbalance_high);
        candidates.push_back(
            {"replica changes",
             ImproveReplicas(layout_, loads, world, limits_, options_.cost)});
        candidates.push_back(
            {"replicas by load per copy, refined",
             ImproveReplicas(
                 PackReplicas(layout_.home,
                              ReplicaCounts(loads, world, limits_.replica_budget), loads,
                              world, limits_, options_.cost),
                 loads, world, limits_, options_.cost)});
        CopyLayout bare;
        bare.home = layout_.home;
        bare.replicas.assign(bare.home.size(), {});
        candidates.push_back(
            {"replicas rebuilt on current homes",
             ImproveReplicas(bare, loads, world, limits_, options_.cost)});
        bare.home =
            LptHomes(loads, world, limits_.home_slots, layout_.home, options_.cost);
        candidates.push_back(
            {"LPT homes plus replicas",
             ImproveReplicas(std::move(bare), loads, world, limits_, options_.cost)});
      }
      break;
    }
  }
  if (!candidates.empty()) {
    checked_ = true;
    last_check_step_ = step;
    decision = Replan(step, loads, candidates, why);
    decision.forecast_imbalance_before = before;
    if (!decision.changed) decision.forecast_imbalance_after = before;
  }
  planner_us_ += watch.ElapsedSeconds() * 1e6;
  return decision;
}

PlanDecision Balancer::Replan(int64_t step, const std::vector<int64_t>& loads,
                              const std::vector<Candidate>& candidates,
                              const std::string& why) {
  const int32_t world = plan_.world_size;
  const CostModel& cost = options_.cost;
  const std::vector<int64_t> current_costs =
      PredictRankCosts(layout_, world, loads, cost);
  const int64_t t0 = MaxOf(current_costs);
  const double noise = NoiseFloor(layout_, loads);
  const std::string policy(BalancerPolicyName(options_.policy));
  PlanDecision decision;
  decision.reason = policy + " step " + std::to_string(step) + " (" + why + "):";

  struct Scored {
    int64_t t1 = 0;
    double net = 0.0;
    Migration migration;
  };
  int best_replica = -1, best_home = -1;
  std::vector<Scored> scored(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const CopyLayout& layout = candidates[i].layout;
    std::string verdict;
    Scored& s = scored[i];
    if (layout == layout_) {
      verdict = "same as current";
    } else {
      s.t1 = MaxOf(PredictRankCosts(layout, world, loads, cost));
      s.migration = CountMigration(layout_, layout, cost);
      const int64_t gain = t0 - s.t1;
      const bool recent =
          std::find(recent_.begin(), recent_.end(), layout) != recent_.end();
      const double relative =
          recent
              ? std::max(kRevertGainFactor * options_.min_relative_gain, kRevertMinGain)
              : options_.min_relative_gain;
      const double needed = std::max(relative * static_cast<double>(t0), noise);
      const double lifetime_gain =
          static_cast<double>(gain) * static_cast<double>(options_.plan_lifetime_steps);
      const double migration = options_.kappa * static_cast<double>(s.migration.cost);
      s.net = lifetime_gain - migration;
      if (gain <= 0 || static_cast<double>(gain) < needed) {
        verdict = Format(recent ? "gain %.0f/step below %.0f (recently replaced plan)"
                                : "gain %.0f/step below %.0f",
                         static_cast<double>(gain), needed);
      } else if (lifetime_gain < migration) {
        verdict = Format("lifetime gain %.0f < kappa * migration %.0f", lifetime_gain,
                         migration);
      } else {
        verdict = Format("acceptable, lifetime gain %.0f vs kappa * migration %.0f",
                         lifetime_gain, migration);
        int& best = s.migration.home_moves == 0 ? best_replica : best_home;
        if (best < 0 || s.net > scored[static_cast<size_t>(best)].net) {
          best = static_cast<int>(i);
        }
      }
    }
    decision.reason += std::string(" [") + candidates[i].name + ": " + verdict + "]";
  }
  // Prefer replica changes: home moves win only if clearly better than them.
  int chosen = best_replica;
  if (best_home >= 0) {
    if (chosen < 0) {
      chosen = best_home;
    } else {
      const Scored& h = scored[static_cast<size_t>(best_home)];
      const Scored& r = scored[static_cast<size_t>(chosen)];
      if (static_cast<double>(r.t1 - h.t1) >=
              options_.min_relative_gain * static_cast<double>(t0) &&
          h.net > r.net) {
        chosen = best_home;
      }
    }
  }
  if (chosen < 0) {
    decision.reason += " -> keep plan v" + std::to_string(plan_.version);
    return decision;
  }
  const Candidate& winner = candidates[static_cast<size_t>(chosen)];
  const Scored& s = scored[static_cast<size_t>(chosen)];
  recent_.push_front(layout_);
  if (recent_.size() > static_cast<size_t>(kRecentPlans)) recent_.pop_back();
  layout_ = winner.layout;
  plan_ = PlanFromLayout(layout_, plan_);
  const Status ok = plan_.Validate();
  MPIMOE_CHECK_MSG(ok.ok(), ok.ToString().c_str());
  decision.changed = true;
  decision.home_moves = s.migration.home_moves;
  decision.replicas_added = s.migration.replicas_added;
  decision.replicas_removed = s.migration.replicas_removed;
  decision.forecast_imbalance_after = Imbalance(layout_, loads);
  decision.reason += " -> applied '" + std::string(winner.name) + "' as plan v" +
                     std::to_string(plan_.version) + ": " +
                     std::to_string(s.migration.home_moves) + " home moves, +" +
                     std::to_string(s.migration.replicas_added) + "/-" +
                     std::to_string(s.migration.replicas_removed) + " replicas";
  return decision;
}

}  // namespace mpimoe::parallel
