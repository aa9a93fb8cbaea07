// Pairwise exchange: the algorithm that moves blocks between every pair of ranks with
// point-to-point messages. MpiCommunicator uses it where a collective cannot be handed
// to MPI whole (an Alltoall or Alltoallv whose counts or displacements exceed the chunk
// limit, INT32_MAX by default) and for every sparse block exchange (ExchangeBlocks).
//
// It plans; it moves no bytes and knows no MPI. A Plan* function turns 64-bit blocks
// into an ExchangeSchedule: a local copy for each block a rank sends to itself, and for
// every other peer the messages to receive and to send, a block cut into messages of at
// most `max_chunk_elements` elements. The transport runs a schedule by posting every
// receive, doing the copies, posting every send and waiting for all. All messages of a
// schedule share one tag and, between a pair of ranks, MPI keeps messages of one tag in
// posting order: so the i-th message a rank sends to a peer fills the i-th receive that
// peer posted for it. Every check is made while planning, before the transport posts
// anything, so a bad request never leaves messages in flight.
//
// Other exchange algorithms (hierarchical / node-aware, chunked for overlap) belong next
// to this file and hand the transport schedules of the same shape.
//
// Thread-safety: pure functions; a schedule belongs to its caller.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/core/status.h"

namespace mpimoe::parallel {

// A block a rank sends to itself: `count` elements from element `send_offset` of the
// send buffer to element `recv_offset` of the receive buffer.
struct ExchangeCopy {
  int64_t send_offset = 0;
  int64_t recv_offset = 0;
  int64_t count = 0;

  bool operator==(const ExchangeCopy&) const = default;
};

// One point-to-point message: `count` elements (1 <= count <= the chunk limit) at
// element `offset` of the send buffer (a send) or of the receive buffer (a receive).
struct ExchangeMessage {
  int32_t peer = 0;
  int64_t offset = 0;
  int64_t count = 0;

  bool operator==(const ExchangeMessage&) const = default;
};

// What a transport executes. Reuse one schedule across calls: planning clears it and
// keeps its capacity, so a warm schedule plans without allocating.
struct ExchangeSchedule {
  std::vector<ExchangeCopy> copies;
  std::vector<ExchangeMessage> receives;  // in posting order
  std::vector<ExchangeMessage> sends;     // in posting order

  void Clear() {
    copies.clear();
    receives.clear();
    sends.clear();
  }
};

// Alltoallv between the `size` ranks of a group, seen from `rank`: send_counts[r]
// elements at send_displs[r] go to rank r, recv_counts[r] elements from rank r land at
// recv_displs[r] (arrays [size], counts >= 0). Receives and sends are in peer order, each
// peer's block cut into consecutive messages. Fails with InvalidArgument, naming `call`
// and the rank, when the block a rank sends to itself differs in size from the one it
// expects.
Status PlanPairwiseAlltoallv(int rank, int size, const int64_t* send_counts,
                             const int64_t* send_displs, const int64_t* recv_counts,
                             const int64_t* recv_displs, int64_t max_chunk_elements,
                             const char* call, ExchangeSchedule* schedule);

// Communicator::ExchangeBlocks seen from `rank` of `size`: every block of `sends` goes to
// its peer, every block of `recvs` is filled from its peer, blocks in the order given.
// Blocks to oneself pair up in order (the i-th self send fills the i-th self receive)
// and become copies. Fails with InvalidArgument, naming the rank, for a peer outside
// [0, size), a negative count, or self blocks that do not pair up (in number or size).
Status PlanBlockExchange(int rank, int size, const BlockTransfer* sends,
                         int64_t num_sends, const BlockTransfer* recvs, int64_t num_recvs,
                         int64_t max_chunk_elements, ExchangeSchedule* schedule);

}  // namespace mpimoe::parallel
