// CUDA Conv, FusedConv (NCHW and NHWC) and ConvTranspose (cuDNN) against the reference backend.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tolerance tol_for(DType t) {
  if (t == DType::kFloat16) return {1e-2, 1e-2};
  if (t == DType::kBFloat16) return {3e-2, 3e-2};
  return {1e-4, 1e-4};
}

struct ConvCase {
  Dims x;  // NCHW dims (NHWC cases permute them)
  int64_t m = 8;
  Dims kernel;
  Dims strides, pads, dilations;
  int64_t group = 1;
  std::string auto_pad;
  bool bias = true;
};

Attrs conv_attrs(const ConvCase& c) {
  Attrs a;
  a.set("kernel_shape", c.kernel);
  if (!c.strides.empty()) a.set("strides", c.strides);
  if (!c.pads.empty()) a.set("pads", c.pads);
  if (!c.dilations.empty()) a.set("dilations", c.dilations);
  if (!c.auto_pad.empty()) a.set("auto_pad", c.auto_pad);
  a.set("group", c.group);
  return a;
}

Dims weight_dims(const ConvCase& c, bool nhwc) {
  const int64_t cg = c.x[1] / c.group;
  Dims w{c.m};
  if (!nhwc) w.push_back(cg);
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  if (nhwc) w.push_back(cg);
  return w;
}

Dims to_nhwc(const Dims& nchw) {
  Dims d{nchw[0]};
  d.insert(d.end(), nchw.begin() + 2, nchw.end());
  d.push_back(nchw[1]);
  return d;
}

void check_conv(const ConvCase& c, DType t, uint64_t seed) {
  SCOPED_TRACE("Conv X " + dims_to_string(c.x) + " kernel " + dims_to_string(c.kernel) + " group " +
               std::to_string(c.group) + " " + dtype_name(t));
  Node node = make_test_node(OpKind::kConv, c.bias ? 3 : 2, 1, conv_attrs(c));
  std::vector<Tensor> in{random_tensor(t, c.x, seed), random_tensor(t, weight_dims(c, false), seed + 1)};
  if (c.bias) in.push_back(random_tensor(t, {c.m}, seed + 2));
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, in, {1, 2}, &tol);
}

// Output dims of a conv case, from a CUDA-independent formula (explicit pads only).
Dims conv_out_nchw(const ConvCase& c) {
  Dims y{c.x[0], c.m};
  const size_t nd = c.kernel.size();
  for (size_t i = 0; i < nd; ++i) {
    const int64_t s = c.strides.empty() ? 1 : c.strides[i], d = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t p = c.pads.empty() ? 0 : c.pads[i] + c.pads[nd + i];
    y.push_back((c.x[2 + i] + p - (c.kernel[i] - 1) * d - 1) / s + 1);
  }
  return y;
}

void check_fused_conv(const ConvCase& c, bool nhwc, const std::string& act, bool with_z, DType t, uint64_t seed) {
  SCOPED_TRACE("FusedConv X " + dims_to_string(c.x) + " kernel " + dims_to_string(c.kernel) + " layout " +
               (nhwc ? "NHWC" : "NCHW") + " act '" + act + "' Z=" + std::to_string(with_z) + " " + dtype_name(t));
  Attrs a = conv_attrs(c);
  if (nhwc) a.set("layout", std::string("NHWC"));
  if (!act.empty()) a.set("activation", act);
  if (act == "LeakyRelu") a.set("activation_alpha", 0.2f);
  if (act == "Clip") {
    a.set("activation_alpha", -0.25f);
    a.set("activation_beta", 0.5f);
  }
  if (act == "HardSigmoid") {
    a.set("activation_alpha", 0.2f);
    a.set("activation_beta", 0.5f);
  }
  const Dims xd = nhwc ? to_nhwc(c.x) : c.x;
  const Dims yd = nhwc ? to_nhwc(conv_out_nchw(c)) : conv_out_nchw(c);
  std::vector<Tensor> in{random_tensor(t, xd, seed), random_tensor(t, weight_dims(c, nhwc), seed + 1),
                         c.bias ? random_tensor(t, {c.m}, seed + 2) : Tensor()};
  if (with_z) in.push_back(random_tensor(t, yd, seed + 3));
  Node node = make_test_node(OpKind::kFusedConv, in.size(), 1, a);
  if (!c.bias) node.inputs[2] = "";
  std::vector<size_t> constants{1};
  if (c.bias) constants.push_back(2);
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, in, constants, &tol);
}

