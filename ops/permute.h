// Permute and un-permute token rows by bucket (expert, or expert copy), and the
// gate-weighted combine: the local data movement of an MoE layer.
//
// Vocabulary: a token t with top-k choices has k *routes*, route r = t * top_k + j.
// Each route is assigned a bucket (an expert id, or later a physical expert copy
// ordered by destination rank and slot) or -1 when it is dropped (capacity). The layout
// sorts routes into *rows* grouped by bucket, stably: within a bucket rows keep the
// order of their routes, so the layout is a deterministic function of the routing.
//
// Thread-safety: pure functions; the row-parallel ones use OpenMP.
#pragma once

#include <cstdint>

namespace mpimoe::ops {

// Stable counting sort of routes by bucket.
//   bucket_of_route: [num_routes] int32, values in [0, num_buckets) or -1 (dropped)
//   bucket_offsets:  [num_buckets + 1] int64 (out), rows of bucket b are
//                    [bucket_offsets[b], bucket_offsets[b + 1])
//   row_route:       [num_routes] int32 (out), route of each row (first num_rows used)
//   route_row:       [num_routes] int32 (out), row of each route, -1 if dropped
// Returns num_rows, the number of routes kept. Aborts on a bucket id out of range.
int64_t BuildBucketLayout(const int32_t* bucket_of_route, int64_t num_routes,
                          int64_t num_buckets, int64_t* bucket_offsets,
                          int32_t* row_route, int32_t* route_row);

// rows[i, :] = x[row_route[i] / top_k, :].
//   x: [num_tokens, d] f32, row_route: [num_rows] int32, rows: [num_rows, d] f32
void PermuteTokens(const float* x, const int32_t* row_route, int64_t num_rows,
                   int64_t top_k, int64_t d, float* rows);

// Backward of PermuteTokens: dx[t, :] (+)= sum_j drows[route_row[t * top_k + j], :], in
// j order, skipping dropped routes.
//   drows: [num_rows, d] f32, route_row: [num_tokens * top_k] int32, dx: [num_tokens, d]
void PermuteTokensBackward(const float* drows, const int32_t* route_row,
                           int64_t num_tokens, int64_t top_k, int64_t d, float* dx,
                           bool accumulate);

// out[t, :] = sum_j gates[t, j] * rows[route_row[t * top_k + j], :], in j order; dropped
// routes contribute nothing (a token with all routes dropped gets zeros).
//   rows: [num_rows, d] f32, route_row: [num_tokens * top_k] int32,
//   gates: [num_tokens, top_k] f32, out: [num_tokens, d] f32
void CombineRoutes(const float* rows, const int32_t* route_row, const float* gates,
                   int64_t num_tokens, int64_t top_k, int64_t d, float* out);

// Backward of CombineRoutes:
//   drows[route_row[r], :] = gates[r] * dout[t, :]     (rows of dropped routes untouched)
//   dgates[t, j] = <dout[t, :], rows[route_row[t * top_k + j], :]>   (0 if dropped)
//   dout: [num_tokens, d], rows: [num_rows, d], drows: [num_rows, d], dgates:
//   [num_tokens, top_k]
void CombineRoutesBackward(const float* dout, const float* rows, const int32_t* route_row,
                           const float* gates, int64_t num_tokens, int64_t top_k,
                           int64_t d, float* drows, float* dgates);

}  // namespace mpimoe::ops
