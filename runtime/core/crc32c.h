// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78) of a byte range, the
// checksum stored with every checkpoint tensor. Uses the SSE4.2 crc32 instruction when
// the CPU has it (several GB/s), else an 8-table software loop; both give the same
// value. Crc32c("123456789") == 0xE3069283.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mpimoe {

// Extends `crc` (the value for the bytes before `data`; 0 for none) with `size` bytes.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

// The portable table-driven path alone (for tests comparing the two paths).
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) {
  return Crc32cExtend(0, data, size);
}

}  // namespace mpimoe
