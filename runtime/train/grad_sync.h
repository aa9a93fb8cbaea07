// GradSync: sums the gradients of replicated parameters over the ranks, in buckets.
//
// Parameters are packed, in order, into buckets of at most bucket_bytes (a larger
// parameter gets a bucket of its own); each step every bucket is packed, all buckets'
// non-blocking all-reduces are started, and each is unpacked as it completes, so packing
// overlaps with communication. Sums, not means: the model's loss is already normalised
// by the global target count, so the summed gradient is the global batch's gradient.
//
// Ownership: borrows the parameters and the communicator; owns the bucket buffers.
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/trace.h"

namespace mpimoe::train {

class GradSync {
 public:
  GradSync(parallel::Communicator* comm, std::vector<Parameter*> params,
           int64_t bucket_bytes);

  // Collective: afterwards every rank's gradients are the sums over ranks.
  Status AllReduce();
  // Records each bucket's wait for its all-reduce ("allreduce_wait", with its bytes)
  // on `trace` (borrowed; null = off).
  void SetTrace(TraceRecorder* trace) { trace_ = trace; }

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Gradient bytes each rank contributes per step.
  int64_t bytes_per_step() const {
    return total_elements_ * static_cast<int64_t>(sizeof(float));
  }

 private:
  struct Bucket {
    size_t first_param = 0;
    size_t end_param = 0;
    Tensor buffer;  // [sum of numel] f32
  };
  parallel::Communicator* comm_;
  std::vector<Parameter*> params_;
  std::vector<Bucket> buckets_;
  std::vector<parallel::Request> requests_;
  int64_t total_elements_ = 0;
  TraceRecorder* trace_ = nullptr;
};

}  // namespace mpimoe::train
