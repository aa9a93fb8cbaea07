// Deterministic random numbers for initialisation and synthetic data.
//
// Rng is SplitMix64: tiny state, fast, and the same sequence on every machine, which is
// what "same seed -> same weights on 1 or P ranks" needs. Streams are derived with
// MixSeed(seed, a, b, ...) so that, e.g., expert e of layer l always draws the same
// weights wherever it is placed. Not for cryptography.
//
// Thread-safety: an Rng is a value; use one per thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace mpimoe {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t NextU64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 bits of mantissa.
  float Uniform() { return static_cast<float>(NextU64() >> 40) * (1.0f / 16777216.0f); }
  // Uniform integer in [0, n), n >= 1.
  uint64_t Below(uint64_t n) { return NextU64() % n; }
  // Standard normal (Box-Muller, one value per call).
  float Normal() {
    const double u1 = (static_cast<double>(NextU64() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(NextU64() >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                              std::cos(6.283185307179586 * u2));
  }

 private:
  uint64_t state_;
};

// A seed for an independent stream identified by `seed` and the given tags.
inline uint64_t MixSeed(uint64_t seed, std::initializer_list<uint64_t> tags) {
  uint64_t h = seed ^ 0x6a09e667f3bcc909ull;
  for (uint64_t tag : tags) {
    Rng rng(h ^ (tag * 0x9e3779b97f4a7c15ull));
    h = rng.NextU64();
  }
  return h;
}

}  // namespace mpimoe
