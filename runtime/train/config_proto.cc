// config_proto.cc: see config_proto.h.
#include "runtime/train/config_proto.h"

namespace mpimoe::train {
namespace {

namespace pbc = ::mpimoe::config;

moe::Activation FromProto(pbc::Activation a) {
  return a == pbc::SWIGLU ? moe::Activation::kSwiglu : moe::Activation::kGelu;
}
pbc::Activation ToProto(moe::Activation a) {
  return a == moe::Activation::kSwiglu ? pbc::SWIGLU : pbc::GELU;
}

DataSource FromProto(pbc::DataSource s) {
  return s == pbc::TEXT ? DataSource::kText : DataSource::kSynthetic;
}
pbc::DataSource ToProto(DataSource s) {
  return s == DataSource::kText ? pbc::TEXT : pbc::SYNTHETIC;
}

SyntheticTask FromProto(pbc::SyntheticTask t) {
  switch (t) {
    case pbc::COPY:
      return SyntheticTask::kCopy;
    case pbc::REVERSE:
      return SyntheticTask::kReverse;
    case pbc::SORT:
      return SyntheticTask::kSort;
    case pbc::MOD_ADD:
      return SyntheticTask::kModAdd;
  }
  return SyntheticTask::kCopy;  // proto2 getters return declared values only
}
pbc::SyntheticTask ToProto(SyntheticTask t) {
  switch (t) {
    case SyntheticTask::kCopy:
      return pbc::COPY;
    case SyntheticTask::kReverse:
      return pbc::REVERSE;
    case SyntheticTask::kSort:
      return pbc::SORT;
    case SyntheticTask::kModAdd:
      return pbc::MOD_ADD;
  }
  return pbc::COPY;
}

}  // namespace

std::string_view TaskName(SyntheticTask t) { return pbc::SyntheticTask_Name(ToProto(t)); }

// The plain form of `p`, with proto defaults for unset fields and nothing resolved yet.
TrainConfig FromProto(const pbc::TrainConfig& p) {
  TrainConfig c;
  const pbc::ModelConfig& m = p.model();
  c.model.vocab_size = m.vocab_size();
  c.model.seq_len = m.seq_len();
  c.model.d_model = m.d_model();
  c.model.num_layers = m.num_layers();
  c.model.num_heads = m.num_heads();
  const pbc::MoeConfig& moe = m.moe();
  c.model.moe.num_experts = moe.num_experts();
  c.model.moe.top_k = moe.top_k();
  c.model.moe.d_ffn = moe.d_ffn();
  c.model.moe.activation = FromProto(moe.activation());
  c.model.moe.capacity_factor = moe.capacity_factor();
  c.model.moe.normalize_gates = moe.normalize_gates();
  c.model.moe.aux_loss_coef = moe.aux_loss_coef();
  c.model.moe.z_loss_coef = moe.z_loss_coef();
  c.model.moe.skew = moe.skew();
  c.model.moe.skew_drift_steps = moe.skew_drift_steps();
  c.model.dense_layers.assign(m.dense_layers().begin(), m.dense_layers().end());
  c.model.dense_d_ffn = m.dense_d_ffn();
  c.model.layernorm_eps = m.layernorm_eps();
  c.model.init_std = m.init_std();

  const pbc::DataConfig& d = p.data();
  c.data.source = FromProto(d.source());
  c.data.text_path = d.text_path();
  c.data.global_batch_size = d.global_batch_size();
  c.data.eval_batches = d.eval_batches();
  c.data.eval_fraction = d.eval_fraction();
  c.data.tasks.clear();
  for (int t : d.synthetic().tasks()) {
    c.data.tasks.push_back(FromProto(static_cast<pbc::SyntheticTask>(t)));
  }
  c.data.num_symbols = d.synthetic().num_symbols();

  const pbc::OptimizerConfig& o = p.optimizer();
  c.optimizer.lr = o.lr();
  c.optimizer.min_lr_ratio = o.min_lr_ratio();
  c.optimizer.warmup_steps = o.warmup_steps();
  c.optimizer.beta1 = o.beta1();
  c.optimizer.beta2 = o.beta2();
  c.optimizer.eps = o.eps();
  c.optimizer.weight_decay = o.weight_decay();
  c.optimizer.grad_clip = o.grad_clip();

  const pbc::RunConfig& r = p.run();
  c.run.name = r.name();
  c.run.steps = r.steps();
  c.run.seed = r.seed();
  c.run.log_every = r.log_every();
  c.run.eval_every = r.eval_every();
  c.run.out_dir = r.out_dir();
  c.run.warmup_steps_for_timing = r.warmup_steps_for_timing();
  c.run.checkpoint_every = r.checkpoint_every();
  c.run.keep_checkpoints = r.keep_checkpoints();
  c.run.on_nonfinite = r.on_nonfinite() == pbc::NONFINITE_SKIP_STEP
                           ? NonFiniteAction::kSkipStep
                           : NonFiniteAction::kStop;
  c.run.max_skipped_steps = r.max_skipped_steps();

  const pbc::ParallelConfig& par = p.parallel();
  c.parallel.world_size = par.world_size();
  c.parallel.threads_per_rank = par.threads_per_rank();
  c.parallel.grad_bucket_kb = par.grad_bucket_kb();
  c.parallel.a2a_wire_dtype = par.a2a_wire_dtype() == pbc::WIRE_BF16
                                  ? moe::WireDType::kBF16
                                  : moe::WireDType::kF32;
  c.parallel.a2a_algorithm = par.a2a_algorithm() == pbc::A2A_DIRECT
                                 ? parallel::AlltoallAlgorithm::kDirect
                             : par.a2a_algorithm() == pbc::A2A_HIERARCHICAL
                                 ? parallel::AlltoallAlgorithm::kHierarchical
                                 : parallel::AlltoallAlgorithm::kAuto;
  switch (par.allreduce_algorithm()) {
    case pbc::ALLREDUCE_FLAT:
      c.parallel.allreduce_algorithm = parallel::AllreduceAlgorithm::kFlat;
      break;
    case pbc::ALLREDUCE_HIERARCHICAL:
      c.parallel.allreduce_algorithm = parallel::AllreduceAlgorithm::kHierarchical;
      break;
    default:
      c.parallel.allreduce_algorithm = parallel::AllreduceAlgorithm::kAuto;
  }

  const pbc::BalancerConfig& b = p.balancer();
  c.balancer.policy = pbc::BalancerPolicy_Name(b.policy());
  for (char& ch : c.balancer.policy) ch = static_cast<char>(std::tolower(ch));
  c.balancer.replica_slots_per_rank = b.replica_slots_per_rank();
  c.balancer.replan_interval = b.replan_interval();
  c.balancer.imbalance_high = b.imbalance_high();
  c.balancer.imbalance_low = b.imbalance_low();
  c.balancer.plan_lifetime_steps = b.plan_lifetime_steps();
  c.balancer.kappa = b.kappa();
  c.balancer.min_relative_gain = b.min_relative_gain();
  c.balancer.ema_shift = b.ema_shift();
  c.balancer.fit_cost_online = b.fit_cost_online();
  c.balancer.noise_sigmas = b.noise_sigmas();
  c.balancer.cost_expert_gflops = b.cost_expert_gflops();
  c.balancer.cost_memory_gbps = b.cost_memory_gbps();
  c.balancer.cost_network_gbps = b.cost_network_gbps();
  c.balancer.cost_inter_node_gbps = b.cost_inter_node_gbps();
  return c;
}

// `c` with every field set explicitly.
pbc::TrainConfig ToProto(const TrainConfig& c) {
  pbc::TrainConfig p;
  pbc::ModelConfig* m = p.mutable_model();
  m->set_vocab_size(c.model.vocab_size);
  m->set_seq_len(c.model.seq_len);
  m->set_d_model(c.model.d_model);
  m->set_num_layers(c.model.num_layers);
  m->set_num_heads(c.model.num_heads);
  pbc::MoeConfig* moe = m->mutable_moe();
  moe->set_num_experts(c.model.moe.num_experts);
  moe->set_top_k(c.model.moe.top_k);
  moe->set_d_ffn(c.model.moe.d_ffn);
  moe->set_activation(ToProto(c.model.moe.activation));
  moe->set_capacity_factor(c.model.moe.capacity_factor);
  moe->set_normalize_gates(c.model.moe.normalize_gates);
  moe->set_aux_loss_coef(c.model.moe.aux_loss_coef);
  moe->set_z_loss_coef(c.model.moe.z_loss_coef);
  moe->set_skew(c.model.moe.skew);
  moe->set_skew_drift_steps(c.model.moe.skew_drift_steps);
  for (int32_t layer : c.model.dense_layers) m->add_dense_layers(layer);
  m->set_dense_d_ffn(c.model.dense_d_ffn);
  m->set_layernorm_eps(c.model.layernorm_eps);
  m->set_init_std(c.model.init_std);

  pbc::DataConfig* d = p.mutable_data();
  d->set_source(ToProto(c.data.source));
  d->set_text_path(c.data.text_path);
  d->set_global_batch_size(c.data.global_batch_size);
  d->set_eval_batches(c.data.eval_batches);
  d->set_eval_fraction(c.data.eval_fraction);
  pbc::SyntheticDataConfig* s = d->mutable_synthetic();
  for (SyntheticTask t : c.data.tasks) s->add_tasks(ToProto(t));
  s->set_num_symbols(c.data.num_symbols);

  pbc::OptimizerConfig* o = p.mutable_optimizer();
  o->set_lr(c.optimizer.lr);
  o->set_min_lr_ratio(c.optimizer.min_lr_ratio);
  o->set_warmup_steps(c.optimizer.warmup_steps);
  o->set_beta1(c.optimizer.beta1);
  o->set_beta2(c.optimizer.beta2);
  o->set_eps(c.optimizer.eps);
  o->set_weight_decay(c.optimizer.weight_decay);
  o->set_grad_clip(c.optimizer.grad_clip);

  pbc::RunConfig* r = p.mutable_run();
  r->set_name(c.run.name);
  r->set_steps(c.run.steps);
  r->set_seed(c.run.seed);
  r->set_log_every(c.run.log_every);
  r->set_eval_every(c.run.eval_every);
  r->set_out_dir(c.run.out_dir);
  r->set_warmup_steps_for_timing(c.run.warmup_steps_for_timing);
  r->set_checkpoint_every(c.run.checkpoint_every);
  r->set_keep_checkpoints(c.run.keep_checkpoints);
  r->set_on_nonfinite(c.run.on_nonfinite == NonFiniteAction::kSkipStep
                          ? pbc::NONFINITE_SKIP_STEP
                          : pbc::NONFINITE_STOP);
  r->set_max_skipped_steps(c.run.max_skipped_steps);

  pbc::ParallelConfig* par = p.mutable_parallel();
  par->set_world_size(c.parallel.world_size);
  par->set_threads_per_rank(c.parallel.threads_per_rank);
  par->set_grad_bucket_kb(c.parallel.grad_bucket_kb);
  par->set_a2a_wire_dtype(c.parallel.a2a_wire_dtype == moe::WireDType::kBF16
                              ? pbc::WIRE_BF16
                              : pbc::WIRE_F32);
  par->set_a2a_algorithm(
      c.parallel.a2a_algorithm == parallel::AlltoallAlgorithm::kDirect ? pbc::A2A_DIRECT
      : c.parallel.a2a_algorithm == parallel::AlltoallAlgorithm::kHierarchical
          ? pbc::A2A_HIERARCHICAL
          : pbc::A2A_AUTO);
  switch (c.parallel.allreduce_algorithm) {
    case parallel::AllreduceAlgorithm::kAuto:
      par->set_allreduce_algorithm(pbc::ALLREDUCE_AUTO);
      break;
    case parallel::AllreduceAlgorithm::kFlat:
      par->set_allreduce_algorithm(pbc::ALLREDUCE_FLAT);
      break;
    case parallel::AllreduceAlgorithm::kHierarchical:
      par->set_allreduce_algorithm(pbc::ALLREDUCE_HIERARCHICAL);
      break;
  }

  pbc::BalancerConfig* b = p.mutable_balancer();
  std::string policy = c.balancer.policy;
  for (char& ch : policy) ch = static_cast<char>(std::toupper(ch));
  pbc::BalancerPolicy policy_value = pbc::COST_AWARE;
  pbc::BalancerPolicy_Parse(policy, &policy_value);
  b->set_policy(policy_value);
  b->set_replica_slots_per_rank(c.balancer.replica_slots_per_rank);
  b->set_replan_interval(c.balancer.replan_interval);
  b->set_imbalance_high(c.balancer.imbalance_high);
  b->set_imbalance_low(c.balancer.imbalance_low);
  b->set_plan_lifetime_steps(c.balancer.plan_lifetime_steps);
  b->set_kappa(c.balancer.kappa);
  b->set_min_relative_gain(c.balancer.min_relative_gain);
  b->set_ema_shift(c.balancer.ema_shift);
  b->set_fit_cost_online(c.balancer.fit_cost_online);
  b->set_noise_sigmas(c.balancer.noise_sigmas);
  b->set_cost_expert_gflops(c.balancer.cost_expert_gflops);
  b->set_cost_memory_gbps(c.balancer.cost_memory_gbps);
  b->set_cost_network_gbps(c.balancer.cost_network_gbps);
  b->set_cost_inter_node_gbps(c.balancer.cost_inter_node_gbps);
  return p;
}

}  // namespace mpimoe::train
