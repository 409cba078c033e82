// Tests of the math family's signal kernels: DFT, STFT, window functions and MelWeightMatrix.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/reference/kernel.h"
#include "tests/ops/math_test_util.h"
#include "onnx/ops/normalize.h"


TEST(MathDft, RealForwardOnesidedInverse) {
  // x = [1, 2, 3, 4] (real) along axis 1 of [1, 4, 1]: X = [10, -2+2i, -2, -2-2i].
  Tensor x = f32({1, 4, 1}, {1, 2, 3, 4});
  auto r = run_op(OpKind::kDFT, {x, Tensor(), scalar_i64(1)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{1, 4, 2}));
  expect_near_all(r->at(0), {10, 0, -2, 2, -2, 0, -2, -2}, 1e-5);
  Attrs one;
  one.set("onesided", int64_t{1});
  auto h = run_op(OpKind::kDFT, {x, Tensor(), scalar_i64(-2)}, one);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->at(0).dims(), (Dims{1, 3, 2}));
  // Inverse of the full spectrum gives the signal back.
  Attrs inv;
  inv.set("inverse", int64_t{1});
  auto back = run_op(OpKind::kDFT, {r->at(0), Tensor(), scalar_i64(1)}, inv);
  ASSERT_TRUE(back.ok());
  expect_near_all(back->at(0), {1, 0, 2, 0, 3, 0, 4, 0}, 1e-5);
  // dft_length pads with zeros.
  auto padded = run_op(OpKind::kDFT, {f32({1, 1, 1}, {3}), scalar_i64(3), scalar_i64(1)});
  ASSERT_TRUE(padded.ok());
  expect_near_all(padded->at(0), {3, 0, 3, 0, 3, 0});
  EXPECT_FALSE(run_op(OpKind::kDFT, {x, Tensor(), scalar_i64(2)}).ok());  // axis on the complex dim
  EXPECT_FALSE(run_op(OpKind::kDFT, {f32({1, 4, 3}, {}), Tensor(), scalar_i64(1)}).ok());
}

TEST(MathDft, NormalizerMovesOpset17Axis) {
  kiln::Graph g;
  kiln::Node n;
  n.op = OpKind::kDFT;
  n.name = "d";
  n.inputs = {"x"};
  n.outputs = {"y"};
  kiln::NormalizeContext ctx{g, n, 17};
  ASSERT_TRUE(kiln::normalize_registry().find(OpKind::kDFT)(ctx).ok());
  ASSERT_EQ(n.inputs.size(), 3u);
  EXPECT_TRUE(n.inputs[1].empty());
  EXPECT_EQ(g.initializers[n.inputs[2]].as_int64(0), 1);  // opset-17 default axis
}

TEST(MathStft, FramesAndWindow) {
  Tensor x = f32({1, 6, 1}, {1, 1, 1, 1, 1, 1});
  auto r = run_op(OpKind::kSTFT, {x, scalar_i64(2), f32({4}, {1, 1, 1, 1}), Tensor()});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{1, 2, 3, 2}));  // frames = 1 + (6-4)/2, bins = 4/2+1
  expect_near_all(r->at(0), {4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0}, 1e-5);
  EXPECT_FALSE(run_op(OpKind::kSTFT, {x, scalar_i64(0), Tensor(), scalar_i64(4)}).ok());
  EXPECT_FALSE(run_op(OpKind::kSTFT, {x, scalar_i64(1), Tensor(), scalar_i64(7)}).ok());
}

TEST(MathWindows, HannHammingBlackman) {
  auto hann = run_op(OpKind::kHannWindow, {scalar_i64(4)});
  ASSERT_TRUE(hann.ok());
  expect_near_all(hann->at(0), {0, 0.5, 1, 0.5});
  Attrs sym;
  sym.set("periodic", int64_t{0});
  auto hs = run_op(OpKind::kHannWindow, {scalar_i64(3)}, sym);
  expect_near_all(hs->at(0), {0, 1, 0});
  auto ham = run_op(OpKind::kHammingWindow, {scalar_i64(2)});
  expect_near_all(ham->at(0), {4.0 / 46.0, 1.0});
  auto bl = run_op(OpKind::kBlackmanWindow, {scalar_i64(2)});
  expect_near_all(bl->at(0), {0.0, 1.0}, 1e-6);
  Attrs dbl;
  dbl.set("output_datatype", int64_t{11});
  auto d = run_op(OpKind::kHannWindow, {scalar_i64(1)}, dbl);
  EXPECT_EQ(d->at(0).dtype(), DType::kFloat64);
  EXPECT_FALSE(run_op(OpKind::kHannWindow, {scalar_i64(-1)}).ok());
  EXPECT_FALSE(run_op(OpKind::kHannWindow, {f32({}, {4})}).ok());
}

TEST(MathMel, ShapeAndTriangles) {
  auto r =
      run_op(OpKind::kMelWeightMatrix, {i32({}, {4}), i32({}, {16}), i32({}, {8000}), f32({}, {0}), f32({}, {4000})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{9, 4}));
  for (double v : values_of(r->at(0))) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_FALSE(
      run_op(OpKind::kMelWeightMatrix, {i32({}, {0}), i32({}, {16}), i32({}, {8000}), f32({}, {0}), f32({}, {4000})})
          .ok());
}
