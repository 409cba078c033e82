// Status, Result and DType basics.
#include <gtest/gtest.h>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

Result<int> half_of(int x) {
  if (x % 2) return invalid_argument("odd");
  return x / 2;
}

Status use_half(int x, int* out) {
  KILN_ASSIGN_OR_RETURN(*out, half_of(x));
  return ok_status();
}

TEST(Status, PropagatesErrors) {
  int v = 0;
  EXPECT_TRUE(use_half(4, &v).ok());
  EXPECT_EQ(v, 2);
  Status st = use_half(3, &v);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "odd");
  EXPECT_EQ(st.with_context("ctx").message(), "ctx: odd");
}

TEST(DType, NamesRoundTrip) {
  for (int i = 1; i <= kMaxDType; ++i) {
    DType t = static_cast<DType>(i), back;
    ASSERT_TRUE(dtype_from_name(dtype_name(t), &back)) << i;
    EXPECT_EQ(back, t);
  }
  EXPECT_EQ(dtype_size(DType::kFloat16), 2u);
  EXPECT_EQ(dtype_size(DType::kInt4), 1u);  // unpacked in memory
}

TEST(Tensor, AllocateRejectsHugeAndNegative) {
  EXPECT_FALSE(Tensor::allocate(DType::kFloat32, {-1, 3}).ok());
  EXPECT_FALSE(Tensor::allocate(DType::kFloat32, {1 << 30, 1 << 30}, size_t{1} << 32).ok());
  auto t = Tensor::allocate(DType::kFloat32, {2, 3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(t->data<float>()[5], 0.f);
}

TEST(Tensor, StringsAreOwned) {
  Tensor t(DType::kString, {2});
  t.strings()[0] = "hello";
  Tensor c = t.clone();
  t.strings()[0] = "bye";
  EXPECT_EQ(c.strings()[0], "hello");
  EXPECT_FALSE(c.identical(t));
}

}  // namespace kiln
