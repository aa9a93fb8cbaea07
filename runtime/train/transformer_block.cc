#include "runtime/train/transformer_block.h"

#include <cstring>

#include "ops/layernorm.h"
#include "ops/matmul.h"

namespace mpimoe::train {
namespace {

enum SeedTag : uint64_t { kBlockSeed = 0x626c6f636bull, kMoeSeed = 0x6d6f65ull };
enum WeightTag : uint64_t { kWqkv = 1, kWo = 2, kDense = 3 };

void Fill(Parameter& p, float value) {
  float* v = p.value.data<float>();
  for (int64_t i = 0; i < p.value.numel(); ++i) v[i] = value;
}

// out = a + b, elementwise over n floats.
void Add(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace

StatusOr<std::unique_ptr<TransformerBlock>> TransformerBlock::Create(
    const BlockOptions& options, ops::OpsContext* ctx, parallel::Communicator* comm,
    moe::Dispatcher* dispatcher) {
  if (options.d_model <= 0 || options.num_heads <= 0 ||
      options.d_model % options.num_heads != 0) {
    return InvalidArgumentError("block " + std::to_string(options.index) +
                                ": d_model must be a positive multiple of num_heads");
  }
  std::unique_ptr<TransformerBlock> block(new TransformerBlock(options, ctx));
  const std::string prefix = "blocks." + std::to_string(options.index) + ".";
  if (options.use_moe) {
    moe::MoeLayerOptions moe_options = options.moe;
    moe_options.seed =
        MixSeed(options.seed, {kMoeSeed, static_cast<uint64_t>(options.index)});
    moe_options.name = prefix + "moe";
    MPIMOE_ASSIGN_OR_RETURN(block->moe_,
                            moe::MoeLayer::Create(moe_options, ctx, comm, dispatcher));
  } else {
    block->dense_ = std::make_unique<moe::DenseFfn>(
        options.dense,
        MixSeed(options.seed, {kBlockSeed, static_cast<uint64_t>(options.index), kDense}),
        ctx, prefix + "ffn");
  }
  return block;
}

TransformerBlock::TransformerBlock(const BlockOptions& options, ops::OpsContext* ctx)
    : options_(options),
      ctx_(ctx),
      ln1_gain_("blocks." + std::to_string(options.index) + ".ln1.gain",
                {options.d_model}),
      ln1_bias_("blocks." + std::to_string(options.index) + ".ln1.bias",
                {options.d_model}),
      wqkv_("blocks." + std::to_string(options.index) + ".attn.wqkv",
            {options.d_model, 3 * options.d_model}),
      wo_("blocks." + std::to_string(options.index) + ".attn.wo",
          {options.d_model, options.d_model}),
      ln2_gain_("blocks." + std::to_string(options.index) + ".ln2.gain",
                {options.d_model}),
      ln2_bias_("blocks." + std::to_string(options.index) + ".ln2.bias",
                {options.d_model}) {
  const uint64_t index = static_cast<uint64_t>(options.index);
  Fill(ln1_gain_, 1.0f);
  Fill(ln1_bias_, 0.0f);
  Fill(ln2_gain_, 1.0f);
  Fill(ln2_bias_, 0.0f);
  wqkv_.InitNormal(MixSeed(options.seed, {kBlockSeed, index, kWqkv}), options.init_std);
  wo_.InitNormal(MixSeed(options.seed, {kBlockSeed, index, kWo}),
                 options.residual_init_std);
}

std::vector<Parameter*> TransformerBlock::ReplicatedParameters() {
  std::vector<Parameter*> params{&ln1_gain_, &ln1_bias_, &wqkv_,
                                 &wo_,       &ln2_gain_, &ln2_bias_};
  if (moe_) params.push_back(&moe_->router().weight());
  if (dense_) {
    for (Parameter* p : dense_->Parameters()) params.push_back(p);
  }
  return params;
}

std::vector<Parameter*> TransformerBlock::ExpertParameters() {
  return moe_ ? moe_->experts().Parameters() : std::vector<Parameter*>{};
}

Status TransformerBlock::Forward(const float* x, int64_t num_sequences, float* y,
                                 PhaseTimes* times) {
  const int64_t d = options_.d_model;
  const int64_t rows = num_sequences * options_.seq_len;
  x_ = x;
  rows_ = rows;
  h1_.Resize(DType::kF32, {rows, d});
  mean1_.Resize(DType::kF32, {rows});
  rstd1_.Resize(DType::kF32, {rows});
  qkv_.Resize(DType::kF32, {rows, 3 * d});
  att_.Resize(DType::kF32, {rows, d});
  x_mid_.Resize(DType::kF32, {rows, d});
  h2_.Resize(DType::kF32, {rows, d});
  mean2_.Resize(DType::kF32, {rows});
  rstd2_.Resize(DType::kF32, {rows});
  ffn_out_.Resize(DType::kF32, {rows, d});

  // Attention half: x_mid = x + attention(layernorm1(x) Wqkv) Wo.
  TraceTimer watch(trace_, "attention");
  ops::LayerNormForward(x, ln1_gain_.value.data<float>(), ln1_bias_.value.data<float>(),
                        rows, d, options_.layernorm_eps, h1_.data<float>(),
                        mean1_.data<float>(), rstd1_.data<float>());
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, rows, d, 3 * d, false, false,
                                        h1_.data<float>(), wqkv_.value.data<float>(),
                                        qkv_.data<float>()));
  attention_dims_ = ops::AttentionDims{num_sequences, options_.seq_len,
                                       options_.num_heads, d / options_.num_heads};
  MPIMOE_RETURN_IF_ERROR(
      attention_.Forward(*ctx_, attention_dims_, qkv_.data<float>(), att_.data<float>()));
  std::memcpy(x_mid_.data<float>(), x, static_cast<size_t>(rows * d) * sizeof(float));
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, rows, d, d, false, false,
                                        att_.data<float>(), wo_.value.data<float>(),
                                        x_mid_.data<float>(),
                                        /*accumulate=*/true));
  // FFN half: y = x_mid + ffn(layernorm2(x_mid)); layernorm2 counts as the router's
  // (MoE) or the dense FFN's.
  times->Add(Phase::kAttention, watch.Next(moe_ ? "router" : "dense_ffn"));
  ops::LayerNormForward(x_mid_.data<float>(), ln2_gain_.value.data<float>(),
                        ln2_bias_.value.data<float>(), rows, d, options_.layernorm_eps,
                        h2_.data<float>(), mean2_.data<float>(), rstd2_.data<float>());
  if (moe_) {
    const double layernorm_ms = watch.Stop();
    MPIMOE_RETURN_IF_ERROR(
        moe_->Forward(TensorView(h2_.data<float>(), DType::kF32, {rows, d}),
                      TensorView(ffn_out_.data<float>(), DType::kF32, {rows, d})));
    const moe::MoeStepStats& stats = moe_->stats();
    times->Add(Phase::kRouter, layernorm_ms + stats.router_ms);
    times->Add(Phase::kDispatch, stats.dispatch_ms);
    times->Add(Phase::kExperts, stats.experts_ms);
    times->Add(Phase::kCombine, stats.combine_ms);
    watch.Restart("combine");  // the residual add
    Add(x_mid_.data<float>(), ffn_out_.data<float>(), y, rows * d);
    times->Add(Phase::kCombine, watch.Stop());
  } else {
    MPIMOE_RETURN_IF_ERROR(
        dense_->Forward(TensorView(h2_.data<float>(), DType::kF32, {rows, d}),
                        TensorView(ffn_out_.data<float>(), DType::kF32, {rows, d})));
    Add(x_mid_.data<float>(), ffn_out_.data<float>(), y, rows * d);
    times->Add(Phase::kDenseFfn, watch.Stop());
  }
  return Status::Ok();
}

