// Softmax cross-entropy over vocabulary logits, forward and backward.
//
// loss[i] = logsumexp(logits[i, :]) - logits[i, target[i]]. A target of -1 marks a
// position to ignore (loss 0, zero gradient). Targets outside [-1, vocab) are bad data
// and return a Status.
//
// Thread-safety: pure functions, OpenMP-parallel over rows.
#pragma once

#include <cstdint>

#include "runtime/core/status.h"

namespace mpimoe::ops {

//   logits: [n, vocab] f32; targets: [n] int32; losses: [n] f32 (out);
//   lse: [n] f32 (out, saved for the backward)
Status CrossEntropyForward(const float* logits, const int32_t* targets, int64_t n,
                           int64_t vocab, float* losses, float* lse);

// dlogits[i, :] = dloss[i] * (softmax(logits[i, :]) - onehot(target[i])).
//   logits, dlogits: [n, vocab] f32 (may alias); targets: [n]; lse: [n]; dloss: [n] f32
void CrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                          const float* dloss, int64_t n, int64_t vocab, float* dlogits);

}  // namespace mpimoe::ops
