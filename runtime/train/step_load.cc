// step_load.cc: see step_load.h.
#include "runtime/train/step_load.h"

#include <algorithm>
#include <span>

#include "parallel/collectives.h"
#include "parallel/quota_split.h"

namespace mpimoe::train {

void PlacementTotals::Add(int64_t step, const PlacementRecord& record) {
  replica_bytes += record.replica_refresh_bytes + record.replica_grad_bytes;
  migration_bytes += record.migration_bytes;
  plan_changes += record.plan_changes;
  planner_us += record.planner_us;
  for (const std::string& d : record.decisions) {
    decisions.push_back("step " + std::to_string(step) + ", " + d);
  }
}

Status GatherRankLoad(parallel::Communicator& comm, MoeTransformer& model,
                      const PlacementTotals& totals, RankLoad* load) {
  constexpr size_t kFields = 4;
  int64_t mine[kFields] = {0, 0, totals.replica_bytes, totals.migration_bytes};
  for (moe::MoeLayer* layer : model.MoeLayers()) {
    mine[0] += layer->stats().rows_computed;
    mine[1] += layer->stats().a2a_bytes_sent;
  }
  std::vector<int64_t> all(kFields * static_cast<size_t>(comm.size()));
  MPIMOE_RETURN_IF_ERROR(parallel::Allgather(
      comm, std::span<const int64_t>(mine, kFields), std::span<int64_t>(all)));
  load->rows.assign(static_cast<size_t>(comm.size()), 0);
  load->a2a_bytes = load->replica_bytes = load->migration_bytes = 0;
  int64_t max_rows = 0, sum_rows = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const int64_t* f = all.data() + kFields * static_cast<size_t>(r);
    load->rows[static_cast<size_t>(r)] = f[0];
    load->a2a_bytes += f[1];
    load->replica_bytes += f[2];
    load->migration_bytes += f[3];
    max_rows = std::max(max_rows, f[0]);
    sum_rows += f[0];
  }
  load->imbalance = sum_rows > 0 ? static_cast<double>(max_rows) * comm.size() /
                                       static_cast<double>(sum_rows)
                                 : 1.0;
  return Status::Ok();
}

std::vector<std::vector<int64_t>> ExpertTokens(MoeTransformer& model) {
  std::vector<std::vector<int64_t>> tokens;
  for (moe::MoeLayer* layer : model.MoeLayers()) {
    tokens.push_back(layer->router().global_routes_per_expert());
  }
  return tokens;
}

double PlacementBoundOf(const std::vector<std::vector<int64_t>>& expert_tokens,
                        int ranks) {
  double bound = 1.0;
  for (const std::vector<int64_t>& loads : expert_tokens) {
    bound = std::max(bound, parallel::PlacementBound(loads, ranks));
  }
  return bound;
}

}  // namespace mpimoe::train
