#include "ops/embedding.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace mpimoe::ops {
namespace {
constexpr int64_t kColumnBlock = 16;  // see layernorm.cc
}  // namespace

Status EmbeddingForward(const int32_t* ids, int64_t n, const float* table, int64_t vocab,
                        int64_t d, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return InvalidArgumentError("token id " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab) + ")");
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * d, table + static_cast<int64_t>(ids[i]) * d,
                static_cast<size_t>(d) * sizeof(float));
  }
  return Status::Ok();
}

void EmbeddingBackward(const int32_t* ids, int64_t n, const float* dout, int64_t d,
                       float* dtable) {
  const int64_t num_blocks = (d + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < num_blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock;
    const int64_t c1 = std::min(d, c0 + kColumnBlock);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = dtable + static_cast<int64_t>(ids[i]) * d;
      const float* src = dout + i * d;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

}  // namespace mpimoe::ops
