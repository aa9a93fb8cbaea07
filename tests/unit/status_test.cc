// Tests of runtime/core/status.h: codes, context chaining, StatusOr and the macros.
#include "runtime/core/status.h"

#include <gtest/gtest.h>

namespace mpimoe {
namespace {

Status FailIfNegative(int v) {
  if (v < 0) return InvalidArgumentError("negative: " + std::to_string(v));
  return Status::Ok();
}

StatusOr<int> Twice(int v) {
  MPIMOE_RETURN_IF_ERROR(FailIfNegative(v));
  return 2 * v;
}

Status UseTwice(int v, int* out) {
  MPIMOE_ASSIGN_OR_RETURN(*out, Twice(v));
  return Status::Ok();
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFoundError("data.bin");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: data.bin");
}

TEST(StatusTest, ContextChains) {
  Status s = InvalidArgumentError("must be positive")
                 .WithContext("model.d_model")
                 .WithContext("loading x.textproto");
  EXPECT_EQ(s.message(), "loading x.textproto: model.d_model: must be positive");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
  EXPECT_EQ(Status::Ok().WithContext("ignored").message(), "");
}

TEST(StatusTest, StatusOrAndMacros) {
  StatusOr<int> good = Twice(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 6);
  StatusOr<int> bad = Twice(-1);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "negative: -1");
  int out = 0;
  EXPECT_TRUE(UseTwice(4, &out).ok());
  EXPECT_EQ(out, 8);
  EXPECT_FALSE(UseTwice(-2, &out).ok());
  EXPECT_EQ(out, 8);
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  StatusOr<int> bad = Twice(-1);
  EXPECT_DEATH({ (void)bad.value(); }, "CHECK failed at .*status.h");
}

}  // namespace
}  // namespace mpimoe
