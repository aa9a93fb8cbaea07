// Causal multi-head self-attention, forward and backward, on oneDNN batched matmuls.
//
// For a batch of sequences laid out row by row (row = b * seq_len + t):
//   qkv: [batch * seq_len, 3 * d] f32, each row = [q | k | v], head h of q at columns
//        [h * head_dim, (h + 1) * head_dim) of the q part (likewise k and v);
//   out: [batch * seq_len, d] f32, head h's output at columns [h * head_dim, ...).
//   out_h = softmax(q_h k_h^T / sqrt(head_dim) + causal mask) v_h, where position t
//   attends to positions 0..t of its own sequence.
// d = num_heads * head_dim.
//
// CausalSelfAttention owns its workspaces (head-major copies of q, k, v, the attention
// probabilities [batch * heads, seq, seq] saved for the backward, and gradient
// scratch), grown on first use and reused: a steady training loop allocates nothing.
// Backward must follow the Forward it belongs to; it reads only the saved copies, so
// qkv may be overwritten in between. A new Forward (with any dims) replaces the saved
// state; workspaces grow to the largest shape seen and are never shrunk.
//
// Thread-safety: one host thread (OpenMP and oneDNN parallelise inside).
#pragma once

#include <cstdint>

#include "ops/ops_context.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace mpimoe::ops {

struct AttentionDims {
  int64_t batch = 0;    // sequences
  int64_t seq_len = 0;  // tokens per sequence
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  int64_t d_model() const { return num_heads * head_dim; }
};

class CausalSelfAttention {
 public:
  //   qkv: [batch * seq_len, 3 * d] f32; out: [batch * seq_len, d] f32 (overwritten)
  // InvalidArgument if num_heads or head_dim < 1, batch or seq_len < 0, or a pointer is
  // null while batch * seq_len > 0; Internal (or Unimplemented) if oneDNN fails.
  Status Forward(OpsContext& ctx, const AttentionDims& dims, const float* qkv,
                 float* out);
  //   dout: [batch * seq_len, d] f32; dqkv: [batch * seq_len, 3 * d] f32 (overwritten)
  // Shapes are those of the last Forward; InvalidArgument if there was none.
  Status Backward(OpsContext& ctx, const float* dout, float* dqkv);

  // Matmul FLOPs of one forward + backward, 2 per multiply-add, counting the full
  // seq x seq score matrices that are computed (the causal mask saves no matmul work):
  // forward 2 matmuls (q k^T, probs v), backward 4 (dprobs, dv, dq, dk), each
  // 2 * batch * num_heads * seq_len^2 * head_dim FLOPs; 6 x that in total. Softmax and
  // copies are not counted.
  static int64_t TrainFlops(const AttentionDims& dims);

 private:
  AttentionDims dims_;  // of the last Forward
  bool has_forward_ = false;
  Tensor q_, k_, v_;  // [batch * heads, seq, head_dim] head-major copies
  Tensor probs_;      // [batch * heads, seq, seq] softmax output (0 above the diagonal)
  Tensor heads_out_;  // [batch * heads, seq, head_dim] probs @ v
  // Backward scratch: dctx_, dq_, dk_, dv_ [batch * heads, seq, head_dim] (dout, dq, dk,
  // dv head-major); dprobs_ [batch * heads, seq, seq] (dprobs, then the score gradients).
  Tensor dctx_, dprobs_, dq_, dk_, dv_;
};

}  // namespace mpimoe::ops
