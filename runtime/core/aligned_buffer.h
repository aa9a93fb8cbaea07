// AlignedBuffer: an owning, 64-byte aligned, uninitialised byte buffer, and the
// process-wide count of such allocations.
//
// Every tensor and workspace in mpimoe allocates through AlignedBuffer, so
// AlignedAllocationCount() tells a test or benchmark whether a hot path allocated
// (the contract: after warm-up, a training step allocates nothing; workspaces grow
// only when a step needs more rows than any step before it).
//
// Thread-safety: distinct buffers are independent; the counter is atomic.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mpimoe {

inline constexpr size_t kTensorAlignmentBytes = 64;  // one cache line, one AVX-512 vector

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size_bytes);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t size_bytes() const { return size_bytes_; }

  // Grows to at least `size_bytes` (contents are not preserved); never shrinks.
  void Reserve(size_t size_bytes);

 private:
  void* data_ = nullptr;
  size_t size_bytes_ = 0;
};

// Number of AlignedBuffer allocations made by this process so far.
int64_t AlignedAllocationCount();

}  // namespace mpimoe
