#include "ops/cross_entropy.h"

#include <cmath>
#include <string>

#include "ops/softmax.h"

namespace mpimoe::ops {

Status CrossEntropyForward(const float* logits, const int32_t* targets, int64_t n,
                           int64_t vocab, float* losses, float* lse) {
  for (int64_t i = 0; i < n; ++i) {
    if (targets[i] < -1 || targets[i] >= vocab) {
      return InvalidArgumentError("target " + std::to_string(targets[i]) +
                                  " at position " + std::to_string(i) +
                                  " is outside [-1, " + std::to_string(vocab) + ")");
    }
  }
  LogSumExpRows(logits, lse, n, vocab);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = targets[i];
    losses[i] = t < 0 ? 0.0f : lse[i] - logits[i * vocab + t];
  }
  return Status::Ok();
}

void CrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                          const float* dloss, int64_t n, int64_t vocab, float* dlogits) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * vocab;
    float* dz = dlogits + i * vocab;
    const int32_t t = targets[i];
    if (t < 0) {
      for (int64_t c = 0; c < vocab; ++c) dz[c] = 0.0f;
      continue;
    }
    const float scale = dloss[i];
    const float l = lse[i];
    for (int64_t c = 0; c < vocab; ++c) dz[c] = scale * std::exp(z[c] - l);
    dz[t] -= scale;
  }
}

}  // namespace mpimoe::ops
