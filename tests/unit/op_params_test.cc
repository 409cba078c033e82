// Typed op parameters parsed once (src/ir/op_params.h) for shape inference and every backend: Transpose's perm,
// Concat's and Gather's axis.
#include "ir/op_params.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(OpParams, TransposePermDefaultsToReversedAxes) {
  auto p = transpose_perm(Attrs{}, 4);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (std::vector<int64_t>{3, 2, 1, 0}));
  p = transpose_perm(Attrs{}, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->empty());
}

TEST(OpParams, TransposePermNormalizesNegativeAxes) {
  Attrs a;
  a.set("perm", std::vector<int64_t>{0, -1, 1});
  auto p = transpose_perm(a, 3);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(*p, (std::vector<int64_t>{0, 2, 1}));
}

TEST(OpParams, TransposePermErrorsNameThePerm) {
  auto error_of = [](std::vector<int64_t> perm, int64_t rank) {
    Attrs a;
    a.set("perm", perm);
    auto p = transpose_perm(a, rank);
    EXPECT_FALSE(p.ok());
    return p.ok() ? std::string() : p.status().message();
  };
  EXPECT_NE(error_of({0, 1}, 3).find("perm [0,1] has 2 entries but the input has rank 3"), std::string::npos);
  EXPECT_NE(error_of({0, 0, 1}, 3).find("perm [0,0,1] is not a permutation"), std::string::npos);
  EXPECT_NE(error_of({0, -1, 2}, 3).find("not a permutation"), std::string::npos);  // -1 is axis 2 twice
  EXPECT_NE(error_of({0, 3, 1}, 3).find("not a permutation"), std::string::npos);
  // An explicit empty perm is not "reverse the axes" (the CPU kernel once read it so): only rank 0 takes it.
  EXPECT_NE(error_of({}, 2).find("has 0 entries"), std::string::npos);
}

TEST(OpParams, GemmParamsDefaultsAndErrors) {
  auto d = gemm_params(Attrs());
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->trans_a);
  EXPECT_FALSE(d->trans_b);
  EXPECT_EQ(d->alpha, 1.f);
  EXPECT_EQ(d->beta, 1.f);
  Attrs a;
  a.set("transB", int64_t{1});
  a.set("alpha", 0.5f);
  a.set("beta", 0.f);
  auto p = gemm_params(a);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->trans_a);
  EXPECT_TRUE(p->trans_b);
  EXPECT_EQ(p->alpha, 0.5f);
  EXPECT_EQ(p->beta, 0.f);
  Attrs bad;
  bad.set("transB", int64_t{-1});
  auto e = gemm_params(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "transB must be 0 or 1; got -1");
}

TEST(OpParams, PixelShuffleViewsAndErrors) {
  Attrs a;
  a.set("blocksize", int64_t{2});
  auto d2s = pixel_shuffle(OpKind::kDepthToSpace, a, {1, 8, 3, 5});
  ASSERT_TRUE(d2s.ok()) << d2s.status().message();
  EXPECT_EQ(d2s->out, (Dims{1, 2, 6, 10}));
  EXPECT_EQ(d2s->view, (Dims{1, 2, 2, 2, 3, 5}));  // DCR by default
  auto s2d = pixel_shuffle(OpKind::kSpaceToDepth, a, {1, 3, 4, 6});
  ASSERT_TRUE(s2d.ok());
  EXPECT_EQ(s2d->out, (Dims{1, 12, 2, 3}));
  EXPECT_NE(pixel_shuffle(OpKind::kDepthToSpace, a, {1, 6, 3, 5}).status().message().find("divisible"), std::string::npos);
  EXPECT_NE(pixel_shuffle(OpKind::kSpaceToDepth, a, {1, 3, 5, 6}).status().message().find("divisible"), std::string::npos);
  EXPECT_FALSE(pixel_shuffle(OpKind::kDepthToSpace, a, {8, 3, 5}).ok());
  Attrs bad = a;
  bad.set("mode", std::string("XYZ"));
  EXPECT_NE(pixel_shuffle(OpKind::kDepthToSpace, bad, {1, 8, 3, 5}).status().message().find("DCR or CRD"),
            std::string::npos);
  Attrs zero;
  EXPECT_NE(pixel_shuffle(OpKind::kDepthToSpace, zero, {1, 8, 3, 5}).status().message().find("blocksize"),
            std::string::npos);
}

TEST(OpParams, ConcatAxisIsRequiredAndNormalized) {
  Attrs a;
  auto missing = concat_axis(a, 3);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("attribute axis is required"), std::string::npos);
  a.set("axis", int64_t{-1});
  auto p = concat_axis(a, 3);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(*p, 2);
  a.set("axis", int64_t{3});
  auto bad = concat_axis(a, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("axis 3 is out of range for rank 3"), std::string::npos);
}

TEST(OpParams, GatherAxisDefaultsToZero) {
  Attrs a;
  auto p = gather_axis(a, 2);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, 0);
  a.set("axis", int64_t{-2});
  EXPECT_EQ(*gather_axis(a, 2), 0);
  a.set("axis", int64_t{-3});
  auto bad = gather_axis(a, 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("axis -3 is out of range for rank 2"), std::string::npos);
  EXPECT_FALSE(gather_axis(Attrs{}, 0).ok());  // a scalar has no axis
}

}  // namespace
}  // namespace kiln
