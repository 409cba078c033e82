// Tests of the reference FusedConv kernel: hand-computed values, equality with Conv + Add + activation for every
// activation, NHWC against NCHW, float16, and clear errors for bad attributes and shapes.
#include "core/float_formats.h"
#include "tests/ops/fused_test_util.h"

namespace {

using namespace fused_test;  // NOLINT

Attrs conv_attrs(Dims strides = {1, 1}, Dims pads = {0, 0, 0, 0}, Dims dil = {1, 1}, int64_t group = 1) {
  Attrs a;
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("dilations", dil);
  a.set("group", group);
  return a;
}

TEST(FusedConvKernel, HandComputedBiasResidualRelu) {
  // X 1x1x3x3 = 1..9, W 1x1x2x2 = [1 0; 0 -1]: y = x[i][j] - x[i+1][j+1] = -4 everywhere.
  Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = f32({1, 1, 2, 2}, {1, 0, 0, -1});
  Tensor b = f32({1}, {3});
  Tensor z = f32({1, 1, 2, 2}, {0, 1, 2, 3});
  Attrs a = conv_attrs();
  a.set("activation", std::string("Relu"));
  auto y = run1(OpKind::kFusedConv, {x, w, b, z}, a);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->dims(), (Dims{1, 1, 2, 2}));
  EXPECT_EQ(values(*y), (std::vector<double>{0, 0, 1, 2}));  // relu(-4 + 3 + z)
}

TEST(FusedConvKernel, EveryActivationMatchesConvAddActivation) {
  Tensor x = random_f32({2, 4, 7, 6}, 1), w = random_f32({6, 2, 3, 2}, 2, -0.5f, 0.5f);
  Tensor b = random_f32({6}, 3), z = random_f32({2, 6, 4, 3}, 4);
  Attrs base = conv_attrs({2, 2}, {1, 0, 1, 1}, {1, 2}, 2);
  auto plain = kiln::run_reference_kernel(OpKind::kConv, {x, w, b}, base, 1, 22);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  const Tensor& conv = plain.value()[0];
  ASSERT_EQ(conv.dims(), (Dims{2, 6, 4, 3}));
  for (const ActCase& c : all_activations()) {
    Attrs a = base;
    set_act(a, c);
    auto y = run1(OpKind::kFusedConv, {x, w, b, z}, a);
    ASSERT_TRUE(y.ok()) << c.name << ": " << y.status().message();
    Tensor want(DType::kFloat32, conv.dims());
    for (int64_t i = 0; i < want.numel(); ++i)
      want.data<float>()[i] = act_formula(c.name, conv.as_double(i) + z.as_double(i), c.alpha, c.beta);
    SCOPED_TRACE(c.name);
    expect_close(*y, want, 1e-5);
  }
}

TEST(FusedConvKernel, NhwcMatchesNchw) {
  Tensor x = random_f32({1, 6, 5, 5}, 5), w = random_f32({4, 3, 3, 3}, 6), b = random_f32({4}, 7);
  Tensor z = random_f32({1, 4, 3, 3}, 8);
  Attrs a = conv_attrs({2, 2}, {1, 1, 1, 1}, {1, 1}, 2);
  a.set("activation", std::string("Silu"));
  auto nchw = run1(OpKind::kFusedConv, {x, w, b, z}, a);
  ASSERT_TRUE(nchw.ok()) << nchw.status().message();
  a.set("layout", std::string("NHWC"));
  auto nhwc = run1(OpKind::kFusedConv, {nchw_to_nhwc(x), nchw_to_nhwc(w), b, nchw_to_nhwc(z)}, a);
  ASSERT_TRUE(nhwc.ok()) << nhwc.status().message();
  EXPECT_EQ(nhwc->dims(), (Dims{1, 3, 3, 4}));
  expect_close(nhwc_to_nchw(*nhwc), *nchw, 1e-6);
}

TEST(FusedConvKernel, Nhwc1dAndNoBias) {
  // 1-D: X [N, L, C] = [1, 4, 2], W [M, k, C] = [1, 2, 2]; y[l] = sum_{t,c} x[l+t][c] * w[t][c].
  Tensor x = f32({1, 4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor w = f32({1, 2, 2}, {1, 1, 0, 2});
  Attrs a;
  a.set("layout", std::string("NHWC"));
  auto y = run1(OpKind::kFusedConv, {x, w}, a);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->dims(), (Dims{1, 3, 1}));
  EXPECT_EQ(values(*y), (std::vector<double>{11, 19, 27}));  // (1+2)+2*4, (3+4)+2*6, (5+6)+2*8
}

TEST(FusedConvKernel, Float16RoundsOnceFromWideMath) {
  Tensor x = random_f32({1, 3, 4, 4}, 9), w = random_f32({2, 3, 3, 3}, 10);
  Attrs a = conv_attrs({1, 1}, {1, 1, 1, 1});
  a.set("activation", std::string("GeluTanh"));
  auto ref = run1(OpKind::kFusedConv, {x, w}, a);
  ASSERT_TRUE(ref.ok());
  auto to16 = [](const Tensor& t) {
    Tensor h(DType::kFloat16, t.dims());
    for (int64_t i = 0; i < t.numel(); ++i) h.data<uint16_t>()[i] = kiln::float_to_half(t.data<float>()[i]);
    return h;
  };
  Tensor x16 = to16(x), w16 = to16(w);
  auto y = run1(OpKind::kFusedConv, {x16, w16}, a);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->dtype(), DType::kFloat16);
  expect_close(*y, *ref, 1e-2);
}

TEST(FusedConvKernel, BadAttributesAndShapesAreClearErrors) {
  Tensor x = random_f32({1, 2, 4, 4}, 11), w = random_f32({3, 2, 3, 3}, 12);
  auto expect_error = [&](const std::vector<Tensor>& in, Attrs a, const std::string& needle) {
    auto y = run1(OpKind::kFusedConv, in, a);
    ASSERT_FALSE(y.ok()) << needle;
    EXPECT_NE(y.status().message().find(needle), std::string::npos) << y.status().message();
    EXPECT_NE(y.status().message().find("FusedConv"), std::string::npos) << y.status().message();
  };
  Attrs act;
  act.set("activation", std::string("Swish"));
  expect_error({x, w}, act, "unknown activation 'Swish'");
  Attrs lay;
  lay.set("layout", std::string("NCWH"));
  expect_error({x, w}, lay, "layout must be NCHW or NHWC");
  Attrs clip;
  clip.set("activation", std::string("Clip"));
  clip.set("activation_alpha", 2.f);
  clip.set("activation_beta", 1.f);
  expect_error({x, w}, clip, "activation_alpha (min) <= activation_beta (max)");
  expect_error({x, w, random_f32({2}, 1)}, {}, "B must have shape [3]");
  expect_error({x, w, Tensor(), random_f32({1, 3, 3, 3}, 1)}, {}, "Z must have the output's shape");
  Tensor w64(DType::kFloat64, {3, 2, 3, 3});
  expect_error({x, w64}, {}, "input 1 has dtype float64");
  expect_error({x, random_f32({3, 3, 3, 3}, 1)}, {}, "input channels");  // from the Conv kernel, named FusedConv
}

}  // namespace
