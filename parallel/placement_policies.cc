// Placement policy building blocks (see placement_policies.h): LPT with refinement,
// Hungarian relabelling, replica counts and packing, and the cost-model replica search.
// Pure functions; the caller owns all inputs and outputs. Thread-safety: no shared state.
#include "parallel/placement_policies.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "runtime/core/check.h"

namespace mpimoe::parallel {
namespace {

void AddReplica(CopyLayout* layout, int32_t expert, int32_t rank) {
  std::vector<int32_t>& r = layout->replicas[static_cast<size_t>(expert)];
  r.insert(std::lower_bound(r.begin(), r.end(), rank), rank);
}

void RemoveReplica(CopyLayout* layout, int32_t expert, int32_t rank) {
  std::vector<int32_t>& r = layout->replicas[static_cast<size_t>(expert)];
  r.erase(std::lower_bound(r.begin(), r.end(), rank));
}

int64_t ExpertCost(int64_t load, const CostModel& cost) {
  return load > 0 ? cost.copy_cost + cost.row_cost * load : 0;
}

}  // namespace

SlotLimits MakeSlotLimits(int32_t num_experts, int32_t world_size,
                          int32_t replica_slots_per_rank) {
  SlotLimits limits;
  limits.home_slots = (num_experts + world_size - 1) / world_size;
  limits.total_slots = limits.home_slots + replica_slots_per_rank;
  limits.replica_budget = world_size * replica_slots_per_rank;
  return limits;
}

namespace {

// The planner's estimate of rows crossing nodes: an expert's routes come from every rank
// alike, so node n supplies loads[e] * ranks_on(n) / P of them; its copies take those
// first (the quota split's node-local pass), and whatever more they take comes from
// other nodes, shared among them by their rows. Adds remote_row_cost per such row.
void AddRemoteRowCosts(const CopyLayout& layout, int32_t world_size,
                       const std::vector<int64_t>& loads,
                       const std::vector<std::vector<int64_t>>& copy_rows,
                       const CostModel& cost, std::vector<int64_t>* rank_cost) {
  int32_t nodes = 0;
  for (int32_t n : cost.node_of_rank) nodes = std::max(nodes, n + 1);
  std::vector<int64_t> ranks_on(static_cast<size_t>(nodes), 0), taken(ranks_on.size());
  for (int32_t n : cost.node_of_rank) ++ranks_on[static_cast<size_t>(n)];
  for (int32_t e = 0; e < layout.num_experts(); ++e) {
    const std::vector<int64_t>& rows = copy_rows[static_cast<size_t>(e)];
    std::fill(taken.begin(), taken.end(), 0);
    for (int32_t c = 0; c < layout.num_copies(e); ++c) {
      const int32_t n = cost.node_of_rank[static_cast<size_t>(layout.copy_rank(e, c))];
      taken[static_cast<size_t>(n)] += rows[static_cast<size_t>(c)];
    }
    for (int32_t c = 0; c < layout.num_copies(e); ++c) {
      const int32_t r = layout.copy_rank(e, c);
      const size_t n = static_cast<size_t>(cost.node_of_rank[static_cast<size_t>(r)]);
      const int64_t supply = loads[static_cast<size_t>(e)] * ranks_on[n] / world_size;
      const int64_t remote = std::max<int64_t>(0, taken[n] - supply);
      if (remote == 0) continue;
      const int64_t mine = remote * rows[static_cast<size_t>(c)] / taken[n];
      (*rank_cost)[static_cast<size_t>(r)] += cost.remote_row_cost * mine;
    }
  }
}

}  // namespace

std::vector<int64_t> PredictRankCosts(const CopyLayout& layout, int32_t world_size,
                                      const std::vector<int64_t>& loads,
                                      const CostModel& cost) {
  if (cost.node_of_rank.empty() || cost.remote_row_cost == 0) {
    return SplitExpertLoads(layout, world_size, loads, cost, kPlannerSplitPasses,
                            nullptr);
  }
  std::vector<std::vector<int64_t>> copy_rows;
  std::vector<int64_t> rank_cost =
      SplitExpertLoads(layout, world_size, loads, cost, kPlannerSplitPasses, &copy_rows);
  AddRemoteRowCosts(layout, world_size, loads, copy_rows, cost, &rank_cost);
  return rank_cost;
}

std::vector<int64_t> LeximaxKey(std::vector<int64_t> rank_costs) {
  std::sort(rank_costs.begin(), rank_costs.end(), std::greater<int64_t>());
  return rank_costs;
}

Migration CountMigration(const CopyLayout& from, const CopyLayout& to,
                         const CostModel& cost) {
  Migration m;
  for (int32_t e = 0; e < to.num_experts(); ++e) {
    const size_t eu = static_cast<size_t>(e);
    if (from.home[eu] != to.home[eu]) {
      ++m.home_moves;
      m.cost += cost.move_cost(from.home[eu], to.home[eu]);
    }
    for (int32_t r : to.replicas[eu]) {
      if (from.Holds(e, r)) continue;
      ++m.replicas_added;
      m.cost += cost.create_cost(to.home[eu], r);
    }
    for (int32_t r : from.replicas[eu]) m.replicas_removed += to.Holds(e, r) ? 0 : 1;
  }
  return m;
}

std::vector<int32_t> MaxWeightAssignment(
    const std::vector<std::vector<int64_t>>& weight) {
  // Hungarian algorithm with potentials, minimising -weight; 1-based internally.
  const int n = static_cast<int>(weight.size());
  constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
  std::vector<int64_t> u(static_cast<size_t>(n) + 1, 0), v(u.size(), 0);
  std::vector<int> match(u.size(), 0), way(u.size(), 0);
  for (int i = 1; i <= n; ++i) {
    match[0] = i;
    int j0 = 0;
    std::vector<int64_t> min_v(u.size(), kInf);
    std::vector<char> used(u.size(), 0);
    do {
      used[static_cast<size_t>(j0)] = 1;
      const int i0 = match[static_cast<size_t>(j0)];
      int64_t delta = kInf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        const size_t ju = static_cast<size_t>(j);
        if (used[ju]) continue;
        const int64_t cur = -weight[static_cast<size_t>(i0 - 1)][ju - 1] -
                            u[static_cast<size_t>(i0)] - v[ju];
        if (cur < min_v[ju]) {
          min_v[ju] = cur;
          way[ju] = j0;
        }
        if (min_v[ju] < delta) {
          delta = min_v[ju];
          j1 = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        const size_t ju = static_cast<size_t>(j);
        if (used[ju]) {
          u[static_cast<size_t>(match[ju])] += delta;
          v[ju] -= delta;
        } else {
          min_v[ju] -= delta;
        }
      }
      j0 = j1;
    } while (match[static_cast<size_t>(j0)] != 0);
    do {
      const int j1 = way[static_cast<size_t>(j0)];
      match[static_cast<size_t>(j0)] = match[static_cast<size_t>(j1)];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int32_t> column_of_row(static_cast<size_t>(n), 0);
  for (int j = 1; j <= n; ++j)
    column_of_row[static_cast<size_t>(match[static_cast<size_t>(j)] - 1)] = j - 1;
  return column_of_row;
}

std::vector<int32_t> LptHomes(const std::vector<int64_t>& loads, int32_t world_size,
                              int32_t cap, const std::vector<int32_t>& current_home,
                              const CostModel& cost) {
  const int32_t num_experts = static_cast<int32_t>(loads.size());
  MPIMOE_CHECK(static_cast<int64_t>(cap) * world_size >= num_experts);
  std::vector<int32_t> order(static_cast<size_t>(num_experts));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const int64_t la = loads[static_cast<size_t>(a)], lb = loads[static_cast<size_t>(b)];
    return la != lb ? la > lb : a < b;
  });
  std::vector<int64_t> bin_cost(static_cast<size_t>(world_size), 0);
  std::vector<int32_t> bin_count(static_cast<size_t>(world_size), 0);
  std::vector<int32_t> bin_of(static_cast<size_t>(num_experts), 0);
  for (int32_t e : order) {
    int32_t best = -1;
    for (int32_t b = 0; b < world_size; ++b) {
      const size_t bu = static_cast<size_t>(b);
      if (bin_count[bu] >= cap) continue;
      if (best < 0 || bin_cost[bu] < bin_cost[static_cast<size_t>(best)]) best = b;
    }
    bin_of[static_cast<size_t>(e)] = best;
    bin_cost[static_cast<size_t>(best)] +=
        ExpertCost(loads[static_cast<size_t>(e)], cost);
    ++bin_count[static_cast<size_t>(best)];
  }
  // Refine: move an expert out of the most loaded bin, or swap it for a lighter one,
  // whenever that lowers the larger of the two bins below the hot bin's cost. Each
  // step strictly lowers the hot bin, so the sorted bin costs fall lexicographically.
  std::vector<std::vector<int32_t>> members(static_cast<size_t>(world_size));
  for (int32_t e = 0; e < num_experts; ++e)
    members[static_cast<size_t>(bin_of[static_cast<size_t>(e)])].push_back(e);
  auto expert_cost = [&](int32_t e) {
    return ExpertCost(loads[static_cast<size_t>(e)], cost);
  };
  for (int32_t iteration = 0; iteration < 4 * num_experts; ++iteration) {
    size_t hot = 0;
    for (size_t b = 1; b < bin_cost.size(); ++b) {
      if (bin_cost[b] > bin_cost[hot]) hot = b;
    }
    int64_t best_peak = bin_cost[hot];
    size_t best_bin = hot, best_i = 0;
    int64_t best_j = -1;  // index into members[best_bin], or -1 for a plain move
    for (size_t b = 0; b < bin_cost.size(); ++b) {
      if (b == hot) continue;
      for (size_t i = 0; i < members[hot].size(); ++i) {
        const int64_t ci = expert_cost(members[hot][i]);
        if (bin_count[b] < cap) {
          const int64_t peak = std::max(bin_cost[hot] - ci, bin_cost[b] + ci);
          if (peak < best_peak) {
            best_peak = peak;
            best_bin = b;
            best_i = i;
            best_j = -1;
          }
        }
        for (size_t j = 0; j < members[b].size(); ++j) {
          const int64_t d = ci - expert_cost(members[b][j]);
          if (d <= 0) continue;
          const int64_t peak = std::max(bin_cost[hot] - d, bin_cost[b] + d);
          if (peak < best_peak) {
            best_peak = peak;
            best_bin = b;
            best_i = i;
            best_j = static_cast<int64_t>(j);
          }
        }
      }
    }
    if (best_bin == hot) break;
    const int32_t out = members[hot][best_i];
    members[hot].erase(members[hot].begin() + static_cast<std::ptrdiff_t>(best_i));
    bin_cost[hot] -= expert_cost(out);
    bin_cost[best_bin] += expert_cost(out);
    members[best_bin].push_back(out);
    bin_of[static_cast<size_t>(out)] = static_cast<int32_t>(best_bin);
    if (best_j >= 0) {
      const int32_t in = members[best_bin][static_cast<size_t>(best_j)];
      members[best_bin].erase(members[best_bin].begin() + best_j);
      bin_cost[best_bin] -= expert_cost(in);
      bin_cost[hot] += expert_cost(in);
      members[hot].push_back(in);
      bin_of[static_cast<size_t>(in)] = static_cast<int32_t>(hot);
    } else {
      --bin_count[hot];
      ++bin_count[best_bin];
    }
  }
  // Relabel bins to ranks keeping the most experts at their current home.
  std::vector<std::vector<int64_t>> kept(
      static_cast<size_t>(world_size),
      std::vector<int64_t>(static_cast<size_t>(world_size)));
  for (int32_t e = 0; e < num_experts; ++e) {
    ++kept[static_cast<size_t>(bin_of[static_cast<size_t>(e)])]
          [static_cast<size_t>(current_home[static_cast<size_t>(e)])];
  }
  const std::vector<int32_t> rank_of_bin = MaxWeightAssignment(kept);
  std::vector<int32_t> home(static_cast<size_t>(num_experts));
  for (int32_t e = 0; e < num_experts; ++e) {
    home[static_cast<size_t>(e)] =
        rank_of_bin[static_cast<size_t>(bin_of[static_cast<size_t>(e)])];
  }
  return home;
}

std::vector<int32_t> ReplicaCounts(const std::vector<int64_t>& loads, int32_t world_size,
                                   int32_t budget) {
  const size_t num_experts = loads.size();
  std::vector<int32_t> counts(num_experts, 1);
  for (int32_t added = 0; added < budget; ++added) {
    int64_t best = -1;
    for (size_t e = 0; e < num_experts; ++e) {
      if (counts[e] >= world_size || loads[e] == 0) continue;
      // loads[e] / counts[e] > loads[best] / counts[best], by cross-multiplication.
      if (best < 0 || loads[e] * counts[static_cast<size_t>(best)] >
                          loads[static_cast<size_t>(best)] * counts[e]) {
        best = static_cast<int64_t>(e);
      }
    }
    if (best < 0) break;
    ++counts[static_cast<size_t>(best)];
  }
  return counts;
}

CopyLayout PackReplicas(const std::vector<int32_t>& home,
                        const std::vector<int32_t>& counts,
                        const std::vector<int64_t>& loads, int32_t world_size,
                        const SlotLimits& limits, const CostModel& cost) {
  const int32_t num_experts = static_cast<int32_t>(home.size());
  CopyLayout layout;
  layout.home = home;
  layout.replicas.assign(static_cast<size_t>(num_experts), {});
  std::vector<int64_t> per_copy(static_cast<size_t>(num_experts));
  std::vector<int64_t> rank_cost(static_cast<size_t>(world_size), 0);
  std::vector<int32_t> slots(static_cast<size_t>(world_size), 0);
  struct Item {
    int64_t weight;
    int32_t expert;
  };
  std::vector<Item> items;
  for (int32_t e = 0; e < num_experts; ++e) {
    const size_t eu = static_cast<size_t>(e);
    per_copy[eu] = ExpertCost(loads[eu] / counts[eu], cost);
    rank_cost[static_cast<size_t>(home[eu])] += per_copy[eu];
    ++slots[static_cast<size_t>(home[eu])];
    for (int32_t c = 1; c < counts[eu]; ++c) items.push_back({per_copy[eu], e});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.expert < b.expert;
  });
  int32_t placed = 0;
  for (const Item& item : items) {
    if (placed >= limits.replica_budget) break;
    int32_t best = -1;
    for (int32_t r = 0; r < world_size; ++r) {
      const size_t ru = static_cast<size_t>(r);
      if (slots[ru] >= limits.total_slots || layout.Holds(item.expert, r)) continue;
      if (best < 0 || rank_cost[ru] < rank_cost[static_cast<size_t>(best)]) best = r;
    }
    if (best < 0) continue;  // no rank can take it: drop the replica
    AddReplica(&layout, item.expert, best);
    rank_cost[static_cast<size_t>(best)] += item.weight;
    ++slots[static_cast<size_t>(best)];
    ++placed;
  }
  return layout;
}

