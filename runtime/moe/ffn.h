// The feed-forward math shared by every expert and by DenseFfn:
//   GeLU:    y = gelu(x W1) W2
//   SwiGLU:  y = (silu(x W1) * (x W3)) W2
// on a variable number of rows n (the matmul primitives have a runtime row count, so
// one primitive per weight shape serves every expert and every step).
//
// The caller owns all buffers; FfnForward fills the saved activations that FfnBackward
// reads. Parameter gradients are accumulated (+=), the input gradient is overwritten.
//
// Thread-safety: as ops::OpsContext (one host thread).
#pragma once

#include <cstdint>
#include <string_view>

#include "ops/ops_context.h"
#include "runtime/core/status.h"

namespace mpimoe::moe {

enum class Activation { kGelu, kSwiglu };

std::string_view ActivationName(Activation activation);

struct FfnDims {
  int64_t d_model = 0;  // d
  int64_t d_ffn = 0;    // f
  Activation activation = Activation::kGelu;
};

struct FfnWeights {
  const float* w1 = nullptr;  // [d, f]
  const float* w3 = nullptr;  // [d, f], SwiGLU only (null for GeLU)
  const float* w2 = nullptr;  // [f, d]
};

struct FfnGrads {
  float* w1 = nullptr;  // [d, f], accumulated
  float* w3 = nullptr;  // [d, f], accumulated (SwiGLU only)
  float* w2 = nullptr;  // [f, d], accumulated
};

// Activations saved by the forward for the backward.
struct FfnSaved {
  float* h1 = nullptr;  // [n, f] x W1
  float* h3 = nullptr;  // [n, f] x W3 (SwiGLU only)
  float* a = nullptr;   // [n, f] activation output, input of W2
};

// Scratch for the backward.
struct FfnScratch {
  float* da = nullptr;   // [n, f]
  float* dh1 = nullptr;  // [n, f]
  float* dh3 = nullptr;  // [n, f] (SwiGLU only)
};

//   x: [n, d] f32; y: [n, d] f32 (out)
Status FfnForward(ops::OpsContext& ctx, const FfnDims& dims, const FfnWeights& w,
                  const float* x, int64_t n, const FfnSaved& saved, float* y);

//   x: [n, d] f32 (the forward's input); dy: [n, d] f32; dx: [n, d] f32 (out)
Status FfnBackward(ops::OpsContext& ctx, const FfnDims& dims, const FfnWeights& w,
                   const float* x, int64_t n, const FfnSaved& saved, const float* dy,
                   const FfnScratch& scratch, const FfnGrads& grads, float* dx);

// Multiply-add FLOPs of one forward + backward over n rows (2 per multiply-add).
int64_t FfnTrainFlops(const FfnDims& dims, int64_t n);

}  // namespace mpimoe::moe
