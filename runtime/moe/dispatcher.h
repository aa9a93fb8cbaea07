// Dispatcher: the seam between the local token layout and the ranks that hold experts.
//
// The MoE layer sorts its routes into rows grouped by *bucket*. Buckets number every
// expert slot of every rank globally, in (rank, slot) order (parallel/plan.h), so the
// rows bound for one rank are contiguous. A Dispatcher moves rows to the ranks whose
// slots process them and back. Prepare describes one exchange in a DispatchHandle (it
// exchanges the row counts); the handle is then replayed four times: rows to experts
// and results back in the forward, output gradients to experts and input gradients back
// in the backward (dy travels like x, dx like y).
//
// Thread-safety: one host thread; a handle is used with the dispatcher that made it.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/communicator.h"
#include "parallel/plan.h"
#include "runtime/core/status.h"

namespace mpimoe::moe {

// How rows travel between ranks (parallel.a2a_wire_dtype). kBF16 rounds every row to
// bf16 (nearest, ties to even) before it is sent and widens it back to f32 on arrival:
// half the bytes; the math around it stays f32. Every row is rounded, also those a rank
// keeps for its own experts, so results never depend on where experts live.
enum class WireDType : uint8_t { kF32, kBF16 };

// The shape of one exchange, in rows. Send side: rows grouped by bucket, as laid out by
// the MoE layer. Receive side: rows grouped by local expert slot (and within a slot by
// source rank), ready for the experts. Vectors are reused across steps (they only grow).
struct DispatchHandle {
  int64_t num_send_rows = 0;
  int64_t num_recv_rows = 0;
  std::vector<int64_t> send_rank_rows;     // [P] rows sent to each rank
  std::vector<int64_t> recv_rank_rows;     // [P] rows received from each rank
  std::vector<int64_t> recv_slot_offsets;  // [num_local_slots + 1]
  // The exchange as blocks of rows: one per non-empty (destination rank, slot) on the
  // send side, one per non-empty (source rank, slot) on the receive side, each placed
  // directly at its final row (offset and count in rows).
  std::vector<parallel::BlockTransfer> send_blocks;
  std::vector<parallel::BlockTransfer> recv_blocks;
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Global number of buckets, and expert slots on this rank.
  virtual int64_t num_buckets() const = 0;
  virtual int64_t num_local_slots() const = 0;
  // Logical expert processed by each local slot: [num_local_slots].
  virtual const std::vector<int32_t>& local_slot_experts() const = 0;
  // Bucket of each logical expert's home: [num_experts].
  virtual const std::vector<int32_t>& expert_buckets() const = 0;
  // Buckets of each expert's copies, home first: [num_experts][copies].
  virtual const std::vector<std::vector<int32_t>>& expert_copies() const = 0;
  // The placement the buckets follow, and switching to another one (every rank of the
  // group switches to the same plan between steps).
  virtual const parallel::Plan& plan() const = 0;
  virtual Status SetPlan(const parallel::Plan& plan) = 0;

  // The format rows travel in (both directions, forward and backward).
  virtual WireDType wire_dtype() const { return WireDType::kF32; }

  // Describes the exchange of rows laid out by `send_bucket_offsets` ([num_buckets + 1]
  // int64) into `handle`. Collective: every rank of the group calls it.
  virtual Status Prepare(const int64_t* send_bucket_offsets, DispatchHandle* handle) = 0;

  // send: [handle.num_send_rows, d] f32 -> recv: [handle.num_recv_rows, d] f32, grouped
  // by local slot. Collective.
  virtual Status ToExperts(const DispatchHandle& handle, const float* send, float* recv,
                           int64_t d) = 0;
  // The exact inverse: recv-side rows [num_recv_rows, d] -> send-side rows
  // [num_send_rows, d]. Collective.
  virtual Status FromExperts(const DispatchHandle& handle, const float* recv, float* send,
                             int64_t d) = 0;
};

}  // namespace mpimoe::moe
