// Typed collectives: one options struct and one function per collective, over any
// Communicator. Templates stop here; the Communicator works on bytes plus a CollDType.
//
// Spans carry the element counts (64-bit). Per-rank arrays (counts, displacements) have
// one entry per rank of the communicator, in elements. Every function returns the
// Communicator's Status (which names the MPI call and the rank on failure) or
// InvalidArgument for spans whose sizes do not match the request.
//
// Thread-safety: as Communicator (the owning thread only).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "parallel/communicator.h"

namespace mpimoe::parallel {

namespace internal {
inline Status SizeError(const char* call, const std::string& what) {
  return InvalidArgumentError(std::string(call) + ": " + what);
}
}  // namespace internal

struct AllreduceOptions {
  ReduceOp op = ReduceOp::kSum;
};
// recv[i] = op over ranks of send[i]. send and recv may be the same span (in place).
template <typename T>
Status Allreduce(Communicator& comm, std::span<const T> send, std::span<T> recv,
                 const AllreduceOptions& options = {}) {
  if (send.size() != recv.size())
    return internal::SizeError("Allreduce", "send/recv sizes differ");
  return comm.Allreduce(send.data(), recv.data(), static_cast<int64_t>(send.size()),
                        CollDTypeOf<T>::value, options.op);
}
template <typename T>
Status AllreduceInPlace(Communicator& comm, std::span<T> data,
                        const AllreduceOptions& options = {}) {
  return comm.Allreduce(data.data(), data.data(), static_cast<int64_t>(data.size()),
                        CollDTypeOf<T>::value, options.op);
}
// Non-blocking, in place: `data` must stay untouched until request->Wait().
template <typename T>
Status StartAllreduceInPlace(Communicator& comm, std::span<T> data, Request* request,
                             const AllreduceOptions& options = {}) {
  return comm.StartAllreduce(data.data(), data.data(), static_cast<int64_t>(data.size()),
                             CollDTypeOf<T>::value, options.op, request);
}

// send: [size * n], recv: [size * n]; block r of send goes to rank r.
template <typename T>
Status Alltoall(Communicator& comm, std::span<const T> send, std::span<T> recv) {
  const size_t ranks = static_cast<size_t>(comm.size());
  if (send.size() != recv.size() || send.size() % ranks != 0) {
    return internal::SizeError("Alltoall", "send/recv must both hold size * n elements");
  }
  return comm.Alltoall(send.data(), recv.data(),
                       static_cast<int64_t>(send.size() / ranks), CollDTypeOf<T>::value);
}

struct AlltoallvOptions {
  std::span<const int64_t> send_counts;  // [size]
  std::span<const int64_t> send_displs;  // [size]
  std::span<const int64_t> recv_counts;  // [size]
  std::span<const int64_t> recv_displs;  // [size]
};
template <typename T>
Status Alltoallv(Communicator& comm, std::span<const T> send, std::span<T> recv,
                 const AlltoallvOptions& o) {
  const size_t ranks = static_cast<size_t>(comm.size());
  if (o.send_counts.size() != ranks || o.send_displs.size() != ranks ||
      o.recv_counts.size() != ranks || o.recv_displs.size() != ranks) {
    return internal::SizeError("Alltoallv",
                               "counts and displacements need one entry per rank");
  }
  for (size_t r = 0; r < ranks; ++r) {
    if (o.send_displs[r] < 0 ||
        o.send_displs[r] + o.send_counts[r] > static_cast<int64_t>(send.size()) ||
        o.recv_displs[r] < 0 ||
        o.recv_displs[r] + o.recv_counts[r] > static_cast<int64_t>(recv.size())) {
      return internal::SizeError("Alltoallv", "block for rank " + std::to_string(r) +
                                                  " lies outside its buffer");
    }
  }
  return comm.Alltoallv(send.data(), o.send_counts.data(), o.send_displs.data(),
                        recv.data(), o.recv_counts.data(), o.recv_displs.data(),
                        CollDTypeOf<T>::value);
}

// recv: [size * send.size()], rank r's block at r * send.size().
template <typename T>
Status Allgather(Communicator& comm, std::span<const T> send, std::span<T> recv) {
  if (recv.size() != send.size() * static_cast<size_t>(comm.size())) {
    return internal::SizeError("Allgather", "recv must hold size * send.size() elements");
  }
  return comm.Allgather(send.data(), static_cast<int64_t>(send.size()), recv.data(),
                        CollDTypeOf<T>::value);
}

struct AllgathervOptions {
  std::span<const int64_t> recv_counts;  // [size]
  std::span<const int64_t> recv_displs;  // [size]
};
template <typename T>
Status Allgatherv(Communicator& comm, std::span<const T> send, std::span<T> recv,
                  const AllgathervOptions& o) {
  const size_t ranks = static_cast<size_t>(comm.size());
  if (o.recv_counts.size() != ranks || o.recv_displs.size() != ranks) {
    return internal::SizeError("Allgatherv",
                               "counts and displacements need one entry per rank");
  }
  for (size_t r = 0; r < ranks; ++r) {
    if (o.recv_displs[r] < 0 ||
        o.recv_displs[r] + o.recv_counts[r] > static_cast<int64_t>(recv.size())) {
      return internal::SizeError(
          "Allgatherv", "block of rank " + std::to_string(r) + " lies outside recv");
    }
  }
  return comm.Allgatherv(send.data(), static_cast<int64_t>(send.size()), recv.data(),
                         o.recv_counts.data(), o.recv_displs.data(),
                         CollDTypeOf<T>::value);
}

struct GathervOptions {
  int root = 0;
  std::span<const int64_t> recv_counts;  // [size], read on the root only
  std::span<const int64_t> recv_displs;  // [size], read on the root only
  int tag = 29000;                       // point-to-point tag, in [0, 30000)
};
namespace internal {
Status GathervBytes(Communicator& comm, const Status& root_checks, const void* send,
                    int64_t count, void* recv, const GathervOptions& o, CollDType dtype);
}  // namespace internal
// Every rank's `send` lands on the root only, rank r's block at recv[recv_displs[r]];
// recv and the counts are read on the root only (other ranks may pass empty spans).
// Built on point-to-point messages in rank order, so memory stays O(total) on the root
// and O(own block) elsewhere (unlike Allgatherv). The root checks that each block fits
// and that its own block has recv_counts[root] elements; every rank learns the verdict
// (AgreeOnStatus) before any block moves, so a bad call fails on every rank instead of
// leaving senders waiting. A sender whose block is longer than recv_counts[r] makes the
// root's receive fail (truncation).
template <typename T>
Status Gatherv(Communicator& comm, std::span<const T> send, std::span<T> recv,
               const GathervOptions& o) {
  Status root_checks;
  if (comm.rank() == o.root) {
    const size_t ranks = static_cast<size_t>(comm.size());
    if (o.recv_counts.size() != ranks || o.recv_displs.size() != ranks) {
      root_checks = internal::SizeError(
          "Gatherv", "counts and displacements need one entry per rank");
    }
    for (size_t r = 0; r < ranks && root_checks.ok(); ++r) {
      if (o.recv_counts[r] < 0 || o.recv_displs[r] < 0 ||
          o.recv_displs[r] + o.recv_counts[r] > static_cast<int64_t>(recv.size())) {
        root_checks = internal::SizeError(
            "Gatherv", "block of rank " + std::to_string(r) + " lies outside recv");
      }
    }
    if (root_checks.ok() &&
        o.recv_counts[static_cast<size_t>(o.root)] != static_cast<int64_t>(send.size())) {
      root_checks = internal::SizeError(
          "Gatherv", "the root sends " + std::to_string(send.size()) +
                         " elements but recv_counts says " +
                         std::to_string(o.recv_counts[static_cast<size_t>(o.root)]));
    }
  }
  return internal::GathervBytes(comm, root_checks, send.data(),
                                static_cast<int64_t>(send.size()), recv.data(), o,
                                CollDTypeOf<T>::value);
}

struct BcastOptions {
  int root = 0;
};
template <typename T>
Status Bcast(Communicator& comm, std::span<T> data, const BcastOptions& options = {}) {
  if (options.root < 0 || options.root >= comm.size()) {
    return internal::SizeError("Bcast",
                               "root " + std::to_string(options.root) + " out of range");
  }
  return comm.Bcast(data.data(), static_cast<int64_t>(data.size()), CollDTypeOf<T>::value,
                    options.root);
}

inline Status Barrier(Communicator& comm) { return comm.Barrier(); }

struct PointToPointOptions {
  int peer = 0;  // destination (Send) or source (Recv)
  int tag = 0;   // in [0, 30000)
};
template <typename T>
Status Send(Communicator& comm, std::span<const T> data, const PointToPointOptions& o) {
  return comm.Send(data.data(), static_cast<int64_t>(data.size()), CollDTypeOf<T>::value,
                   o.peer, o.tag);
}
template <typename T>
Status Recv(Communicator& comm, std::span<T> data, const PointToPointOptions& o) {
  return comm.Recv(data.data(), static_cast<int64_t>(data.size()), CollDTypeOf<T>::value,
                   o.peer, o.tag);
}

// Every rank learns whether every rank is OK: returns the local status if it failed,
// otherwise the error of the lowest failing rank r, same code, message prefixed by
// "rank r: " — so that rank 0 can report what went wrong elsewhere. Use it before a
// collective that a failed rank would skip, so that one failure cannot leave the others
// waiting.
Status AgreeOnStatus(Communicator& comm, const Status& local);

}  // namespace mpimoe::parallel
