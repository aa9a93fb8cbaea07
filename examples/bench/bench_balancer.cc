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
// With --ranks-per-node N, virtual ranks r belong to node r / N, the cost model's copies
// across nodes cost kInterNodeSlowdown (8) times their within-node price (links 8x
// slower than within a node), and an extra policy "cost_aware_blind" runs cost_aware
// with the one-node cost model (every rank scored with the true one). Each policy then
// also reports inter_node_mb: the bytes per step that cross nodes, i.e. its quotas' rows
// whose source and copy are on different nodes, 4 times (dispatch and combine, forward
// and backward) at kRowBytes, plus 2 * kExpertBytes (refresh and gradient partial) per
// replica on another node than its home.
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
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "parallel/balancer.h"
#include "runtime/core/json.h"
#include "runtime/core/random.h"
#include "runtime/core/timer.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/expert_placement.h"

namespace mpimoe::bench {
namespace {

constexpr parallel::BalancerPolicy kPolicies[] = {
    parallel::BalancerPolicy::kStatic, parallel::BalancerPolicy::kGreedyPlace,
    parallel::BalancerPolicy::kReplicate, parallel::BalancerPolicy::kCostAware};

// With --ranks-per-node: how much slower a link across nodes is, and the sizes behind
// inter_node_mb (an expert FFN of d=256, d_ff=1024 in f32).
constexpr int64_t kInterNodeSlowdown = 8;
constexpr double kRowBytes = 256 * 4;
constexpr double kExpertBytes = 2.0 * 256 * 1024 * 4;

parallel::CostModel SimulationCostModel(const BalancerBenchOptions& o) {
  parallel::CostModel cost;
  cost.row_cost = 1000;
  cost.copy_cost = 8 * cost.row_cost;
  cost.replica_refresh_cost = 16 * cost.row_cost;
  cost.replica_create_cost = 64 * cost.row_cost;
  cost.home_move_cost = 192 * cost.row_cost;
  if (o.ranks_per_node > 0) {
    cost.node_of_rank.resize(static_cast<size_t>(o.simulate));
    for (int64_t r = 0; r < o.simulate; ++r)
      cost.node_of_rank[static_cast<size_t>(r)] =
          static_cast<int32_t>(r / o.ranks_per_node);
    cost.remote_replica_refresh_cost = kInterNodeSlowdown * cost.replica_refresh_cost;
    cost.remote_replica_create_cost = kInterNodeSlowdown * cost.replica_create_cost;
    cost.remote_home_move_cost = kInterNodeSlowdown * cost.home_move_cost;
    // A row's 4 crossings (dispatch and combine, forward and backward) at the
    // inter-node rate, in rows: the refresh cost above prices 2 * kExpertBytes at the
    // within-node rate as 16 rows.
    cost.remote_row_cost =
        static_cast<int64_t>(4.0 * kRowBytes * kInterNodeSlowdown / (2.0 * kExpertBytes) *
                             16.0 * cost.row_cost);
  }
  return cost;
}

// Bytes crossing nodes in one step under `plan` and `quotas` (see the file comment).
double InterNodeBytes(const parallel::Plan& plan, const parallel::QuotaTable& quotas,
                      const parallel::CostModel& topology) {
  const parallel::CopyLayout layout = parallel::LayoutOf(plan);
  double bytes = 0.0;
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    for (int32_t c = 0; c < layout.num_copies(e); ++c) {
      const int32_t at = layout.copy_rank(e, c);
      if (c > 0 && topology.remote(layout.home[static_cast<size_t>(e)], at))
        bytes += 2.0 * kExpertBytes;
      for (int32_t s = 0; s < plan.world_size; ++s) {
        if (topology.remote(s, at))
          bytes += 4.0 * kRowBytes * static_cast<double>(quotas.get(e, c, s));
      }
    }
  }
  return bytes;
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
  std::string name;
  double imbalance_sum = 0.0;
  double inter_node_bytes_sum = 0.0;
  double imbalance_max = 0.0;
  int64_t plan_changes = 0;
  int64_t home_moves = 0;
  int64_t replicas_added = 0;
  double quota_us = 0.0;
};

// One balancer per policy (kPolicies order), after the simulated steps.
struct Simulation {
  std::vector<parallel::Balancer> balancers;
  std::vector<PolicyStats> stats;
  double placement_bound = 0.0;  // mean over the measured steps
};

// Feeds every policy's balancer the same sampled counts, step by step.
Simulation Simulate(const BalancerBenchOptions& o) {
  const int32_t ranks = static_cast<int32_t>(o.simulate);
  const int32_t experts = static_cast<int32_t>(o.experts);
  // The balancer a default config runs, with the bench's slots, interval and costs.
  parallel::BalancerOptions base =
      train::BalancerOptionsOf(train::DefaultTrainConfig().balancer).value();
  base.replica_slots_per_rank = static_cast<int32_t>(o.slots);
  base.replan_interval = static_cast<int32_t>(o.replan_interval);
  base.cost = SimulationCostModel(o);
  Simulation sim;
  for (parallel::BalancerPolicy policy : kPolicies) {
    parallel::BalancerOptions options = base;
    options.policy = policy;
    sim.balancers.emplace_back(options, experts, ranks);
    sim.stats.push_back({std::string(parallel::BalancerPolicyName(policy))});
  }
  if (o.ranks_per_node > 0) {
    parallel::BalancerOptions blind = base;
    blind.policy = parallel::BalancerPolicy::kCostAware;
    blind.cost = SimulationCostModel(BalancerBenchOptions{});  // one node
    sim.balancers.emplace_back(blind, experts, ranks);
    sim.stats.push_back({"cost_aware_blind"});
  }
  ZipfRouter router(o);
  double bound_sum = 0.0;
  for (int64_t step = 0; step < o.steps; ++step) {
    const std::vector<int64_t> counts = router.Sample(step);
    const bool measure = step >= o.warmup;
    if (measure) {
      bound_sum +=
          parallel::PlacementBound(parallel::ExpertTotals(counts, experts, ranks), ranks);
    }
    for (size_t i = 0; i < sim.balancers.size(); ++i) {
      parallel::Balancer& balancer = sim.balancers[i];
      PolicyStats& st = sim.stats[i];
      const parallel::PlanDecision decision = balancer.Observe(step, counts);
      st.plan_changes += decision.changed ? 1 : 0;
      st.home_moves += decision.home_moves;
      st.replicas_added += decision.replicas_added;
      Stopwatch watch;
      const parallel::QuotaTable quotas = balancer.Quotas(counts);
      st.quota_us += watch.ElapsedSeconds() * 1e6;
      // Scored with the true cost model (the blind policy plans without nodes).
      const double imbalance = parallel::RankImbalance(
          parallel::RankCosts(balancer.plan(), quotas, base.cost));
      if (measure) {
        st.imbalance_sum += imbalance;
        st.imbalance_max = std::max(st.imbalance_max, imbalance);
        if (o.ranks_per_node > 0)
          st.inter_node_bytes_sum += InterNodeBytes(balancer.plan(), quotas, base.cost);
      }
    }
  }
  sim.placement_bound = bound_sum / static_cast<double>(o.steps - o.warmup);
  return sim;
}

Json SimulationJson(const BalancerBenchOptions& o, const Simulation& sim) {
  const double measured = static_cast<double>(o.steps - o.warmup);
  const double steps = static_cast<double>(o.steps);
  Json policies = Json::object();
  for (size_t i = 0; i < sim.balancers.size(); ++i) {
    const PolicyStats& st = sim.stats[i];
    const parallel::Balancer& balancer = sim.balancers[i];
    policies[st.name] = {
        {"rank_imbalance", st.imbalance_sum / measured},
        {"inter_node_mb", st.inter_node_bytes_sum / measured / 1e6},
        {"rank_imbalance_max", st.imbalance_max},
        {"plan_changes", st.plan_changes},
        {"home_moves", st.home_moves},
        {"replicas_added", st.replicas_added},
        {"replicas", parallel::LayoutOf(balancer.plan()).total_replicas()},
        {"planner_us", balancer.planner_us() / steps},
        {"quota_us", st.quota_us / steps}};
  }
  const parallel::CostModel cost = SimulationCostModel(o);
  const Json cost_model = {
      {"row_cost", cost.row_cost},
      {"copy_cost", cost.copy_cost},
      {"replica_refresh_cost", cost.replica_refresh_cost},
      {"replica_create_cost", cost.replica_create_cost},
      {"home_move_cost", cost.home_move_cost},
      {"remote_replica_refresh_cost", cost.remote_replica_refresh_cost},
      {"remote_replica_create_cost", cost.remote_replica_create_cost},
      {"remote_home_move_cost", cost.remote_home_move_cost},
      {"remote_row_cost", cost.remote_row_cost}};
  return {{"bench", "balancer"},
          {"mode", "simulate"},
          {"ranks", static_cast<int32_t>(o.simulate)},
          {"experts", static_cast<int32_t>(o.experts)},
          {"top_k", o.top_k},
          {"skew", o.skew},
          {"drift", o.drift},
          {"slots", o.slots},
          {"steps", o.steps},
          {"warmup", o.warmup},
          {"routes_per_rank", o.routes_per_rank},
          {"replan_interval", o.replan_interval},
          {"seed", o.seed},
          {"ranks_per_node", o.ranks_per_node},
          {"cost_model", cost_model},
          {"policies", policies},
          {"placement_bound", sim.placement_bound}};
}

void PrintSimulation(const BalancerBenchOptions& o, const Simulation& sim) {
  const double measured = static_cast<double>(o.steps - o.warmup);
  const double steps = static_cast<double>(o.steps);
  std::printf(
      "balancer simulation: R=%lld E=%lld k=%lld s=%.2f drift=%lld slots=%lld, %lld "
      "steps (%lld warm-up)\n  placement bound %.4f\n",
      static_cast<long long>(o.simulate), static_cast<long long>(o.experts),
      static_cast<long long>(o.top_k), o.skew, static_cast<long long>(o.drift),
      static_cast<long long>(o.slots), static_cast<long long>(o.steps),
      static_cast<long long>(o.warmup), sim.placement_bound);
  for (size_t i = 0; i < sim.balancers.size(); ++i) {
    const PolicyStats& st = sim.stats[i];
    char inter[48] = "";
    if (o.ranks_per_node > 0) {
      std::snprintf(inter, sizeof(inter), " | inter-node %.2f MB/step",
                    st.inter_node_bytes_sum / measured / 1e6);
    }
    std::printf(
        "  %-16s imbalance mean %.4f max %.4f%s | %lld plan changes, %lld home moves, "
        "%lld replicas added | planner %.1f us/step, quotas %.1f us/step\n",
        st.name.c_str(), st.imbalance_sum / measured, st.imbalance_max, inter,
        static_cast<long long>(st.plan_changes), static_cast<long long>(st.home_moves),
        static_cast<long long>(st.replicas_added), sim.balancers[i].planner_us() / steps,
        st.quota_us / steps);
  }
}

constexpr const char* kPolicyNames[] = {"static", "greedy_place", "replicate",
                                        "cost_aware"};

// The simulation's flags, and the ones both modes share.
void DeclareSimulationFlags(CLI::App* command, BalancerBenchOptions& o) {
  const CLI::Validator positive = IntegerCheck(Sign::kPositive);
  const CLI::Validator non_negative = IntegerCheck(Sign::kNonNegative);
  command
      ->add_option("--simulate", o.simulate,
                   "simulate R virtual ranks in one process (0 = MPI mode)")
      ->check(non_negative);
  command->add_option("--experts", o.experts, "number of experts E")->check(positive);
  command->add_option("--top-k", o.top_k, "experts per token k (<= E)")->check(positive);
  command->add_option("--skew", o.skew, "Zipf exponent s of expert popularity")
      ->check(RealCheck(Sign::kNonNegative));
  command->add_option("--drift", o.drift, "rotate the hot set every M steps (0 = never)")
      ->check(non_negative);
  command->add_option("--slots", o.slots, "replica slots per rank")->check(non_negative);
  command->add_option("--steps", o.steps, "simulated steps N")->check(positive);
  command->add_option("--warmup", o.warmup, "first steps left out of the means")
      ->check(non_negative);
  command->add_option("--routes-per-rank", o.routes_per_rank, "routes per rank per step")
      ->check(positive);
  command
      ->add_option("--replan-interval", o.replan_interval, "steps between re-plan checks")
      ->check(positive);
  command->add_option("--seed", o.seed, "seed of the popularity permutation and sampling")
      ->check(non_negative);
  command
      ->add_option("--ranks-per-node", o.ranks_per_node,
                   "simulate nodes of N ranks (0 = one node): link-aware costs, "
                   "inter-node bytes, a topology-blind cost_aware for comparison")
      ->check(non_negative);
  AddJsonFlag(command, &o.json);
}

// The flags of MPI mode (no --simulate).
void DeclareMpiFlags(CLI::App* command, BalancerBenchOptions& o) {
  const CLI::Validator positive = IntegerCheck(Sign::kPositive);
  const std::vector<std::string> policies(std::begin(kPolicyNames),
                                          std::end(kPolicyNames));
  command
      ->add_option("--policy", o.policy,
                   "MPI mode: the policy measured against static and uniform routing")
      ->check(CLI::IsMember(policies));
  command->add_option("--tokens", o.tokens, "MPI mode: tokens per rank per step")
      ->check(positive);
  command->add_option("--d-model", o.d_model, "MPI mode: model dimension d")
      ->check(positive);
  command->add_option("--d-ffn", o.d_ffn, "MPI mode: expert hidden dimension f")
      ->check(positive);
  command
      ->add_option("--repeats", o.repeats,
                   "MPI mode: interleaved repeats of uniform/static/policy (medians)")
      ->check(positive);
  command
      ->add_option("--also", o.also,
                   "MPI mode: another policy to measure in the same run (repeatable)")
      ->allow_extra_args(false)
      ->default_str("")
      ->check(CLI::IsMember(policies));
  command
      ->add_option("--aux-loss", o.aux_loss,
                   "MPI mode: router aux loss coefficient (0 keeps the skew fixed)")
      ->check(RealCheck(Sign::kNonNegative));
  command->add_flag("--verbose", o.verbose, "MPI mode: print every re-plan decision");
  command->add_flag("--calibrate", o.calibrate,
                    "MPI mode: measure expert FLOP rate and bandwidths first and use "
                    "them as balancer.cost_*");
}

class BalancerSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    DeclareSimulationFlags(command, options_);
    DeclareMpiFlags(command, options_);
  }

  Status Validate() const override {
    const BalancerBenchOptions& o = options_;
    MPIMOE_RETURN_IF_ERROR(ValidateTopK(o.top_k, o.experts));
    if (o.routes_per_rank < o.top_k) {
      return InvalidArgumentError("--routes-per-rank must be at least --top-k");
    }
    if (o.warmup >= o.steps)
      return InvalidArgumentError("--warmup must be below --steps");
    if (o.experts > (int64_t{1} << 20) || o.simulate > (int64_t{1} << 16)) {
      return InvalidArgumentError("--experts or --simulate too large");
    }
    if (o.ranks_per_node > 0 && o.simulate == 0) {
      return InvalidArgumentError(
          "--ranks-per-node needs --simulate (MPI mode uses the "
          "job's real nodes)");
    }
    if (o.ranks_per_node > o.simulate) {
      return InvalidArgumentError("--ranks-per-node must not exceed --simulate");
    }
    return Status::Ok();
  }

  Status Run(BenchContext& context) override {
    if (options_.simulate == 0) return RunBalancerMpi(options_, context);
    if (!context.is_root()) return Status::Ok();
    const Simulation sim = Simulate(options_);
    if (options_.json) {
      std::printf("%s\n", DumpJson(SimulationJson(options_, sim)).c_str());
    } else {
      PrintSimulation(options_, sim);
    }
    return Status::Ok();
  }

 private:
  BalancerBenchOptions options_;
};

}  // namespace

std::unique_ptr<Subcommand> NewBalancerSubcommand() {
  return std::make_unique<BalancerSubcommand>();
}

}  // namespace mpimoe::bench
