// Tests of runtime/core tensors: alignment, views, resize without reallocation, bf16.
#include "runtime/core/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "runtime/core/random.h"

namespace mpimoe {
namespace {

TEST(TensorTest, AlignedAndShaped) {
  Tensor t(DType::kF32, {3, 5});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % kTensorAlignmentBytes, 0u);
  EXPECT_EQ(t.numel(), 15);
  EXPECT_EQ(t.size_bytes(), 60);
  Tensor z = Tensor::Zeros(DType::kI32, {4});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(z.data<int32_t>()[i], 0);
}

TEST(TensorTest, ResizeReusesCapacity) {
  Tensor t(DType::kF32, {64, 64});
  const void* before = t.raw();
  const int64_t allocations = AlignedAllocationCount();
  t.Resize({32, 64});
  t.Resize({64, 64});
  EXPECT_EQ(t.raw(), before);
  EXPECT_EQ(AlignedAllocationCount(), allocations);
  t.Resize({65, 64});
  EXPECT_EQ(AlignedAllocationCount(), allocations + 1);
}

TEST(TensorTest, ViewRowsAndStrides) {
  Tensor t(DType::kF32, {4, 3});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<float>(i);
  TensorView v = t.view();
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.stride(0), 3);
  EXPECT_EQ(v.stride(1), 1);
  TensorView rows = v.Rows(1, 3);
  EXPECT_EQ(rows.dim(0), 2);
  EXPECT_EQ(rows.data<float>()[0], 3.0f);
  EXPECT_EQ(rows.ShapeString(), "[2, 3] f32");
  Tensor c = t.Clone();
  EXPECT_NE(c.raw(), t.raw());
  EXPECT_EQ(c.data<float>()[11], 11.0f);
}

TEST(TensorDeathTest, DtypeMismatchAborts) {
  Tensor t(DType::kF32, {2});
  EXPECT_DEATH({ (void)t.data<int32_t>(); }, "dtype mismatch");
}

TEST(DTypeTest, Bf16RoundTripAndRounding) {
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f)), 1.0f);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is halfway between two bf16 values: rounds to even (1.0).
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 1.0f / 256.0f)), 1.0f);
  // Slightly above halfway rounds up.
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 1.0f / 256.0f + 1.0f / 4096.0f)),
            1.0f + 1.0f / 128.0f);
  Rng rng(7);
  for (int i = 0; i < 1000; ++i) {
    const float x = rng.Normal() * 100.0f;
    const float y = Bf16ToFloat(FloatToBf16(x));
    EXPECT_LE(std::abs(x - y), std::abs(x) * (1.0f / 256.0f));
  }
}

TEST(RngTest, DeterministicAndDistinctStreams) {
  Rng a(MixSeed(1, {2, 3}));
  Rng b(MixSeed(1, {2, 3}));
  Rng c(MixSeed(1, {3, 2}));
  EXPECT_EQ(a.NextU64(), b.NextU64());
  EXPECT_NE(Rng(MixSeed(1, {2, 3})).NextU64(), c.NextU64());
  double sum = 0.0, sum_sq = 0.0;
  Rng n(5);
  const int count = 20000;
  for (int i = 0; i < count; ++i) {
    const double v = n.Normal();
    sum += v;
    sum_sq += v * v;
  }
  EXPECT_NEAR(sum / count, 0.0, 0.03);
  EXPECT_NEAR(sum_sq / count, 1.0, 0.05);
}

}  // namespace
}  // namespace mpimoe
