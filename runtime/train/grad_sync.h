// GradSync: sums the gradients of replicated parameters over the ranks, in buckets,
// overlapped with the backward pass.
//
// Parameters come in the order their gradients become final in the backward (the head
// first, the embeddings last: MoeTransformer::ReplicatedParametersInBackwardOrder) and
// are packed, in that order, into buckets of at most bucket_bytes (a larger parameter
// gets a bucket of its own). During the backward the model reports each group of
// finished parameters (Ready); as soon as every parameter of the next bucket is final,
// that bucket is packed and its non-blocking all-reduce started, so the all-reduce of
// the upper layers' gradients runs while the lower layers' backward computes (MPI
// progresses it inside the MoE layers' exchanges and at every later MPI call). With the
// hierarchical all-reduce (parallel.allreduce_algorithm) a started bucket's three
// stages run only when it is waited for, so that algorithm does not overlap yet.
// Finish starts what is left, waits for every bucket in order and unpacks it. Buckets
// start strictly in bucket order, at the same program points on every rank, so every
// rank issues the same collectives in the same order. Sums, not means: the model's loss
// is already normalised by the global target count.
//
// Ownership: borrows the parameters and the communicator; owns the bucket buffers.
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/trace.h"

namespace mpimoe::train {

class GradSync {
 public:
  // `params` in the order the backward finishes them.
  GradSync(parallel::Communicator* comm, std::vector<Parameter*> params,
           int64_t bucket_bytes);

  // A new step: no bucket started, no parameter ready.
  void BeginStep();
  // These parameters' gradients are final (unknown ones are ignored); starts every
  // bucket, in order, whose parameters are all final. Collective in effect: every rank
  // must report the same groups in the same order.
  Status Ready(std::span<Parameter* const> params);
  // Starts the remaining buckets, waits for all and unpacks: afterwards every rank's
  // gradients are the sums over ranks.
  Status Finish();
  // Waits for the buckets in flight and discards them (a step abandoned after its
  // backward on every rank alike, e.g. a non-finite loss); the gradients are left as
  // they were.
  void Drain();
  // A step failed on this rank with buckets in flight and the job will abort: gives up
  // on them without waiting (the other ranks may never complete them) and leaks their
  // buffers, which MPI may still write. Also what the destructor does with buckets still
  // in flight.
  void Abandon();
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;
  // BeginStep + Finish: the whole all-reduce after the backward.
  Status AllReduce();

  // Records each bucket's wait for its all-reduce ("allreduce_wait", with its bytes)
  // on `trace` (borrowed; null = off).
  void SetTrace(TraceRecorder* trace) { trace_ = trace; }

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Buckets started during the backward in the last step (before Finish).
  int64_t buckets_started_early() const { return started_early_; }
  // Gradient bytes each rank contributes per step.
  int64_t bytes_per_step() const {
    return total_elements_ * static_cast<int64_t>(sizeof(float));
  }

 private:
  struct Bucket {
    size_t first_param = 0;
    size_t end_param = 0;
    Tensor buffer;        // [sum of numel] f32
    int64_t waiting = 0;  // parameters not yet final this step
  };
  // Packs bucket `b` and starts its all-reduce.
  Status Start(size_t b);

  parallel::Communicator* comm_;
  std::vector<Parameter*> params_;
  std::unordered_map<const Parameter*, size_t> index_of_;  // in params_
  std::vector<size_t> bucket_of_param_;                    // [params] bucket index
  std::vector<bool> ready_;                                // [params] final this step
  std::vector<Bucket> buckets_;
  std::vector<parallel::Request> requests_;
  size_t next_to_start_ = 0;
  int64_t started_early_ = 0;
  int64_t total_elements_ = 0;
  TraceRecorder* trace_ = nullptr;
};

}  // namespace mpimoe::train
