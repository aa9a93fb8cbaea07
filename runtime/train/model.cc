#include "runtime/train/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "parallel/collectives.h"
#include "parallel/plan.h"

namespace mpimoe::train {
namespace {

enum SeedTag : uint64_t {
  kTokEmb = 0x746f6bull,
  kPosEmb = 0x706f73ull,
  kLmHead = 0x6c6dull
};

void Fill(Parameter& p, float value) {
  float* v = p.value.data<float>();
  for (int64_t i = 0; i < p.value.numel(); ++i) v[i] = value;
}

}  // namespace

moe::MoeLayerOptions MoeLayerOptionsOf(const ModelSection& m) {
  moe::MoeLayerOptions o;
  o.expert = moe::FfnDims{m.d_model, m.moe.d_ffn, m.moe.activation};
  o.routing.num_experts = m.moe.num_experts;
  o.routing.top_k = m.moe.top_k;
  o.routing.normalize_gates = m.moe.normalize_gates;
  o.routing.aux_loss_coef = m.moe.aux_loss_coef;
  o.routing.z_loss_coef = m.moe.z_loss_coef;
  o.capacity_factor = m.moe.capacity_factor;
  return o;
}

StatusOr<std::unique_ptr<MoeTransformer>> MoeTransformer::Create(
    const TrainConfig& config, ops::OpsContext* ctx, parallel::Communicator* comm) {
  std::unique_ptr<MoeTransformer> model(new MoeTransformer(config, ctx, comm));
  const ModelSection& m = config.model;
  const float residual_std =
      m.init_std / std::sqrt(2.0f * static_cast<float>(std::max(1, m.num_layers)));
  for (int l = 0; l < m.num_layers; ++l) {
    BlockOptions o;
    o.index = l;
    o.d_model = m.d_model;
    o.num_heads = m.num_heads;
    o.seq_len = m.seq_len;
    o.layernorm_eps = m.layernorm_eps;
    o.init_std = m.init_std;
    o.residual_init_std = residual_std;
    o.seed = config.run.seed;
    o.use_moe = std::find(m.dense_layers.begin(), m.dense_layers.end(), l) ==
                m.dense_layers.end();
    moe::Dispatcher* dispatcher = nullptr;
    if (o.use_moe) {
      o.moe = MoeLayerOptionsOf(m);
      MPIMOE_ASSIGN_OR_RETURN(
          std::unique_ptr<moe::ExpertParallelDispatcher> d,
          moe::ExpertParallelDispatcher::Create(
              comm, parallel::StaticPlan(m.moe.num_experts, comm->size()),
              config.parallel.a2a_wire_dtype));
      dispatcher = d.get();
      model->dispatchers_.push_back(std::move(d));
    } else {
      o.dense = moe::FfnDims{m.d_model, m.dense_d_ffn, m.moe.activation};
    }
    MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<TransformerBlock> block,
                            TransformerBlock::Create(o, ctx, comm, dispatcher));
    model->block_options_.push_back(o);
    model->blocks_.push_back(std::move(block));
  }
  return model;
}

MoeTransformer::MoeTransformer(const TrainConfig& config, ops::OpsContext* ctx,
                               parallel::Communicator* comm)
    : config_(config),
      ctx_(ctx),
      comm_(comm),
      tok_emb_("tok_emb", {config.model.vocab_size, config.model.d_model}),
      pos_emb_("pos_emb", {config.model.seq_len, config.model.d_model}),
      lnf_gain_("ln_f.gain", {config.model.d_model}),
      lnf_bias_("ln_f.bias", {config.model.d_model}),
      lm_head_("lm_head", {config.model.d_model, config.model.vocab_size}),
      acts_(static_cast<size_t>(config.model.num_layers) + 1),
      loss_sums_(2, 0.0) {
  const uint64_t seed = config.run.seed;
  tok_emb_.InitNormal(MixSeed(seed, {kTokEmb}), config.model.init_std);
  pos_emb_.InitNormal(MixSeed(seed, {kPosEmb}), config.model.init_std);
  lm_head_.InitNormal(MixSeed(seed, {kLmHead}), config.model.init_std);
  Fill(lnf_gain_, 1.0f);
  Fill(lnf_bias_, 0.0f);
}

