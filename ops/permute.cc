#include "ops/permute.h"

#include <cstring>

#include "runtime/core/check.h"

namespace mpimoe::ops {

int64_t BuildBucketLayout(const int32_t* bucket_of_route, int64_t num_routes,
                          int64_t num_buckets, int64_t* bucket_offsets,
                          int32_t* row_route, int32_t* route_row) {
  for (int64_t b = 0; b <= num_buckets; ++b) bucket_offsets[b] = 0;
  for (int64_t r = 0; r < num_routes; ++r) {
    const int32_t b = bucket_of_route[r];
    MPIMOE_CHECK_MSG(b >= -1 && b < num_buckets, "bucket id out of range");
    if (b >= 0) ++bucket_offsets[b + 1];
  }
  for (int64_t b = 0; b < num_buckets; ++b) bucket_offsets[b + 1] += bucket_offsets[b];
  const int64_t num_rows = bucket_offsets[num_buckets];
  for (int64_t r = 0; r < num_routes; ++r) route_row[r] = -1;
  // bucket_offsets[b] now holds the start of bucket b; use it as b's write cursor.
  for (int64_t r = 0; r < num_routes; ++r) {
    const int32_t b = bucket_of_route[r];
    if (b < 0) continue;
    const int64_t row = bucket_offsets[b]++;
    route_row[r] = static_cast<int32_t>(row);
    row_route[row] = static_cast<int32_t>(r);
  }
  // Each offset now equals the next bucket's start: shift back by one bucket.
  for (int64_t b = num_buckets; b > 0; --b) bucket_offsets[b] = bucket_offsets[b - 1];
  bucket_offsets[0] = 0;
  return num_rows;
}

void PermuteTokens(const float* x, const int32_t* row_route, int64_t num_rows,
                   int64_t top_k, int64_t d, float* rows) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < num_rows; ++i) {
    const int64_t t = row_route[i] / top_k;
    std::memcpy(rows + i * d, x + t * d, static_cast<size_t>(d) * sizeof(float));
  }
}

void PermuteTokensBackward(const float* drows, const int32_t* route_row,
                           int64_t num_tokens, int64_t top_k, int64_t d, float* dx,
                           bool accumulate) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < num_tokens; ++t) {
    float* out = dx + t * d;
    if (!accumulate) std::memset(out, 0, static_cast<size_t>(d) * sizeof(float));
    for (int64_t j = 0; j < top_k; ++j) {
      const int32_t row = route_row[t * top_k + j];
      if (row < 0) continue;
      const float* src = drows + static_cast<int64_t>(row) * d;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) out[c] += src[c];
    }
  }
}

void CombineRoutes(const float* rows, const int32_t* route_row, const float* gates,
                   int64_t num_tokens, int64_t top_k, int64_t d, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < num_tokens; ++t) {
    float* o = out + t * d;
    std::memset(o, 0, static_cast<size_t>(d) * sizeof(float));
    for (int64_t j = 0; j < top_k; ++j) {
      const int32_t row = route_row[t * top_k + j];
      if (row < 0) continue;
      const float g = gates[t * top_k + j];
      const float* src = rows + static_cast<int64_t>(row) * d;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) o[c] += g * src[c];
    }
  }
}

void CombineRoutesBackward(const float* dout, const float* rows, const int32_t* route_row,
                           const float* gates, int64_t num_tokens, int64_t top_k,
                           int64_t d, float* drows, float* dgates) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < num_tokens; ++t) {
    const float* dz = dout + t * d;
    for (int64_t j = 0; j < top_k; ++j) {
      const int64_t r = t * top_k + j;
      const int32_t row = route_row[r];
      if (row < 0) {
        dgates[r] = 0.0f;
        continue;
      }
      const float g = gates[r];
      const float* y = rows + static_cast<int64_t>(row) * d;
      float* dy = drows + static_cast<int64_t>(row) * d;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < d; ++c) {
        dot += dz[c] * y[c];
        dy[c] = g * dz[c];
      }
      dgates[r] = dot;
    }
  }
}

}  // namespace mpimoe::ops
