#include "tests/tools/random_vector.h"

namespace mpimoe::testing {

std::vector<float> RandomVector(Rng& rng, int64_t n, float scale, float offset) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = offset + scale * (2.0f * rng.Uniform() - 1.0f);
  return v;
}

}  // namespace mpimoe::testing