std::vector<Parameter*> MoeTransformer::ReplicatedParameters() {
  std::vector<Parameter*> params{&tok_emb_, &pos_emb_};
  for (auto& block : blocks_) {
    for (Parameter* p : block->ReplicatedParameters()) params.push_back(p);
  }
  params.push_back(&lnf_gain_);
  params.push_back(&lnf_bias_);
  params.push_back(&lm_head_);
  return params;
}

std::vector<Parameter*> MoeTransformer::ReplicatedParametersInBackwardOrder() {
  std::vector<Parameter*> params{&lnf_gain_, &lnf_bias_, &lm_head_};
  for (size_t l = blocks_.size(); l-- > 0;) {
    for (Parameter* p : blocks_[l]->ReplicatedParameters()) params.push_back(p);
  }
  params.push_back(&tok_emb_);
  params.push_back(&pos_emb_);
  return params;
}

std::vector<Parameter*> MoeTransformer::ExpertParameters() {
  std::vector<Parameter*> params;
  for (auto& block : blocks_) {
    for (Parameter* p : block->ExpertParameters()) params.push_back(p);
  }
  return params;
}

void MoeTransformer::SetTrace(TraceRecorder* trace) {
  trace_ = trace;
  for (auto& block : blocks_) block->SetTrace(trace);
}

std::vector<moe::MoeLayer*> MoeTransformer::MoeLayers() {
  std::vector<moe::MoeLayer*> layers;
  for (auto& block : blocks_) {
    if (block->moe() != nullptr) layers.push_back(block->moe());
  }
  return layers;
}

