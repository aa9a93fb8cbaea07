// Quota split implementation (see quota_split.h): integer water-filling of replicated
// experts' rows over their copies and the locality-first per-source split. Pure
// functions; the caller owns all inputs and outputs. Thread-safety: no shared state.
#include "parallel/quota_split.h"

#include <algorithm>
#include <numeric>

#include "parallel/load_forecast.h"
#include "runtime/core/check.h"

namespace mpimoe::parallel {
namespace {

// Integer water-fill: splits `rows` over copies whose rank levels are `bases` (cost
// units, including the copy's fixed cost) so that base + row_cost * x equalises.
void WaterFill(int64_t rows, const std::vector<int64_t>& bases, int64_t row_cost,
               std::vector<size_t>& order, std::vector<int64_t>* out) {
  const size_t n = bases.size();
  out->assign(n, 0);
  if (rows == 0) return;
  order.resize(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return bases[a] != bases[b] ? bases[a] < bases[b] : a < b;
  });
  const int64_t budget = rows * row_cost;
  size_t k = 1;
  int64_t sum = bases[order[0]];
  while (k < n) {
    const int64_t next = bases[order[k]];
    if (next * static_cast<int64_t>(k) - sum > budget) break;
    sum += next;
    ++k;
  }
  const int64_t level = (budget + sum) / static_cast<int64_t>(k);
  int64_t assigned = 0;
  for (size_t i = 0; i < k; ++i) {
    const int64_t x = std::max<int64_t>(0, (level - bases[order[i]]) / row_cost);
    (*out)[order[i]] = x;
    assigned += x;
  }
  for (int64_t left = rows - assigned; left > 0; --left) {
    size_t best = 0;
    int64_t best_cost = bases[0] + ((*out)[0] + 1) * row_cost;
    for (size_t c = 1; c < n; ++c) {
      const int64_t c_cost = bases[c] + ((*out)[c] + 1) * row_cost;
      if (c_cost < best_cost) {
        best = c;
        best_cost = c_cost;
      }
    }
    ++(*out)[best];
  }
}

int64_t CopyCost(int64_t rows, const CostModel& cost) {
  return rows > 0 ? cost.copy_cost + cost.row_cost * rows : 0;
}

}  // namespace

bool CopyLayout::Holds(int32_t expert, int32_t rank) const {
  if (home[static_cast<size_t>(expert)] == rank) return true;
  const std::vector<int32_t>& r = replicas[static_cast<size_t>(expert)];
  return std::binary_search(r.begin(), r.end(), rank);
}

int32_t CopyLayout::total_replicas() const {
  int32_t total = 0;
  for (const std::vector<int32_t>& r : replicas) total += static_cast<int32_t>(r.size());
  return total;
}

std::vector<int32_t> CopyLayout::SlotsPerRank(int32_t world_size) const {
  std::vector<int32_t> slots(static_cast<size_t>(world_size), 0);
  for (size_t e = 0; e < home.size(); ++e) {
    ++slots[static_cast<size_t>(home[e])];
    for (int32_t r : replicas[e]) ++slots[static_cast<size_t>(r)];
  }
  return slots;
}

CopyLayout LayoutOf(const Plan& plan) {
  CopyLayout layout;
  layout.home.resize(static_cast<size_t>(plan.num_experts));
  layout.replicas.resize(static_cast<size_t>(plan.num_experts));
  for (int32_t e = 0; e < plan.num_experts; ++e)
    layout.home[static_cast<size_t>(e)] = plan.homes[static_cast<size_t>(e)].rank;
  for (int32_t r = 0; r < plan.world_size; ++r) {  // ascending rank: sorted replicas
    for (int32_t s = 0; s < plan.num_slots(r); ++s) {
      if (!plan.IsHome(r, s)) {
        layout
            .replicas[static_cast<size_t>(
                plan.rank_slots[static_cast<size_t>(r)][static_cast<size_t>(s)])]
            .push_back(r);
      }
    }
  }
  return layout;
}

