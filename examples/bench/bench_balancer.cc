// `mpimoe-bench balancer --simulate R`: the balancer's planning quality on synthetic
// skewed routing, in one process without MPI traffic (only rank 0 computes and prints).
//
// R virtual ranks each route --routes-per-rank / k tokens per step to k distinct experts
// drawn from Zipf(s) popularity: p_e ∝ 1 / (rank_of_e + 1)^s, where the popularity
// ranking is a fixed random permutation of the experts (seeded by --seed). With
// --drift M > 0 the ranking rotates every M steps: every expert's popularity rank
// shifts by max(1, E / 4), so the hot set moves to experts that were lukewarm.
//
// Every policy gets its own parallel::Balancer fed the same counts: Observe (forecast,
// maybe re-plan), then Quotas, then RankCosts under the cost model below. A step's
// rank_imbalance is max/mean of the rank costs; the report gives its mean (and max)
// over the steps after --warmup, the mean placement bound of the sampled loads
// (max(1, max_e L_e * R / sum L)), plan changes, home moves, replicas added and the
// final replica count, and planner / quota wall time per step.
//
// Cost model (units: row_cost = 1000 per row, fwd+bwd), a small realistic fraction of
// the row work for an expert FFN of d=256, d_ff=1024 on a CPU rank: copy_cost = 8 rows
// (streaming an active copy's 2 MB of weights through forward and backward),
// replica_refresh_cost = 16 rows (weight refresh + gradient partial per replica per
// step), replica_create_cost = 64 rows and home_move_cost = 192 rows (one-off copies;
// a home move carries weights plus two Adam moments).
//
// Without --simulate (under mpirun) it trains a small MoE transformer with forced
// Zipf skew through the real trainer (bench_balancer_mpi.cc).
#include "examples/bench/bench_balancer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "examples/bench/bench_subcommands.h"
#include "parallel/balancer.h"
#include "runtime/core/json_line.h"
#include "runtime/core/random.h"
#include "runtime/core/timer.h"

namespace mpimoe::bench {
namespace {

constexpr parallel::BalancerPolicy kPolicies[] = {
    parallel::BalancerPolicy::kStatic, parallel::BalancerPolicy::kGreedyPlace,
    parallel::BalancerPolicy::kReplicate, parallel::BalancerPolicy::kCostAware};

parallel::CostModel SimulationCostModel() {
  parallel::CostModel cost;
  cost.row_cost = 1000;
  cost.copy_cost = 8 * cost.row_cost;
  cost.replica_refresh_cost = 16 * cost.row_cost;
  cost.replica_create_cost = 64 * cost.row_cost;
  cost.home_move_cost = 192 * cost.row_cost;
  return cost;
}

// Samples one step's counts[s * E + e] for `ranks` sources.
class ZipfRouter {
 public:
  ZipfRouter(const BalancerBenchOptions& o)
      : o_(o), rng_(MixSeed(static_cast<uint64_t>(o.seed), {0xba1a})) {
    const int64_t e = o.experts;
    cdf_.resize(static_cast<size_t>(e));
    double total = 0.0;
    for (int64_t i = 0; i < e; ++i) {
      total += 1.0 / std::pow(static_cast<double>(i + 1), o.skew);
      cdf_[static_cast<size_t>(i)] = total;
    }
    by_popularity_.resize(static_cast<size_t>(e));
    std::iota(by_popularity_.begin(), by_popularity_.end(), 0);
    Rng perm_rng(MixSeed(static_cast<uint64_t>(o.seed), {0x9e7}));
    for (int64_t i = e - 1; i > 0; --i) {
      std::swap(by_popularity_[static_cast<size_t>(i)],
                by_popularity_[perm_rng.Below(static_cast<uint64_t>(i + 1))]);
    }
  }

  std::vector<int64_t> Sample(int64_t step) {
    const int64_t e = o_.experts;
    const int64_t shift =
        o_.drift > 0 ? (step / o_.drift) * std::max<int64_t>(1, e / 4) % e : 0;
    std::vector<int64_t> counts(static_cast<size_t>(o_.simulate * e), 0);
    const int64_t tokens = o_.routes_per_rank / o_.top_k;
    std::vector<int32_t> picked(static_cast<size_t>(o_.top_k));
    for (int64_t s = 0; s < o_.simulate; ++s) {
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t j = 0; j < o_.top_k; ++j) {
          int32_t expert;
          do {
            const double u =
                static_cast<double>(rng_.NextU64() >> 11) * 0x1.0p-53 * cdf_.back();
            const int64_t rank = std::min<int64_t>(
                e - 1, std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
            expert = by_popularity_[static_cast<size_t>((rank + shift) % e)];
          } while (std::find(picked.begin(), picked.begin() + j, expert) !=
                   picked.begin() + j);
          picked[static_cast<size_t>(j)] = expert;
          ++counts[static_cast<size_t>(s * e + expert)];
        }
      }
    }
    return counts;
  }

