// Activations of the expert FFN, forward and backward: GeLU (tanh approximation, the
// same formula as oneDNN's eltwise_gelu_tanh) and SwiGLU (silu(gate) * up).
//
// All tensors are f32 and dense; `n` is the element count. Backward functions overwrite
// their outputs. Thread-safety: pure functions, OpenMP-parallel inside.
#pragma once

#include <cstdint>

namespace mpimoe::ops {

// y = gelu(x).                x, y: [n] f32 (may alias)
void GeluForward(const float* x, float* y, int64_t n);
// dx = dy * gelu'(x).         x, dy, dx: [n] f32 (dx may alias dy)
void GeluBackward(const float* x, const float* dy, float* dx, int64_t n);

// y = silu(gate) * up.        gate, up, y: [n] f32
void SwigluForward(const float* gate, const float* up, float* y, int64_t n);
// dgate = dy * up * silu'(gate), dup = dy * silu(gate).
//                             gate, up, dy, dgate, dup: [n] f32 (no aliasing)
void SwigluBackward(const float* gate, const float* up, const float* dy, float* dgate,
                    float* dup, int64_t n);

}  // namespace mpimoe::ops
