#include "runtime/train/expert_placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mpimoe::train {
namespace {

// Row-cost unit of the cost model: fixed costs are expressed in these (1000 = one row).
constexpr int64_t kRowCost = 1000;

}  // namespace

StatusOr<parallel::BalancerOptions> BalancerOptionsOf(const BalancerSection& b) {
  parallel::BalancerOptions options;
  MPIMOE_ASSIGN_OR_RETURN(options.policy, parallel::ParseBalancerPolicy(b.policy));
  options.replica_slots_per_rank = b.replica_slots_per_rank;
  options.replan_interval = b.replan_interval;
  options.imbalance_high = b.imbalance_high;
  options.imbalance_low = b.imbalance_low;
  options.ema_shift = b.ema_shift;
  options.plan_lifetime_steps = b.plan_lifetime_steps;
  options.kappa = b.kappa;
  options.min_relative_gain = b.min_relative_gain;
  options.noise_sigmas = b.noise_sigmas;
  return options;
}

ExpertPlacement::ExpertPlacement(const TrainConfig& config,
                                 const parallel::Topology& topology,
                                 double inter_node_bytes_per_s)
    : config_(config),
      world_size_(static_cast<int>(topology.node_of_rank.size())),
      topology_(topology),
      inter_node_bytes_per_s_(inter_node_bytes_per_s) {}

parallel::CostModel ExpertPlacement::CostFor(double seconds_per_row) const {
  const MoeSection& moe = config_.model.moe;
  const double matrices = moe.activation == moe::Activation::kSwiglu ? 3.0 : 2.0;
  const double weight_bytes = 4.0 * matrices * config_.model.d_model * moe.d_ffn;
  auto rows = [&](double seconds) {
    return static_cast<int64_t>(std::llround(seconds / seconds_per_row * kRowCost));
  };
  const double memory_bandwidth = 1e9 * config_.balancer.cost_memory_gbps;
  const double network_bandwidth = 1e9 * config_.balancer.cost_network_gbps;
  parallel::CostModel cost;
  cost.row_cost = kRowCost;
  // An active copy streams its weights and gradients: read W, read and write dW.
  cost.copy_cost = rows(3.0 * weight_bytes / memory_bandwidth);
  // A replica costs a refresh (W out) and its gradient partial (dW back) every step.
  cost.replica_refresh_cost = rows(2.0 * weight_bytes / network_bandwidth);
  cost.replica_create_cost = rows(weight_bytes / network_bandwidth);
  // A home move carries W and both AdamW moments.
  cost.home_move_cost = rows(3.0 * weight_bytes / network_bandwidth);
  if (topology_.num_nodes > 1) {
    cost.node_of_rank = topology_.node_of_rank;
    const double remote = inter_node_bytes_per_s_;
    cost.remote_replica_refresh_cost = rows(2.0 * weight_bytes / remote);
    cost.remote_replica_create_cost = rows(weight_bytes / remote);
    cost.remote_home_move_cost = rows(3.0 * weight_bytes / remote);
    // A row crosses twice in the forward (dispatch, combine) and twice in the backward.
    const double wire_bytes =
        config_.parallel.a2a_wire_dtype == moe::WireDType::kBF16 ? 2.0 : 4.0;
    cost.remote_row_cost = rows(4.0 * wire_bytes * config_.model.d_model / remote);
  }
  return cost;
}