 private:
  const BalancerBenchOptions& o_;
  Rng rng_;
  std::vector<double> cdf_;
  std::vector<int32_t> by_popularity_;
};

struct PolicyStats {
  double imbalance_sum = 0.0;
  double imbalance_max = 0.0;
  int64_t plan_changes = 0;
  int64_t home_moves = 0;
  int64_t replicas_added = 0;
  double quota_us = 0.0;
};

class BalancerSubcommand final : public Subcommand {
 public:
  void DeclareFlags(FlagSet* flags) override {
    BalancerBenchOptions& o = options_;
    flags->AddInt("simulate", &o.simulate,
                  "simulate R virtual ranks in one process (0 = MPI mode)",
                  Bound::kNonNegative);
    flags->AddInt("experts", &o.experts, "number of experts E");
    flags->AddInt("top-k", &o.top_k, "experts per token k (<= E)");
    flags->AddDouble("skew", &o.skew, "Zipf exponent s of expert popularity",
                     Bound::kNonNegative);
    flags->AddInt("drift", &o.drift, "rotate the hot set every M steps (0 = never)",
                  Bound::kNonNegative);
    flags->AddInt("slots", &o.slots, "replica slots per rank", Bound::kNonNegative);
    flags->AddInt("steps", &o.steps, "simulated steps N");
    flags->AddInt("warmup", &o.warmup, "first steps left out of the means",
                  Bound::kNonNegative);
    flags->AddInt("routes-per-rank", &o.routes_per_rank, "routes per rank per step");
    flags->AddInt("replan-interval", &o.replan_interval, "steps between re-plan checks");
    flags->AddInt("seed", &o.seed, "seed of the popularity permutation and sampling",
                  Bound::kNonNegative);
    flags->AddBool("json", &o.json, "print one JSON line instead of a summary");
    flags->AddChoice("policy", &o.policy,
                     {"static", "greedy_place", "replicate", "cost_aware"},
                     "MPI mode: the policy measured against static and uniform routing");
    flags->AddInt("tokens", &o.tokens, "MPI mode: tokens per rank per step");
    flags->AddInt("d-model", &o.d_model, "MPI mode: model dimension d");
    flags->AddInt("d-ffn", &o.d_ffn, "MPI mode: expert hidden dimension f");
    flags->AddInt("repeats", &o.repeats,
                  "MPI mode: interleaved repeats of uniform/static/policy (medians)");
    flags->AddStringList("also", &o.also,
                         "MPI mode: another policy to measure in the same run "
                         "(repeatable)");
    flags->AddDouble("aux-loss", &o.aux_loss,
                     "MPI mode: router aux loss coefficient (0 keeps the skew fixed)",
                     Bound::kNonNegative);
    flags->AddBool("verbose", &o.verbose, "MPI mode: print every re-plan decision");
    flags->AddBool("calibrate", &o.calibrate,
                   "MPI mode: measure expert FLOP rate and bandwidths first and use "
                   "them as balancer.cost_*");
  }

  Status Validate() const override {
    const BalancerBenchOptions& o = options_;
    MPIMOE_RETURN_IF_ERROR(ValidateTopK(o.top_k, o.experts));
    if (o.routes_per_rank < o.top_k) {
      return InvalidArgumentError("--routes-per-rank must be at least --top-k");
    }
    for (const std::string& p : o.also) {
      if (p != "static" && p != "greedy_place" && p != "replicate" && p != "cost_aware")
        return InvalidArgumentError("--also: unknown policy '" + p + "'");
    }
    if (o.warmup >= o.steps)
      return InvalidArgumentError("--warmup must be below --steps");
    if (o.experts > (int64_t{1} << 20) || o.simulate > (int64_t{1} << 16)) {
      return InvalidArgumentError("--experts or --simulate too large");
    }
    return Status::Ok();
  }

  Status Run(BenchContext& context) override;