Status TransformerBlock::Backward(const float* dy, float* dx) {
  const int64_t d = options_.d_model;
  const int64_t rows = rows_;
  dffn_in_.Resize(DType::kF32, {rows, d});
  dmid_.Resize(DType::kF32, {rows, d});
  datt_.Resize(DType::kF32, {rows, d});
  dqkv_.Resize(DType::kF32, {rows, 3 * d});
  dh1_.Resize(DType::kF32, {rows, d});

  // FFN half: dx_mid = dy + layernorm2'(ffn'(dy)).
  const TensorView dy_view(const_cast<float*>(dy), DType::kF32, {rows, d});
  const TensorView dffn_in(dffn_in_.data<float>(), DType::kF32, {rows, d});
  if (moe_) {
    MPIMOE_RETURN_IF_ERROR(moe_->Backward(dy_view, dffn_in));
  } else {
    MPIMOE_RETURN_IF_ERROR(dense_->Backward(dy_view, dffn_in));
  }
  ops::LayerNormBackward(dffn_in_.data<float>(), x_mid_.data<float>(),
                         ln2_gain_.value.data<float>(), mean2_.data<float>(),
                         rstd2_.data<float>(), rows, d, dmid_.data<float>(),
                         ln2_gain_.grad.data<float>(), ln2_bias_.grad.data<float>());
  Add(dmid_.data<float>(), dy, dmid_.data<float>(), rows * d);

  // Attention half: dx = dx_mid + layernorm1'(Wqkv'(attention'(dx_mid Wo^T))).
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, rows, d, d, false, true,
                                        dmid_.data<float>(), wo_.value.data<float>(),
                                        datt_.data<float>()));
  MPIMOE_RETURN_IF_ERROR(
      ops::AccumulateWeightGradF32(*ctx_, rows, d, d, att_.data<float>(),
                                   dmid_.data<float>(), wo_.grad.data<float>()));
  MPIMOE_RETURN_IF_ERROR(
      attention_.Backward(*ctx_, datt_.data<float>(), dqkv_.data<float>()));
  MPIMOE_RETURN_IF_ERROR(
      ops::AccumulateWeightGradF32(*ctx_, rows, d, 3 * d, h1_.data<float>(),
                                   dqkv_.data<float>(), wqkv_.grad.data<float>()));
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(*ctx_, rows, 3 * d, d, false, true,
                                        dqkv_.data<float>(), wqkv_.value.data<float>(),
                                        dh1_.data<float>()));
  ops::LayerNormBackward(dh1_.data<float>(), x_, ln1_gain_.value.data<float>(),
                         mean1_.data<float>(), rstd1_.data<float>(), rows, d, dx,
                         ln1_gain_.grad.data<float>(), ln1_bias_.grad.data<float>());
  Add(dx, dmid_.data<float>(), dx, rows * d);
  return Status::Ok();
}

int64_t TransformerBlock::TrainFlops(const BlockOptions& options, int64_t rows,
                                     int64_t ffn_rows) {
  const int64_t d = options.d_model;
  // Forward + backward = 3x the forward's multiply-adds, 2 FLOPs each.
  int64_t flops = 3 * 2 * rows * d * (3 * d + d);
  ops::AttentionDims dims{rows / options.seq_len, options.seq_len, options.num_heads,
                          d / options.num_heads};
  flops += ops::CausalSelfAttention::TrainFlops(dims);
  if (options.use_moe) {
    flops += 3 * 2 * rows * d * options.moe.routing.num_experts;  // router
    flops += moe::FfnTrainFlops(options.moe.expert, ffn_rows);
  } else {
    flops += moe::FfnTrainFlops(options.dense, rows);
  }
  return flops;
}

}  // namespace mpimoe::train