Status MoeTransformer::ForwardBackward(const Batch& batch, bool backward,
                                       StepLosses* losses, PhaseTimes* times) {
  const ModelSection& m = config_.model;
  const int64_t d = m.d_model;
  const int64_t vocab = m.vocab_size;
  const int64_t seq = m.seq_len;
  const int64_t rows = batch.num_sequences * seq;
  rows_ = rows;
  for (Tensor& act : acts_) act.Resize(DType::kF32, {rows, d});
  positions_.Resize(DType::kI32, {rows});
  hf_.Resize(DType::kF32, {rows, d});
  meanf_.Resize(DType::kF32, {rows});
  rstdf_.Resize(DType::kF32, {rows});
  logits_.Resize(DType::kF32, {rows, vocab});
  token_losses_.Resize(DType::kF32, {rows});
  lse_.Resize(DType::kF32, {rows});

  // Embeddings: x_0 = tok_emb[tokens] + pos_emb[t].
  TraceTimer watch(trace_, "embed_head");
  int32_t* positions = positions_.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r) positions[r] = static_cast<int32_t>(r % seq);
  float* x0 = acts_[0].data<float>();
  MPIMOE_RETURN_IF_ERROR(ops::EmbeddingForward(batch.tokens.data(), rows,
                                               tok_emb_.value.data<float>(), vocab, d, x0)
                             .WithContext("token embedding"));
  const float* pos = pos_emb_.value.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = pos + (r % seq) * d;
    float* x = x0 + r * d;
    for (int64_t c = 0; c < d; ++c) x[c] += p[c];
  }
  times->Add(Phase::kEmbedHead, watch.Stop());

  for (size_t l = 0; l < blocks_.size(); ++l) {
    MPIMOE_RETURN_IF_ERROR(blocks_[l]->Forward(
        acts_[l].data<float>(), batch.num_sequences, acts_[l + 1].data<float>(), times));
  }

  // Head and loss over the global batch.
  watch.Restart("embed_head");
  ops::LayerNormForward(acts_.back().data<float>(), lnf_gain_.value.data<float>(),
                        lnf_bias_.value.data<float>(), rows, d, m.layernorm_eps,
                        hf_.data<float>(), meanf_.data<float>(), rstdf_.data<float>());
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, rows, d, vocab, false, false,
                                        hf_.data<float>(), lm_head_.value.data<float>(),
                                        logits_.data<float>()));
  MPIMOE_RETURN_IF_ERROR(
      ops::CrossEntropyForward(logits_.data<float>(), batch.targets.data(), rows, vocab,
                               token_losses_.data<float>(), lse_.data<float>())
          .WithContext("loss"));
  double local_sum = 0.0;
  int64_t local_count = 0;
  const float* token_losses = token_losses_.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    local_sum += token_losses[r];
    local_count += batch.targets[static_cast<size_t>(r)] >= 0 ? 1 : 0;
  }
  loss_sums_[0] = local_sum;
  loss_sums_[1] = static_cast<double>(local_count);
  {
    TraceSpan allreduce(trace_, "allreduce");
    MPIMOE_RETURN_IF_ERROR(
        parallel::AllreduceInPlace(*comm_, std::span<double>(loss_sums_))
            .WithContext("loss all-reduce"));
  }
  const int64_t global_count = static_cast<int64_t>(loss_sums_[1]);
  losses->counted_targets = global_count;
  losses->cross_entropy =
      global_count > 0 ? loss_sums_[0] / static_cast<double>(global_count) : 0.0;
  losses->aux = 0.0;
  for (moe::MoeLayer* layer : MoeLayers()) losses->aux += layer->AuxLossTerm();
  times->Add(Phase::kEmbedHead, watch.Stop());
  if (!backward) return Status::Ok();

  // Backward.
  watch.Restart("backward");
  dloss_.Resize(DType::kF32, {rows});
  dhf_.Resize(DType::kF32, {rows, d});
  dcur_.Resize(DType::kF32, {rows, d});
  dnext_.Resize(DType::kF32, {rows, d});
  const float inv_count =
      global_count > 0 ? 1.0f / static_cast<float>(global_count) : 0.0f;
  std::fill_n(dloss_.data<float>(), rows, inv_count);
  float* dlogits = logits_.data<float>();  // in place
  ops::CrossEntropyBackward(logits_.data<float>(), batch.targets.data(),
                            lse_.data<float>(), dloss_.data<float>(), rows, vocab,
                            dlogits);
  MPIMOE_RETURN_IF_ERROR(ops::AccumulateWeightGradF32(
      *ctx_, rows, d, vocab, hf_.data<float>(), dlogits, lm_head_.grad.data<float>()));
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, rows, vocab, d, false, true, dlogits,
                                        lm_head_.value.data<float>(),
                                        dhf_.data<float>()));
  ops::LayerNormBackward(dhf_.data<float>(), acts_.back().data<float>(),
                         lnf_gain_.value.data<float>(), meanf_.data<float>(),
                         rstdf_.data<float>(), rows, d, dcur_.data<float>(),
                         lnf_gain_.grad.data<float>(), lnf_bias_.grad.data<float>());
  auto ready = [this](std::vector<Parameter*> params) {
    return grads_ready_ ? grads_ready_(params) : Status::Ok();
  };
  MPIMOE_RETURN_IF_ERROR(ready({&lnf_gain_, &lnf_bias_, &lm_head_}));
  for (size_t l = blocks_.size(); l-- > 0;) {
    MPIMOE_RETURN_IF_ERROR(
        blocks_[l]->Backward(dcur_.data<float>(), dnext_.data<float>()));
    std::swap(dcur_, dnext_);
    MPIMOE_RETURN_IF_ERROR(ready(blocks_[l]->ReplicatedParameters()));
  }
  ops::EmbeddingBackward(batch.tokens.data(), rows, dcur_.data<float>(), d,
                         tok_emb_.grad.data<float>());
  ops::EmbeddingBackward(positions, rows, dcur_.data<float>(), d,
                         pos_emb_.grad.data<float>());
  MPIMOE_RETURN_IF_ERROR(ready({&tok_emb_, &pos_emb_}));
  times->Add(Phase::kBackward, watch.Stop());
  return Status::Ok();
}

int64_t MoeTransformer::TrainFlopsPerStep() const {
  const ModelSection& m = config_.model;
  const int64_t rows = static_cast<int64_t>(config_.data.global_batch_size) * m.seq_len;
  int64_t flops = 3 * 2 * rows * m.d_model * m.vocab_size;  // LM head
  for (const BlockOptions& o : block_options_) {
    flops += TransformerBlock::TrainFlops(o, rows,
                                          o.use_moe ? rows * o.moe.routing.top_k : rows);
  }
  return flops;
}

}  // namespace mpimoe::train