const ConvCase k1x1{{2, 16, 9, 9}, 32, {1, 1}};
const ConvCase k3x3s2{{2, 8, 17, 17}, 16, {3, 3}, {2, 2}, {1, 1, 1, 1}};
const ConvCase k7x7s2{{1, 3, 32, 32}, 16, {7, 7}, {2, 2}, {3, 3, 3, 3}};
const ConvCase depthwise{{2, 16, 12, 12}, 16, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, 16};
const ConvCase grouped{{2, 16, 10, 10}, 24, {3, 3}, {1, 1}, {0, 0, 0, 0}, {}, 4};
const ConvCase dilated{{1, 8, 20, 20}, 8, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}};
const ConvCase asymmetric{{1, 4, 11, 11}, 8, {3, 3}, {2, 2}, {0, 1, 1, 0}};

TEST(GpuConv, Shapes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1000;
  for (const ConvCase* c : {&k1x1, &k3x3s2, &k7x7s2, &depthwise, &grouped, &dilated, &asymmetric})
    check_conv(*c, DType::kFloat32, seed += 3);
}

TEST(GpuConv, EachDtype) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1100;
  for (DType t : {DType::kFloat16, DType::kBFloat16})
    for (const ConvCase* c : {&k1x1, &k3x3s2, &depthwise, &grouped}) check_conv(*c, t, seed += 3);
}

TEST(GpuConv, AutoPadNoBiasOneDThreeD) {
  KILN_REQUIRE_GPU();
  ConvCase same_upper{{1, 4, 10, 10}, 8, {4, 4}, {2, 2}};
  same_upper.auto_pad = "SAME_UPPER";
  ConvCase same_lower = same_upper;
  same_lower.auto_pad = "SAME_LOWER";
  ConvCase valid{{1, 4, 10, 10}, 8, {3, 3}};
  valid.auto_pad = "VALID";
  valid.bias = false;
  const ConvCase one_d{{2, 6, 31}, 10, {5}, {2}, {2, 2}};
  const ConvCase one_d_asym{{2, 6, 31}, 10, {4}, {1}, {1, 2}};
  const ConvCase three_d{{1, 4, 6, 7, 8}, 8, {3, 3, 3}, {1, 2, 1}, {1, 1, 1, 1, 1, 1}};
  uint64_t seed = 1200;
  for (const ConvCase* c :
       std::initializer_list<const ConvCase*>{&same_upper, &same_lower, &valid, &one_d, &one_d_asym, &three_d})
    check_conv(*c, DType::kFloat32, seed += 3);
}