StatusOr<std::unique_ptr<ExpertPlacement>> ExpertPlacement::Create(
    const TrainConfig& config, MoeTransformer& model, const parallel::Topology& topology,
    double inter_node_bytes_per_s) {
  if (topology.num_nodes > 1 && !(inter_node_bytes_per_s > 0.0)) {
    return InvalidArgumentError("ExpertPlacement: the job spans " +
                                std::to_string(topology.num_nodes) +
                                " nodes but the inter-node bandwidth is not positive");
  }
  const int world_size = static_cast<int>(topology.node_of_rank.size());
  std::unique_ptr<ExpertPlacement> placement(
      new ExpertPlacement(config, topology, inter_node_bytes_per_s));
  const MoeSection& moe = config.model.moe;
  const double matrices = moe.activation == moe::Activation::kSwiglu ? 3.0 : 2.0;
  const double flops_per_row = 6.0 * matrices * config.model.d_model * moe.d_ffn;
  placement->cost_ =
      placement->CostFor(flops_per_row / (1e9 * config.balancer.cost_expert_gflops));

  MPIMOE_ASSIGN_OR_RETURN(parallel::BalancerOptions options,
                          BalancerOptionsOf(config.balancer));
  options.cost = placement->cost_;
  MPIMOE_RETURN_IF_ERROR(
      parallel::ValidateBalancerOptions(options).WithContext("balancer"));
  for (moe::MoeLayer* layer : model.MoeLayers()) {
    auto balancer =
        std::make_unique<parallel::Balancer>(options, moe.num_experts, world_size);
    parallel::Balancer* raw = balancer.get();
    auto splitter = std::make_unique<parallel::QuotaSplitter>();
    parallel::QuotaSplitter* split = splitter.get();
    // Quotas for the plan the layer actually has (normally the balancer's), into the
    // layer's table with the splitter's reused scratch.
    layer->SetQuotaFunction([raw, split](const parallel::Plan& plan,
                                         const std::vector<int64_t>& counts,
                                         parallel::QuotaTable* quotas) {
      split->Split(plan, counts, raw->options().cost, quotas);
    });
    placement->balancers_.push_back(std::move(balancer));
    placement->splitters_.push_back(std::move(splitter));
  }

  // Skew: expert e has popularity rank e, so under the static (contiguous) placement the
  // hot experts share the first rank(s): the case a balancer exists for.
  placement->popularity_.resize(static_cast<size_t>(moe.num_experts));
  std::iota(placement->popularity_.begin(), placement->popularity_.end(), 0);
  return placement;
}

PlanController ExpertPlacement::Controller() {
  return [this](int64_t step, int layer, const parallel::Plan&,
                const std::vector<int64_t>& counts, std::string* decision) {
    parallel::Balancer& balancer = *balancers_[static_cast<size_t>(layer)];
    const parallel::PlanDecision d = balancer.Observe(step, counts);
    if (d.changed) *decision = d.reason;
    return balancer.plan();
  };
}

void ExpertPlacement::ApplySkew(int64_t step, MoeTransformer& model) const {
  const MoeSection& moe = config_.model.moe;
  if (moe.skew <= 0.0f) return;
  const int64_t shift = moe.skew_drift_steps > 0 ? (step - 1) / moe.skew_drift_steps : 0;
  std::vector<float> bias(static_cast<size_t>(moe.num_experts));
  for (int32_t e = 0; e < moe.num_experts; ++e) {
    const int64_t rank = (popularity_[static_cast<size_t>(e)] + shift) % moe.num_experts;
    bias[static_cast<size_t>(e)] = -moe.skew * std::log(static_cast<float>(rank + 1));
  }
  for (moe::MoeLayer* layer : model.MoeLayers()) layer->router().SetLogitBias(bias);
}

void ExpertPlacement::ObserveExpertCost(double expert_ms_sum, int64_t expert_rows_sum) {
  if (expert_rows_sum <= 0 || expert_ms_sum <= 0.0) return;
  // The forward's expert time; the backward costs about twice the forward.
  const double seconds_per_row =
      3.0 * expert_ms_sum * 1e-3 / static_cast<double>(expert_rows_sum);
  cost_ = CostFor(seconds_per_row);
  for (auto& balancer : balancers_) balancer->SetCostModel(cost_);
}

Status ExpertPlacement::RestoreBalancer(int layer, const parallel::BalancerState& state) {
  if (layer < 0 || layer >= num_layers()) {
    return InvalidArgumentError("no balancer for MoE layer " + std::to_string(layer));
  }
  // The saved cost model, but this job's links: the checkpoint may come from other
  // nodes (or one node), and the link costs are this job's measurement or setting.
  // The saved costs may be refitted (fit_cost_online): scale this job's remote prices
  // by the same factor, so that remote and local stay in the same units.
  const double fitted = cost_.home_move_cost > 0
                            ? static_cast<double>(state.cost.home_move_cost) /
                                  static_cast<double>(cost_.home_move_cost)
                            : 1.0;
  auto scaled = [fitted](int64_t c) {
    return static_cast<int64_t>(std::llround(static_cast<double>(c) * fitted));
  };
  parallel::BalancerState here = state;
  here.cost.node_of_rank = cost_.node_of_rank;
  here.cost.remote_replica_refresh_cost = scaled(cost_.remote_replica_refresh_cost);
  here.cost.remote_replica_create_cost = scaled(cost_.remote_replica_create_cost);
  here.cost.remote_home_move_cost = scaled(cost_.remote_home_move_cost);
  here.cost.remote_row_cost = scaled(cost_.remote_row_cost);
  MPIMOE_RETURN_IF_ERROR(balancers_[static_cast<size_t>(layer)]->Restore(here));
  cost_ = here.cost;
  return Status::Ok();
}

}  // namespace mpimoe::train
