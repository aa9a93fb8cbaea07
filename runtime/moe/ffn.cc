#include "runtime/moe/ffn.h"

#include "ops/activation.h"
#include "ops/matmul.h"

namespace mpimoe::moe {

std::string_view ActivationName(Activation activation) {
  return activation == Activation::kSwiglu ? "swiglu" : "gelu";
}

Status FfnForward(ops::OpsContext& ctx, const FfnDims& dims, const FfnWeights& w,
                  const float* x, int64_t n, const FfnSaved& saved, float* y) {
  const int64_t d = dims.d_model;
  const int64_t f = dims.d_ffn;
  // h1 = x W1: [n, d] x [d, f]
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(ctx, n, d, f, false, false, x, w.w1, saved.h1));
  if (dims.activation == Activation::kSwiglu) {
    // h3 = x W3, a = silu(h1) * h3
    MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(ctx, n, d, f, false, false, x, w.w3, saved.h3));
    ops::SwigluForward(saved.h1, saved.h3, saved.a, n * f);
  } else {
    ops::GeluForward(saved.h1, saved.a, n * f);
  }
  // y = a W2: [n, f] x [f, d]
  return ops::MatmulF32(ctx, n, f, d, false, false, saved.a, w.w2, y);
}

Status FfnBackward(ops::OpsContext& ctx, const FfnDims& dims, const FfnWeights& w,
                   const float* x, int64_t n, const FfnSaved& saved, const float* dy,
                   const FfnScratch& scratch, const FfnGrads& grads, float* dx) {
  const int64_t d = dims.d_model;
  const int64_t f = dims.d_ffn;
  // dW2 += a^T dy: [f, n] x [n, d]; the reduction runs over the (runtime) rows.
  MPIMOE_RETURN_IF_ERROR(
      ops::AccumulateWeightGradF32(ctx, n, f, d, saved.a, dy, grads.w2));
  // da = dy W2^T: [n, d] x [d, f]
  MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(ctx, n, d, f, false, true, dy, w.w2, scratch.da));
  if (dims.activation == Activation::kSwiglu) {
    ops::SwigluBackward(saved.h1, saved.h3, scratch.da, scratch.dh1, scratch.dh3, n * f);
  } else {
    ops::GeluBackward(saved.h1, scratch.da, scratch.dh1, n * f);
  }
  // dW1 += x^T dh1: [d, n] x [n, f]
  MPIMOE_RETURN_IF_ERROR(
      ops::AccumulateWeightGradF32(ctx, n, d, f, x, scratch.dh1, grads.w1));
  // dx = dh1 W1^T: [n, f] x [f, d]
  MPIMOE_RETURN_IF_ERROR(
      ops::MatmulF32(ctx, n, f, d, false, true, scratch.dh1, w.w1, dx));
  if (dims.activation == Activation::kSwiglu) {
    MPIMOE_RETURN_IF_ERROR(
        ops::AccumulateWeightGradF32(ctx, n, d, f, x, scratch.dh3, grads.w3));
    MPIMOE_RETURN_IF_ERROR(ops::MatmulF32(ctx, n, f, d, false, true, scratch.dh3, w.w3,
                                          dx,
                                          /*accumulate=*/true));
  }
  return Status::Ok();
}

int64_t FfnTrainFlops(const FfnDims& dims, int64_t n) {
  const int64_t num_weight_matrices = dims.activation == Activation::kSwiglu ? 3 : 2;
  // Forward: one matmul per weight matrix; backward: two (input and weight gradient).
  return 3 * num_weight_matrices * 2 * n * dims.d_model * dims.d_ffn;
}

}  // namespace mpimoe::moe
