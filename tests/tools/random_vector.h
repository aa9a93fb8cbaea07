// RandomVector: the uniformly distributed f32 test inputs of the op tests.
//
// Element i is offset + scale * (2 u_i - 1), u_i the i-th Rng::Uniform() draw: uniform
// in [offset - scale, offset + scale), the same values on every machine for a seed.
//
// Thread-safety: advances the caller's Rng; one Rng per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/random.h"

namespace mpimoe::testing {

std::vector<float> RandomVector(Rng& rng, int64_t n, float scale = 1.0f,
                                float offset = 0.0f);

}  // namespace mpimoe::testing
