// Embedding lookup (forward) and its gradient (scatter-add into the table).
//
// Token ids come from data files, so an out-of-range id is bad input: it returns a
// Status naming the position and the id instead of aborting.
//
// Thread-safety: pure functions; the forward is OpenMP-parallel over rows, the backward
// parallel over columns so that rows are summed in a fixed order (reproducible).
#pragma once

#include <cstdint>

#include "runtime/core/status.h"

namespace mpimoe::ops {

//   ids: [n] int32 in [0, vocab); table: [vocab, d] f32; out: [n, d] f32
Status EmbeddingForward(const int32_t* ids, int64_t n, const float* table, int64_t vocab,
                        int64_t d, float* out);

// dtable[ids[i], :] += dout[i, :] for i in order.
//   ids: [n] int32 (already validated by the forward); dout: [n, d]; dtable: [vocab, d]
void EmbeddingBackward(const int32_t* ids, int64_t n, const float* dout, int64_t d,
                       float* dtable);

}  // namespace mpimoe::ops
