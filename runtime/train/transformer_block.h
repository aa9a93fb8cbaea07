// TransformerBlock: one pre-norm decoder block of the MoE transformer,
//   x_mid = x + Wo attention(layernorm1(x) Wqkv)
//   y     = x_mid + ffn(layernorm2(x_mid))
// where ffn is the block's MoE layer (experts spread over the ranks) or a dense FFN.
//
// Parameters: ln1.{gain,bias}, attn.wqkv [d, 3d], attn.wo [d, d], ln2.{gain,bias} and the
// FFN's, named "blocks.<i>.<...>"; everything but the experts is replicated on every
// rank (data-parallel), experts live where the MoE layer's plan puts them. Backward
// accumulates parameter gradients.
//
// Ownership: the block owns its parameters, its MoE layer or dense FFN, its attention
// op and all activation workspaces (reused across steps). It borrows the OpsContext, the
// communicator and the dispatcher, which must outlive it. Forward keeps a pointer to its
// input x for Backward: the caller keeps x alive in between. Thread-safety: one host
// thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/trace.h"
#include "runtime/moe/dense_ffn.h"
#include "runtime/moe/dispatcher.h"
#include "runtime/moe/moe_layer.h"
#include "runtime/train/phase_times.h"

namespace mpimoe::train {

struct BlockOptions {
  int index = 0;  // block number, for parameter names and seeds
  int64_t d_model = 0;
  int64_t num_heads = 0;
  int64_t seq_len = 0;
  float layernorm_eps = 0.0f;      // model.layernorm_eps (the model sets every field)
  float init_std = 0.0f;           // model.init_std
  float residual_init_std = 0.0f;  // init std of Wo (scaled for depth)
  uint64_t seed = 0;
  bool use_moe = true;
  moe::MoeLayerOptions moe;  // when use_moe
  moe::FfnDims dense;        // when !use_moe
};

class TransformerBlock {
 public:
  // `dispatcher` is used (and must be non-null) when options.use_moe.
  static StatusOr<std::unique_ptr<TransformerBlock>> Create(const BlockOptions& options,
                                                            ops::OpsContext* ctx,
                                                            parallel::Communicator* comm,
                                                            moe::Dispatcher* dispatcher);

  //   x: [num_sequences * seq_len, d] f32; y: [same] f32 (out). Adds phase times.
  Status Forward(const float* x, int64_t num_sequences, float* y, PhaseTimes* times);
  //   dy: [rows, d] f32 (gradient of y); dx: [rows, d] f32 (out, overwritten).
  Status Backward(const float* dy, float* dx);
  // Records the forward's phases (and the MoE layer's) on `trace` (borrowed; null =
  // off), from the same clock readings as the phase times.
  void SetTrace(TraceRecorder* trace) {
    trace_ = trace;
    if (moe_) moe_->SetTrace(trace);
  }

  // Replicated parameters (all-reduced across ranks) and this rank's expert parameters.
  std::vector<Parameter*> ReplicatedParameters();
  std::vector<Parameter*> ExpertParameters();
  moe::MoeLayer* moe() { return moe_.get(); }  // null for a dense block

  // Matmul FLOPs of one forward + backward over the block's rows: attention
  // projections and scores, and the FFN for `ffn_rows` rows (k * rows for MoE).
  static int64_t TrainFlops(const BlockOptions& options, int64_t rows, int64_t ffn_rows);

 private:
  TransformerBlock(const BlockOptions& options, ops::OpsContext* ctx);

  BlockOptions options_;
  ops::OpsContext* ctx_;
  Parameter ln1_gain_, ln1_bias_, wqkv_, wo_, ln2_gain_, ln2_bias_;
  ops::CausalSelfAttention attention_;
  std::unique_ptr<moe::MoeLayer> moe_;
  std::unique_ptr<moe::DenseFfn> dense_;
  TraceRecorder* trace_ = nullptr;

  // Saved by Forward: [rows, d] unless noted.
  const float* x_ = nullptr;
  int64_t rows_ = 0;
  ops::AttentionDims attention_dims_;
  Tensor h1_, mean1_, rstd1_;  // layernorm1 output, its [rows] statistics
  Tensor qkv_;                 // [rows, 3d]
  Tensor att_;                 // attention output, input of Wo
  Tensor x_mid_;
  Tensor h2_, mean2_, rstd2_;
  Tensor ffn_out_;
  // Backward scratch.
  Tensor dffn_in_, dmid_, datt_, dqkv_, dh1_;
};

}  // namespace mpimoe::train