TEST(GpuFusedConv, EachActivationBothLayouts) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1300;
  for (const char* act :
       {"", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Silu", "Gelu", "GeluTanh", "HardSigmoid", "HardSwish"})
    for (bool nhwc : {false, true})
      for (bool z : {false, true}) check_fused_conv(k3x3s2, nhwc, act, z, DType::kFloat32, seed += 4);
}

TEST(GpuFusedConv, ShapesBothLayouts) {
  KILN_REQUIRE_GPU();
  ConvCase no_bias = k3x3s2;
  no_bias.bias = false;
  const ConvCase one_d{{2, 6, 31}, 10, {5}, {2}, {2, 2}};
  uint64_t seed = 1500;
  for (const ConvCase* c : std::initializer_list<const ConvCase*>{&k1x1, &k7x7s2, &depthwise, &grouped, &dilated,
                                                                  &asymmetric, &no_bias, &one_d})
    for (bool nhwc : {false, true}) {
      check_fused_conv(*c, nhwc, "Relu", true, DType::kFloat32, seed += 4);
      check_fused_conv(*c, nhwc, "", false, DType::kFloat32, seed += 4);
    }
}

TEST(GpuFusedConv, HalfTypes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1700;
  for (DType t : {DType::kFloat16, DType::kBFloat16})
    for (bool nhwc : {false, true})
      for (const char* act : {"", "Relu", "Silu"}) {
        check_fused_conv(k3x3s2, nhwc, act, true, t, seed += 4);
        check_fused_conv(depthwise, nhwc, act, false, t, seed += 4);
      }
}

// The direct kernel that runs when cuDNN has no plan, forced through its test hook.
TEST(GpuFusedConv, DirectFallbackKernel) {
  KILN_REQUIRE_GPU();
  struct EnvGuard {
    EnvGuard() { setenv("KILN_CUDA_CONV_DIRECT", "1", 1); }
    ~EnvGuard() { unsetenv("KILN_CUDA_CONV_DIRECT"); }
  } guard;
  const ConvCase one_d{{2, 6, 31}, 10, {5}, {2}, {1, 2}};
  const ConvCase three_d{{1, 4, 6, 7, 8}, 8, {3, 3, 3}, {1, 2, 1}, {1, 1, 1, 1, 1, 1}};
  uint64_t seed = 1800;
  for (const ConvCase* c :
       std::initializer_list<const ConvCase*>{&k3x3s2, &depthwise, &grouped, &dilated, &asymmetric, &one_d})
    for (bool nhwc : {false, true}) check_fused_conv(*c, nhwc, "Relu", true, DType::kFloat32, seed += 4);
  check_fused_conv(k3x3s2, true, "Silu", false, DType::kFloat16, seed += 4);
  check_conv(three_d, DType::kFloat32, seed += 4);
}

void check_conv_transpose(const Dims& x, const Dims& w, const Attrs& a, bool bias, DType t, uint64_t seed) {
  SCOPED_TRACE("ConvTranspose X " + dims_to_string(x) + " W " + dims_to_string(w) + " " + dtype_name(t));
  const int64_t m = w[1] * a.get_int("group", 1);
  std::vector<Tensor> in{random_tensor(t, x, seed), random_tensor(t, w, seed + 1)};
  if (bias) in.push_back(random_tensor(t, {m}, seed + 2));
  Node node = make_test_node(OpKind::kConvTranspose, in.size(), 1, a);
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, in, {1, 2}, &tol);
}

TEST(GpuConvTranspose, Shapes) {
  KILN_REQUIRE_GPU();
  Attrs s2;
  s2.set("strides", Dims{2, 2});
  check_conv_transpose({1, 8, 7, 7}, {8, 4, 3, 3}, s2, true, DType::kFloat32, 1900);
  Attrs padded = s2;
  padded.set("pads", Dims{1, 1, 1, 1});
  padded.set("output_padding", Dims{1, 1});
  check_conv_transpose({2, 8, 7, 9}, {8, 4, 3, 3}, padded, true, DType::kFloat32, 1903);
  Attrs asym;
  asym.set("pads", Dims{0, 1, 2, 0});
  check_conv_transpose({1, 4, 6, 6}, {4, 3, 4, 4}, asym, false, DType::kFloat32, 1906);
  Attrs shape = s2;
  shape.set("output_shape", Dims{15, 16});
  check_conv_transpose({1, 4, 7, 7}, {4, 2, 3, 3}, shape, true, DType::kFloat32, 1909);
  Attrs grouped = s2;
  grouped.set("group", int64_t{2});
  check_conv_transpose({1, 8, 5, 5}, {8, 3, 3, 3}, grouped, true, DType::kFloat32, 1912);
  Attrs one_d;
  one_d.set("strides", Dims{3});
  one_d.set("dilations", Dims{2});
  check_conv_transpose({2, 4, 9}, {4, 5, 3}, one_d, true, DType::kFloat32, 1915);
  check_conv_transpose({1, 8, 7, 7}, {8, 4, 3, 3}, s2, true, DType::kFloat16, 1918);
}

}  // namespace
}  // namespace kiln::testing
