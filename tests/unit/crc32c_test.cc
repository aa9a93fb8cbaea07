// CRC-32C against published check values (RFC 3720 appendix B.4 and the "123456789"
// check value), and the hardware path against the portable one on random data.
#include "runtime/core/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/random.h"

namespace mpimoe {
namespace {

TEST(Crc32cTest, KnownValues) {
  const std::string digits = "123456789";
  EXPECT_EQ(Crc32c(digits.data(), digits.size()), 0xE3069283u);
  std::vector<uint8_t> bytes(32, 0x00);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x8A9136AAu);
  std::fill(bytes.begin(), bytes.end(), 0xFF);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x62A8AB43u);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

TEST(Crc32cTest, PathsAgreeAndExtendIsConcatenation) {
  Rng rng(5);
  std::vector<uint8_t> data(4099);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng.Below(256));
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{4099}}) {
    EXPECT_EQ(Crc32c(data.data(), size), Crc32cExtendPortable(0, data.data(), size))
        << size;
  }
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t cut : {size_t{1}, size_t{13}, size_t{2048}}) {
    EXPECT_EQ(
        Crc32cExtend(Crc32c(data.data(), cut), data.data() + cut, data.size() - cut),
        whole)
        << cut;
  }
  // Any single flipped bit changes the checksum.
  for (size_t bit = 0; bit < data.size() * 8; bit += 997) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(Crc32c(data.data(), data.size()), whole) << bit;
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
}  // namespace mpimoe
