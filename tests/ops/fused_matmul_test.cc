// Tests of the reference FusedMatMul kernel: hand-computed values, transA/transB/alpha against Gemm, batched
// broadcasting with a broadcast Z, every activation, and clear errors.
#include "tests/ops/fused_test_util.h"

namespace {

using namespace fused_test;  // NOLINT

// Explicit 2-D matrix product (independent of the kernels).
Tensor matmul2d(const Tensor& a, const Tensor& b) {
  const int64_t m = a.dim(0), kk = a.dim(1), n = b.dim(1);
  Tensor y(DType::kFloat32, {m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < kk; ++t) s += a.as_double(i * kk + t) * b.as_double(t * n + j);
      y.data<float>()[i * n + j] = static_cast<float>(s);
    }
  return y;
}

TEST(FusedMatMulKernel, HandComputedAlphaBias) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  Tensor bias = f32({2}, {10, -100});
  Attrs at;
  at.set("alpha", 2.f);
  auto y = run1(OpKind::kFusedMatMul, {a, b, bias}, at);
  ASSERT_TRUE(y.ok()) << y.status().message();
  // a@b = [[4, 5], [10, 11]]; *2 + bias.
  EXPECT_EQ(values(*y), (std::vector<double>{18, -90, 30, -78}));
}

TEST(FusedMatMulKernel, TransposesAndAlphaMatchGemm) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Tensor a = random_f32(ta ? Dims{5, 4} : Dims{4, 5}, 20 + ta),
             b = random_f32(tb ? Dims{3, 5} : Dims{5, 3}, 30 + tb);
      Tensor bias = random_f32({3}, 40);
      Attrs at;
      at.set("transA", int64_t{ta});
      at.set("transB", int64_t{tb});
      at.set("alpha", 0.75f);
      auto y = run1(OpKind::kFusedMatMul, {a, b, bias}, at);
      ASSERT_TRUE(y.ok()) << y.status().message();
      at.set("beta", 1.f);
      auto g = kiln::run_reference_kernel(OpKind::kGemm, {a, b, bias}, at, 1, 13);
      ASSERT_TRUE(g.ok()) << g.status().message();
      SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb));
      expect_close(*y, g.value()[0], 1e-5);
    }
}

TEST(FusedMatMulKernel, BatchBroadcastZAndEveryActivation) {
  // A [2, 1, 3, 4] @ B [3, 4, 2] -> [2, 3, 3, 2]; Z [3, 1, 2] broadcasts over batch and rows.
  Tensor a = random_f32({2, 1, 3, 4}, 50), b = random_f32({3, 4, 2}, 51), bias = random_f32({2}, 52);
  Tensor z = random_f32({3, 1, 2}, 53);
  for (const ActCase& c : all_activations()) {
    Attrs at;
    set_act(at, c);
    auto y = run1(OpKind::kFusedMatMul, {a, b, bias, z}, at);
    ASSERT_TRUE(y.ok()) << c.name << ": " << y.status().message();
    ASSERT_EQ(y->dims(), (Dims{2, 3, 3, 2}));
    Tensor want(DType::kFloat32, {2, 3, 3, 2});
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        Tensor am = f32({3, 4}, std::vector<float>(a.data<float>() + i * 12, a.data<float>() + i * 12 + 12));
        Tensor bm = f32({4, 2}, std::vector<float>(b.data<float>() + j * 8, b.data<float>() + j * 8 + 8));
        Tensor p = matmul2d(am, bm);
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t col = 0; col < 2; ++col) {
            double v = p.as_double(r * 2 + col) + bias.as_double(col) + z.as_double(j * 2 + col);
            want.data<float>()[((i * 3 + j) * 3 + r) * 2 + col] = act_formula(c.name, v, c.alpha, c.beta);
          }
      }
    SCOPED_TRACE(c.name);
    expect_close(*y, want, 1e-5);
  }
}

TEST(FusedMatMulKernel, BatchedTransB) {
  // transB swaps B's last two dims only: B [2, 3, 4] (N=3, K=4).
  Tensor a = random_f32({2, 5, 4}, 60), b = random_f32({2, 3, 4}, 61);
  Attrs at;
  at.set("transB", int64_t{1});
  auto y = run1(OpKind::kFusedMatMul, {a, b}, at);
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ(y->dims(), (Dims{2, 5, 3}));
  for (int64_t i = 0; i < 2; ++i) {
    Tensor am = f32({5, 4}, std::vector<float>(a.data<float>() + i * 20, a.data<float>() + i * 20 + 20));
    Tensor bt(DType::kFloat32, {4, 3});
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t t = 0; t < 4; ++t) bt.data<float>()[t * 3 + n] = b.data<float>()[i * 12 + n * 4 + t];
    Tensor p = matmul2d(am, bt);
    for (int64_t e = 0; e < 15; ++e) EXPECT_NEAR(y->as_double(i * 15 + e), p.as_double(e), 1e-5);
  }
}

TEST(FusedMatMulKernel, BadInputsAreClearErrors) {
  Tensor a = random_f32({2, 3}, 70), b = random_f32({3, 4}, 71);
  auto expect_error = [&](const std::vector<Tensor>& in, Attrs at, const std::string& needle) {
    auto y = run1(OpKind::kFusedMatMul, in, at);
    ASSERT_FALSE(y.ok()) << needle;
    EXPECT_NE(y.status().message().find(needle), std::string::npos) << y.status().message();
    EXPECT_NE(y.status().message().find("FusedMatMul"), std::string::npos) << y.status().message();
  };
  Attrs act;
  act.set("activation", std::string("relu"));
  expect_error({a, b}, act, "unknown activation 'relu'");
  Attrs tr;
  tr.set("transA", int64_t{2});
  expect_error({a, b}, tr, "transA must be 0 or 1; got 2");
  expect_error({a, b, random_f32({3}, 1)}, {}, "bias must have shape [4]");
  expect_error({a, b, Tensor(), random_f32({3, 4}, 1)}, {}, "does not broadcast to the output shape");
  expect_error({a, random_f32({4, 4}, 1)}, {}, "inner dimensions differ");
  Tensor i32(DType::kInt32, {2, 3});
  expect_error({i32, i32}, {}, "dtype int32");
}

}  // namespace