void SplitExpertLoadsInto(const CopyLayout& layout, int32_t world_size,
                          const std::vector<int64_t>& expert_loads, const CostModel& cost,
                          int max_passes, SplitWorkspace& ws,
                          std::vector<std::vector<int64_t>>* copy_rows) {
  const int32_t num_experts = layout.num_experts();
  MPIMOE_CHECK(expert_loads.size() == static_cast<size_t>(num_experts));
  MPIMOE_CHECK(cost.row_cost > 0);
  std::vector<int64_t>& rank_cost = ws.rank_cost;
  rank_cost.assign(static_cast<size_t>(world_size), 0);
  std::vector<int32_t>& replicated = ws.replicated;
  replicated.clear();
  for (int32_t e = 0; e < num_experts; ++e) {
    const size_t eu = static_cast<size_t>(e);
    for (int32_t r : layout.replicas[eu])
      rank_cost[static_cast<size_t>(r)] += cost.refresh_cost(layout.home[eu], r);
    if (layout.replicas[eu].empty()) {
      rank_cost[static_cast<size_t>(layout.home[eu])] += CopyCost(expert_loads[eu], cost);
    } else {
      replicated.push_back(e);
    }
  }
  std::sort(replicated.begin(), replicated.end(), [&](int32_t a, int32_t b) {
    const int64_t la = expert_loads[static_cast<size_t>(a)];
    const int64_t lb = expert_loads[static_cast<size_t>(b)];
    return la != lb ? la > lb : a < b;
  });
  std::vector<std::vector<int64_t>>& rows = ws.rows;
  if (rows.size() < replicated.size()) rows.resize(replicated.size());
  std::vector<int64_t>& bases = ws.bases;
  std::vector<int64_t>& previous = ws.previous;
  bool changed = true;
  for (int pass = 0; pass < max_passes && changed; ++pass) {
    changed = pass == 0;
    for (size_t i = 0; i < replicated.size(); ++i) {
      const int32_t e = replicated[i];
      const int32_t copies = layout.num_copies(e);
      if (pass > 0) {
        for (int32_t c = 0; c < copies; ++c) {
          rank_cost[static_cast<size_t>(layout.copy_rank(e, c))] -=
              CopyCost(rows[i][static_cast<size_t>(c)], cost);
        }
      }
      if (pass > 0) previous = rows[i];
      bases.resize(static_cast<size_t>(copies));
      for (int32_t c = 0; c < copies; ++c) {
        bases[static_cast<size_t>(c)] =
            rank_cost[static_cast<size_t>(layout.copy_rank(e, c))] + cost.copy_cost;
      }
      WaterFill(expert_loads[static_cast<size_t>(e)], bases, cost.row_cost, ws.order,
                &rows[i]);
      if (pass > 0 && rows[i] != previous) changed = true;
      for (int32_t c = 0; c < copies; ++c) {
        rank_cost[static_cast<size_t>(layout.copy_rank(e, c))] +=
            CopyCost(rows[i][static_cast<size_t>(c)], cost);
      }
    }
  }
  if (copy_rows != nullptr) {
    copy_rows->resize(static_cast<size_t>(num_experts));
    for (int32_t e = 0; e < num_experts; ++e) {
      if (layout.replicas[static_cast<size_t>(e)].empty())
        (*copy_rows)[static_cast<size_t>(e)].assign(1,
                                                    expert_loads[static_cast<size_t>(e)]);
    }
    for (size_t i = 0; i < replicated.size(); ++i)
      (*copy_rows)[static_cast<size_t>(replicated[i])] = rows[i];  // reuses capacity
  }
}

std::vector<int64_t> SplitExpertLoads(const CopyLayout& layout, int32_t world_size,
                                      const std::vector<int64_t>& expert_loads,
                                      const CostModel& cost, int max_passes,
                                      std::vector<std::vector<int64_t>>* copy_rows) {
  SplitWorkspace ws;
  SplitExpertLoadsInto(layout, world_size, expert_loads, cost, max_passes, ws, copy_rows);
  return std::move(ws.rank_cost);
}

