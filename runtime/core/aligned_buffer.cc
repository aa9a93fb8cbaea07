#include "runtime/core/aligned_buffer.h"

#include <atomic>
#include <cstdlib>
#include <utility>

#include "runtime/core/check.h"

namespace mpimoe {
namespace {
std::atomic<int64_t> g_allocation_count{0};  // statistics only, see header
}  // namespace

AlignedBuffer::AlignedBuffer(size_t size_bytes) { Reserve(size_bytes); }

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_bytes_(std::exchange(other.size_bytes_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
  }
  return *this;
}

void AlignedBuffer::Reserve(size_t size_bytes) {
  if (size_bytes <= size_bytes_) return;
  std::free(data_);
  const size_t rounded = (size_bytes + kTensorAlignmentBytes - 1) /
                         kTensorAlignmentBytes * kTensorAlignmentBytes;
  data_ = std::aligned_alloc(kTensorAlignmentBytes, rounded);
  MPIMOE_CHECK_MSG(data_ != nullptr, "out of memory");
  size_bytes_ = rounded;
  g_allocation_count.fetch_add(1, std::memory_order_relaxed);
}

int64_t AlignedAllocationCount() {
  return g_allocation_count.load(std::memory_order_relaxed);
}

}  // namespace mpimoe