CopyLayout ImproveReplicas(CopyLayout start, const std::vector<int64_t>& loads,
                           int32_t world_size, const SlotLimits& limits,
                           const CostModel& cost) {
  const int32_t num_experts = start.num_experts();
  CopyLayout cur = std::move(start);
  auto key_of = [&](const CopyLayout& layout) {
    return LeximaxKey(PredictRankCosts(layout, world_size, loads, cost));
  };
  std::vector<int64_t> key = key_of(cur);
  // 1. Drop replicas that do not pay for themselves (removal does not worsen the key).
  for (int32_t e = 0; e < num_experts; ++e) {
    const std::vector<int32_t> ranks = cur.replicas[static_cast<size_t>(e)];
    for (int32_t r : ranks) {
      CopyLayout trial = cur;
      RemoveReplica(&trial, e, r);
      std::vector<int64_t> trial_key = key_of(trial);
      if (trial_key <= key) {
        cur = std::move(trial);
        key = std::move(trial_key);
      }
    }
  }
  // 2. Add (or swap in) the replica that best relieves the most loaded rank.
  const int32_t max_iterations = 4 * (limits.replica_budget + world_size);
  for (int32_t iteration = 0; iteration < max_iterations; ++iteration) {
    const std::vector<int64_t> costs = PredictRankCosts(cur, world_size, loads, cost);
    int32_t hot = 0;
    for (int32_t r = 1; r < world_size; ++r) {
      if (costs[static_cast<size_t>(r)] > costs[static_cast<size_t>(hot)]) hot = r;
    }
    const std::vector<int32_t> slots = cur.SlotsPerRank(world_size);
    const bool budget_left = cur.total_replicas() < limits.replica_budget;
    std::vector<std::vector<int32_t>> replicas_on(static_cast<size_t>(world_size));
    for (int32_t e = 0; e < num_experts; ++e) {
      for (int32_t r : cur.replicas[static_cast<size_t>(e)])
        replicas_on[static_cast<size_t>(r)].push_back(e);
    }
    bool found = false;
    CopyLayout best;
    std::vector<int64_t> best_key;
    auto consider = [&](CopyLayout trial) {
      std::vector<int64_t> trial_key = key_of(trial);
      if (trial_key < key && (!found || trial_key < best_key)) {
        found = true;
        best = std::move(trial);
        best_key = std::move(trial_key);
      }
    };
    for (int32_t e = 0; e < num_experts; ++e) {
      if (loads[static_cast<size_t>(e)] == 0 || !cur.Holds(e, hot)) continue;
      int32_t add_to = -1, swap_on = -1;
      for (int32_t r = 0; r < world_size; ++r) {
        const size_t ru = static_cast<size_t>(r);
        if (cur.Holds(e, r)) continue;
        if (budget_left && slots[ru] < limits.total_slots &&
            (add_to < 0 || costs[ru] < costs[static_cast<size_t>(add_to)])) {
          add_to = r;
        }
        if (!replicas_on[ru].empty() &&
            (swap_on < 0 || costs[ru] < costs[static_cast<size_t>(swap_on)])) {
          swap_on = r;
        }
      }
      if (add_to >= 0) {
        CopyLayout trial = cur;
        AddReplica(&trial, e, add_to);
        consider(std::move(trial));
      }
      if (swap_on >= 0) {
        for (int32_t other : replicas_on[static_cast<size_t>(swap_on)]) {
          CopyLayout trial = cur;
          RemoveReplica(&trial, other, swap_on);
          AddReplica(&trial, e, swap_on);
          consider(std::move(trial));
        }
      }
    }
    if (!found) break;
    cur = std::move(best);
    key = std::move(best_key);
  }
  return cur;
}

