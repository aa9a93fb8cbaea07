// The synthetic f32 inputs of mpimoe-bench's compute benchmarks (gemm, moe-layer):
// tensors filled with one value (an upstream gradient of ones) or drawn from a normal
// distribution (activations, weights), the same on every machine for a seed.
//
// Thread-safety: NormalTensor advances the caller's Rng; one Rng per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/random.h"
#include "runtime/core/tensor.h"

namespace mpimoe::bench {

// An f32 tensor of `shape` with every element `value`.
Tensor FilledTensor(std::vector<int64_t> shape, float value);

// An f32 tensor of `shape` with element i = stddev * (the i-th rng.Normal() draw).
Tensor NormalTensor(std::vector<int64_t> shape, Rng& rng, float stddev = 1.0f);

}  // namespace mpimoe::bench