void QuotaSplitter::Split(const Plan& plan, const std::vector<int64_t>& counts,
                          const CostModel& cost, QuotaTable* out) {
  const int32_t num_experts = plan.num_experts;
  const int32_t world = plan.world_size;
  if (!has_plan_ || !(plan == plan_)) {  // a new plan: rebuild the layout (rare)
    plan_ = plan;
    layout_ = LayoutOf(plan);
    has_plan_ = true;
  }
  const CopyLayout& layout = layout_;
  MPIMOE_CHECK(counts.size() ==
               static_cast<size_t>(num_experts) * static_cast<size_t>(world));
  totals_.assign(static_cast<size_t>(num_experts), 0);
  for (int32_t s = 0; s < world; ++s) {
    for (int32_t e = 0; e < num_experts; ++e) {
      totals_[static_cast<size_t>(e)] +=
          counts[static_cast<size_t>(s) * static_cast<size_t>(num_experts) +
                 static_cast<size_t>(e)];
    }
  }
  SplitExpertLoadsInto(layout, world, totals_, cost, kQuotaSplitPasses, workspace_,
                       &copy_rows_);

  QuotaTable& quotas = *out;
  quotas.num_experts = num_experts;
  quotas.world_size = world;
  quotas.rows.resize(static_cast<size_t>(num_experts));
  left_.resize(static_cast<size_t>(world));
  std::vector<int64_t>& left = left_;
  for (int32_t e = 0; e < num_experts; ++e) {
    const size_t eu = static_cast<size_t>(e);
    const int32_t copies = layout.num_copies(e);
    std::vector<int64_t>& q = quotas.rows[eu];
    q.assign(static_cast<size_t>(copies) * static_cast<size_t>(world), 0);
    std::vector<int64_t>& room = copy_rows_[eu];
    for (int32_t s = 0; s < world; ++s) {
      left[static_cast<size_t>(s)] =
          counts[static_cast<size_t>(s) * static_cast<size_t>(num_experts) + eu];
    }
    // Locality first: a source holding a copy keeps its own rows there.
    for (int32_t c = 0; c < copies; ++c) {
      const size_t s = static_cast<size_t>(layout.copy_rank(e, c));
      const int64_t keep = std::min(left[s], room[static_cast<size_t>(c)]);
      q[static_cast<size_t>(c) * static_cast<size_t>(world) + s] += keep;
      left[s] -= keep;
      room[static_cast<size_t>(c)] -= keep;
    }
    // Then the node: a copy takes rows from the other sources on its node, in rank order.
    if (!cost.node_of_rank.empty()) {
      for (int32_t c = 0; c < copies; ++c) {
        const int32_t at = layout.copy_rank(e, c);
        for (int32_t s = 0; s < world && room[static_cast<size_t>(c)] > 0; ++s) {
          const size_t su = static_cast<size_t>(s);
          if (s == at || cost.remote(s, at) || left[su] == 0) continue;
          const int64_t give = std::min(left[su], room[static_cast<size_t>(c)]);
          q[static_cast<size_t>(c) * static_cast<size_t>(world) + su] += give;
          left[su] -= give;
          room[static_cast<size_t>(c)] -= give;
        }
      }
    }
    int32_t c = 0;
    for (int32_t s = 0; s < world; ++s) {
      const size_t su = static_cast<size_t>(s);
      while (left[su] > 0) {
        while (room[static_cast<size_t>(c)] == 0) ++c;  // room sums to what is left
        const int64_t give = std::min(left[su], room[static_cast<size_t>(c)]);
        q[static_cast<size_t>(c) * static_cast<size_t>(world) + su] += give;
        left[su] -= give;
        room[static_cast<size_t>(c)] -= give;
      }
    }
  }
}

QuotaTable SplitQuotas(const Plan& plan, const std::vector<int64_t>& counts,
                       const CostModel& cost) {
  QuotaSplitter splitter;
  QuotaTable quotas;
  splitter.Split(plan, counts, cost, &quotas);
  return quotas;
}

std::vector<int64_t> RankCosts(const Plan& plan, const QuotaTable& quotas,
                               const CostModel& cost) {
  const CopyLayout layout = LayoutOf(plan);
  std::vector<int64_t> rank_cost(static_cast<size_t>(plan.world_size), 0);
  for (int32_t e = 0; e < plan.num_experts; ++e) {
    for (int32_t c = 0; c < layout.num_copies(e); ++c) {
      int64_t rows = 0;
      for (int32_t s = 0; s < plan.world_size; ++s) rows += quotas.get(e, c, s);
      const size_t r = static_cast<size_t>(layout.copy_rank(e, c));
      rank_cost[r] += CopyCost(rows, cost);
      if (c > 0)
        rank_cost[r] += cost.refresh_cost(layout.home[static_cast<size_t>(e)],
                                          layout.copy_rank(e, c));
    }
  }
  return rank_cost;
}

double RankImbalance(const std::vector<int64_t>& rank_costs) {
  int64_t most = 0, sum = 0;
  for (int64_t c : rank_costs) {
    most = std::max(most, c);
    sum += c;
  }
  if (sum == 0) return 1.0;
  return static_cast<double>(most) * static_cast<double>(rank_costs.size()) /
         static_cast<double>(sum);
}

double PlacementBound(const std::vector<int64_t>& expert_loads, int32_t world_size) {
  int64_t most = 0, sum = 0;
  for (int64_t l : expert_loads) {
    most = std::max(most, l);
    sum += l;
  }
  if (sum == 0) return 1.0;
  return std::max(1.0, static_cast<double>(most) * world_size / static_cast<double>(sum));
}

}  // namespace mpimoe::parallel