Plan PlanFromLayout(const CopyLayout& layout, const Plan& previous) {
  const int32_t num_experts = previous.num_experts;
  const int32_t world = previous.world_size;
  MPIMOE_CHECK(layout.num_experts() == num_experts);
  Plan plan;
  plan.num_experts = num_experts;
  plan.world_size = world;
  plan.homes.resize(static_cast<size_t>(num_experts));
  plan.rank_slots.resize(static_cast<size_t>(world));
  std::vector<char> placed(static_cast<size_t>(num_experts));
  for (int32_t r = 0; r < world; ++r) {
    std::vector<int32_t>& slots = plan.rank_slots[static_cast<size_t>(r)];
    std::fill(placed.begin(), placed.end(), 0);
    for (int32_t e : previous.rank_slots[static_cast<size_t>(r)]) {
      if (layout.Holds(e, r)) {
        slots.push_back(e);
        placed[static_cast<size_t>(e)] = 1;
      }
    }
    for (int32_t e = 0; e < num_experts; ++e) {
      if (!placed[static_cast<size_t>(e)] && layout.home[static_cast<size_t>(e)] == r) {
        slots.push_back(e);
        placed[static_cast<size_t>(e)] = 1;
      }
    }
    for (int32_t e = 0; e < num_experts; ++e) {
      if (!placed[static_cast<size_t>(e)] && layout.Holds(e, r)) slots.push_back(e);
    }
    for (int32_t s = 0; s < static_cast<int32_t>(slots.size()); ++s) {
      const int32_t e = slots[static_cast<size_t>(s)];
      if (layout.home[static_cast<size_t>(e)] == r)
        plan.homes[static_cast<size_t>(e)] = ExpertHome{r, s};
    }
  }
  bool changed = plan.rank_slots != previous.rank_slots;
  for (int32_t e = 0; e < num_experts && !changed; ++e) {
    changed = plan.homes[static_cast<size_t>(e)].rank !=
                  previous.homes[static_cast<size_t>(e)].rank ||
              plan.homes[static_cast<size_t>(e)].slot !=
                  previous.homes[static_cast<size_t>(e)].slot;
  }
  plan.version = previous.version + (changed ? 1 : 0);
  return plan;
}

}  // namespace mpimoe::parallel
