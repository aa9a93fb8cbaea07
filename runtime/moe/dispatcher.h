// Dispatcher: the seam between the local token layout and the ranks that hold experts.
//
// The MoE layer sorts its routes into rows grouped by *bucket* (today: logical expert
// id; with the balancer: physical expert copy, ordered by destination rank and slot).
// A Dispatcher moves those rows to the ranks whose local expert slots process them and
// back. The exchange is described once per forward by a DispatchHandle (Prepare) and
// replayed four times: rows to experts and results back in the forward, output
// gradients to experts and input gradients back in the backward.
//
// Implementations: LocalDispatcher (world size 1: every bucket is a local slot, the
// exchange is a copy). The MPI dispatcher (all-to-all) implements the same interface.
//
// Thread-safety: one host thread; a handle is used with the dispatcher that made it.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::moe {

// The shape of one exchange. Send side: rows grouped by bucket, as laid out by the MoE
// layer. Receive side: rows grouped by local expert slot, ready for the experts.
struct DispatchHandle {
  int64_t num_send_rows = 0;
  int64_t num_recv_rows = 0;
  std::vector<int64_t> send_bucket_offsets;  // [num_buckets + 1]
  std::vector<int64_t> recv_slot_offsets;    // [num_local_slots + 1]
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Number of buckets rows are grouped into (global) and of expert slots on this rank.
  virtual int64_t num_buckets() const = 0;
  virtual int64_t num_local_slots() const = 0;
  // Global expert id processed by each local slot: [num_local_slots].
  virtual const std::vector<int32_t>& local_slot_experts() const = 0;

  // Describes the exchange of rows laid out by `send_bucket_offsets`
  // ([num_buckets + 1] int64) into `handle` (its vectors are reused, not reallocated,
  // once they have grown).
  virtual Status Prepare(const int64_t* send_bucket_offsets, DispatchHandle* handle) = 0;

  // send: [handle.num_send_rows, d] f32 -> recv: [handle.num_recv_rows, d] f32.
  virtual Status ToExperts(const DispatchHandle& handle, const float* send, float* recv,
                           int64_t d) = 0;
  // recv-side rows [num_recv_rows, d] -> send-side rows [num_send_rows, d], the exact
  // inverse of ToExperts.
  virtual Status FromExperts(const DispatchHandle& handle, const float* recv, float* send,
                             int64_t d) = 0;
};

// World size 1: bucket b is local slot b, for experts 0..num_experts-1.
class LocalDispatcher final : public Dispatcher {
 public:
  explicit LocalDispatcher(int64_t num_experts);

  int64_t num_buckets() const override { return num_experts_; }
  int64_t num_local_slots() const override { return num_experts_; }
  const std::vector<int32_t>& local_slot_experts() const override {
    return slot_experts_;
  }

  Status Prepare(const int64_t* send_bucket_offsets, DispatchHandle* handle) override;
  Status ToExperts(const DispatchHandle& handle, const float* send, float* recv,
                   int64_t d) override;
  Status FromExperts(const DispatchHandle& handle, const float* recv, float* send,
                     int64_t d) override;

 private:
  int64_t num_experts_;
  std::vector<int32_t> slot_experts_;
};

}  // namespace mpimoe::moe