 private:
  BalancerBenchOptions options_;
};

Status BalancerSubcommand::Run(BenchContext& context) {
  const BalancerBenchOptions& o = options_;
  if (o.simulate == 0) return RunBalancerMpi(o, context);
  if (!context.is_root()) return Status::Ok();
  const int32_t ranks = static_cast<int32_t>(o.simulate);
  const int32_t experts = static_cast<int32_t>(o.experts);
  parallel::BalancerOptions base;
  base.replica_slots_per_rank = static_cast<int32_t>(o.slots);
  base.replan_interval = static_cast<int32_t>(o.replan_interval);
  base.cost = SimulationCostModel();
  std::vector<parallel::Balancer> balancers;
  for (parallel::BalancerPolicy policy : kPolicies) {
    parallel::BalancerOptions options = base;
    options.policy = policy;
    balancers.emplace_back(options, experts, ranks);
  }
  std::vector<PolicyStats> stats(balancers.size());
  ZipfRouter router(o);
  double bound_sum = 0.0;
  const int64_t measured = o.steps - o.warmup;
  for (int64_t step = 0; step < o.steps; ++step) {
    const std::vector<int64_t> counts = router.Sample(step);
    const bool measure = step >= o.warmup;
    if (measure) {
      bound_sum +=
          parallel::PlacementBound(parallel::ExpertTotals(counts, experts, ranks), ranks);
    }
    for (size_t i = 0; i < balancers.size(); ++i) {
      parallel::Balancer& balancer = balancers[i];
      PolicyStats& st = stats[i];
      const parallel::PlanDecision decision = balancer.Observe(step, counts);
      st.plan_changes += decision.changed ? 1 : 0;
      st.home_moves += decision.home_moves;
      st.replicas_added += decision.replicas_added;
      Stopwatch watch;
      const parallel::QuotaTable quotas = balancer.Quotas(counts);
      st.quota_us += watch.ElapsedSeconds() * 1e6;
      const double imbalance = parallel::RankImbalance(
          parallel::RankCosts(balancer.plan(), quotas, balancer.options().cost));
      if (measure) {
        st.imbalance_sum += imbalance;
        st.imbalance_max = std::max(st.imbalance_max, imbalance);
      }
    }
  }
  const double placement_bound = bound_sum / static_cast<double>(measured);
  const parallel::CostModel cost = SimulationCostModel();
  if (o.json) {
    JsonLine policies;
    for (size_t i = 0; i < balancers.size(); ++i) {
      const PolicyStats& st = stats[i];
      JsonLine p;
      p.AddDouble("rank_imbalance", st.imbalance_sum / static_cast<double>(measured))
          .AddDouble("rank_imbalance_max", st.imbalance_max)
          .AddInt("plan_changes", st.plan_changes)
          .AddInt("home_moves", st.home_moves)
          .AddInt("replicas_added", st.replicas_added)
          .AddInt("replicas", parallel::LayoutOf(balancers[i].plan()).total_replicas())
          .AddDouble("planner_us",
                     balancers[i].planner_us() / static_cast<double>(o.steps))
          .AddDouble("quota_us", st.quota_us / static_cast<double>(o.steps));
      policies.AddRaw(parallel::BalancerPolicyName(kPolicies[i]), p.str());
    }
    JsonLine cost_line;
    cost_line.AddInt("row_cost", cost.row_cost)
        .AddInt("copy_cost", cost.copy_cost)
        .AddInt("replica_refresh_cost", cost.replica_refresh_cost)
        .AddInt("replica_create_cost", cost.replica_create_cost)
        .AddInt("home_move_cost", cost.home_move_cost);
    JsonLine line;
    line.AddString("bench", "balancer")
        .AddString("mode", "simulate")
        .AddInt("ranks", ranks)
        .AddInt("experts", experts)
        .AddInt("top_k", o.top_k)
        .AddDouble("skew", o.skew)
        .AddInt("drift", o.drift)
        .AddInt("slots", o.slots)
        .AddInt("steps", o.steps)
        .AddInt("warmup", o.warmup)
        .AddInt("routes_per_rank", o.routes_per_rank)
        .AddInt("replan_interval", o.replan_interval)
        .AddInt("seed", o.seed)
        .AddRaw("cost_model", cost_line.str())
        .AddRaw("policies", policies.str())
        .AddDouble("placement_bound", placement_bound);
    std::printf("%s\n", line.str().c_str());
  } else {
    std::printf(
        "balancer simulation: R=%d E=%d k=%lld s=%.2f drift=%lld slots=%lld, %lld steps "
        "(%lld warm-up)\n  placement bound %.4f\n",
        ranks, experts, static_cast<long long>(o.top_k), o.skew,
        static_cast<long long>(o.drift), static_cast<long long>(o.slots),
        static_cast<long long>(o.steps), static_cast<long long>(o.warmup),
        placement_bound);
    for (size_t i = 0; i < balancers.size(); ++i) {
      const PolicyStats& st = stats[i];
      const std::string name(parallel::BalancerPolicyName(kPolicies[i]));
      std::printf(
          "  %-13s imbalance mean %.4f max %.4f | %lld plan changes, %lld home moves, "
          "%lld replicas added | planner %.1f us/step, quotas %.1f us/step\n",
          name.c_str(), st.imbalance_sum / static_cast<double>(measured),
          st.imbalance_max, static_cast<long long>(st.plan_changes),
          static_cast<long long>(st.home_moves),
          static_cast<long long>(st.replicas_added),
          balancers[i].planner_us() / static_cast<double>(o.steps),
          st.quota_us / static_cast<double>(o.steps));
    }
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewBalancerSubcommand() {
  return std::make_unique<BalancerSubcommand>();
}

}  // namespace mpimoe::bench
