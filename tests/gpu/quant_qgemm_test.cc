// GPU tests of the quant family's int8 GEMM path against the reference backend: QLinearMatMul (uint8/int8
// operands, per-channel weights, zero points, Kiln's bias input and saturate attribute, odd sizes that need padding)
// and QLinearConv (im2col + GEMM for group 1, the direct kernel for groups; pads, strides, dilations, 1-D; NCHW and
// the channels-last layout="NHWC"). Every GEMM case runs on each tactic: the fused int8 kernel (q8_mma.cu), the int32
// path (cuBLASLt int8 GEMM, then a requantizing pass) and, for convolutions, the implicit im2col. Both follow the
// reference's arithmetic, so outputs must match bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/gpu/quant_test_util.h"

namespace kiln::testing {
namespace {

// Runs `check` on each GEMM tactic, forced whatever the tuner would pick: the fused kernel (three tile shapes),
// the int32 path and (for convolutions) the implicit im2col, which runs as the fused kernel where it does not apply.
template <class F>
void on_each_path(F check, bool conv) {
  const char* names[] = {"fused int8 GEMM", "int32 path",       "fused 256x128",  "fused 128x64",
                         "implicit im2col", "implicit 256x128", "implicit 128x64"};
  for (int path = 0; path < (conv ? 7 : 4); ++path) {
    const std::string v = std::to_string(path);
    SCOPED_TRACE(std::string(names[path]) + " (KILN_CUDA_Q8_INT32=" + v + ")");
    setenv("KILN_CUDA_Q8_INT32", v.c_str(), 1);
    check();
  }
  unsetenv("KILN_CUDA_Q8_INT32");
}

Tensor zero_points(DType t, int64_t n, uint64_t seed, bool zero) {
  if (zero) {
    Tensor z(t, {n});
    std::fill(static_cast<uint8_t*>(z.raw()), static_cast<uint8_t*>(z.raw()) + n, uint8_t{0});
    return z;
  }
  return t == DType::kUInt8 ? random_tensor(t, {n}, seed, 100, 150) : random_tensor(t, {n}, seed, -20, 20);
}

struct QMatMulCase {
  Dims a;
  int64_t n;
  DType at, bt, yt;
  bool per_channel, b_zero, bias, saturate, b_constant;
};

void check_qmatmul(const QMatMulCase& c, uint64_t seed) {
  const int64_t k = c.a.back();
  SCOPED_TRACE("a " + dims_to_string(c.a) + " n " + std::to_string(c.n) + " a:" + dtype_name(c.at) +
               " b:" + dtype_name(c.bt) + " y:" + dtype_name(c.yt) + (c.per_channel ? " per-channel" : "") +
               (c.b_zero ? "" : " b-zp") + (c.bias ? " bias" : "") + (c.saturate ? " saturate" : ""));
  Attrs attrs;
  if (c.saturate) attrs.set("saturate", int64_t{1});
  Node node = make_test_node(OpKind::kQLinearMatMul, c.bias ? 9 : 8, 1, attrs);
  const int64_t nb = c.per_channel ? c.n : 1;
  Tensor bs = random_tensor(DType::kFloat32, nb == 1 ? Dims{} : Dims{nb}, seed + 3, 0.001, 0.01);
  Tensor bz = nb == 1 ? scalar_q(c.bt, c.b_zero ? 0 : (c.bt == DType::kUInt8 ? 131 : 9))
                      : zero_points(c.bt, nb, seed + 4, c.b_zero);
  std::vector<Tensor> in{q_range(c.at, c.a, seed),
                         scalar_f32(0.02f),
                         scalar_q(c.at, c.at == DType::kUInt8 ? 121 : -5),
                         q_range(c.bt, {k, c.n}, seed + 1),
                         bs,
                         bz,
                         scalar_f32(c.saturate ? 0.01f : 0.6f),  // small y_scale: many values saturate (or wrap)
                         scalar_q(c.yt, c.yt == DType::kUInt8 ? 117 : 3)};
  if (c.bias) in.push_back(random_tensor(DType::kInt32, {c.n}, seed + 5, -20000, 20000));
  std::vector<size_t> constants{1, 2, 4, 5, 6, 7};
  if (c.b_constant) constants.push_back(3);
  if (c.bias) constants.push_back(8);
  on_each_path([&] { expect_cuda_matches_reference(node, in, constants, &kQuantExact); }, false);
}

TEST(QuantQLinearMatMul, TypesAndParameters) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 100;
  for (DType at : {DType::kUInt8, DType::kInt8})
    for (DType bt : {DType::kInt8, DType::kUInt8})
      for (DType yt : {DType::kUInt8, DType::kInt8}) {
        check_qmatmul({{7, 64}, 48, at, bt, yt, true, true, true, true, true}, seed += 10);
        check_qmatmul({{2, 5, 32}, 20, at, bt, yt, false, false, false, false, true}, seed += 10);
      }
}

TEST(QuantQLinearMatMul, OddSizesNeedPadding) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 300;
  for (int64_t k : {1, 3, 7, 33, 768})
    for (int64_t n : {1, 5, 17, 1000})
      check_qmatmul({{3, k}, n, DType::kInt8, DType::kInt8, DType::kInt8, true, true, false, true, true}, seed += 10);
  check_qmatmul({{1, 1, 13}, 9, DType::kUInt8, DType::kInt8, DType::kUInt8, true, true, true, true, true}, 391);
  check_qmatmul({{13}, 9, DType::kUInt8, DType::kInt8, DType::kUInt8, true, true, true, true, true}, 392);  // 1-D a
}

TEST(QuantQLinearMatMul, TransformerShapesAndRuntimeWeights) {
  KILN_REQUIRE_GPU();
  check_qmatmul({{4, 128, 768}, 3072, DType::kUInt8, DType::kInt8, DType::kUInt8, true, true, true, true, true}, 500);
  check_qmatmul({{256, 64}, 64, DType::kInt8, DType::kInt8, DType::kInt8, false, true, false, true, false}, 510);
  check_qmatmul({{9, 40}, 24, DType::kUInt8, DType::kUInt8, DType::kUInt8, true, false, true, true, false}, 520);
}

struct QConvCase {
  Dims x, w;
  Dims pads, strides, dilations;
  int64_t group;
  bool bias, per_channel, w_zero;
};

// [N, C, spatial...] dims as channels-last [N, spatial..., C].
Dims to_channels_last(const Dims& d) {
  Dims r{d[0]};
  r.insert(r.end(), d.begin() + 2, d.end());
  r.push_back(d[1]);
  return r;
}

// `nhwc`: the node carries layout="NHWC" (x, w and y channels-last; the case's dims are given channels-first).
void check_qconv(const QConvCase& c, DType xt, DType wt, DType yt, uint64_t seed, bool nhwc = false) {
  SCOPED_TRACE("x " + dims_to_string(c.x) + " w " + dims_to_string(c.w) + " group " + std::to_string(c.group) +
               " x:" + dtype_name(xt) + " w:" + dtype_name(wt) + " y:" + dtype_name(yt) + (nhwc ? " NHWC" : ""));
  Attrs a;
  if (nhwc) a.set("layout", std::string("NHWC"));
  if (!c.pads.empty()) a.set("pads", c.pads);
  if (!c.strides.empty()) a.set("strides", c.strides);
  if (!c.dilations.empty()) a.set("dilations", c.dilations);
  a.set("group", c.group);
  Node node = make_test_node(OpKind::kQLinearConv, c.bias ? 9 : 8, 1, a);
  const int64_t m = c.w[0];
  Tensor ws = c.per_channel ? random_tensor(DType::kFloat32, {m}, seed + 3, 0.002, 0.01) : scalar_f32(0.005f);
  Tensor wz = c.per_channel ? zero_points(wt, m, seed + 4, c.w_zero)
                            : scalar_q(wt, c.w_zero ? 0 : (wt == DType::kUInt8 ? 128 : 4));
  std::vector<Tensor> in{q_range(xt, nhwc ? to_channels_last(c.x) : c.x, seed),
                         scalar_f32(0.02f),
                         scalar_q(xt, xt == DType::kInt8 ? -5 : 121),
                         q_range(wt, nhwc ? to_channels_last(c.w) : c.w, seed + 1),
                         ws,
                         wz,
                         scalar_f32(0.05f),
                         scalar_q(yt, yt == DType::kInt8 ? 2 : 117)};
  if (c.bias) in.push_back(random_tensor(DType::kInt32, {m}, seed + 5, -20000, 20000));
  on_each_path([&] { expect_cuda_matches_reference(node, in, {1, 2, 3, 4, 5, 6, 7, 8}, &kQuantExact); }, true);
}

TEST(QuantQLinearConv, GemmAndDirectPaths) {
  KILN_REQUIRE_GPU();
  const std::vector<QConvCase> cases = {
      {{1, 3, 8, 8}, {4, 3, 3, 3}, {1, 1, 1, 1}, {1, 1}, {}, 1, true, true, true},
      {{2, 5, 7, 11}, {7, 5, 3, 2}, {0, 1, 2, 0}, {2, 1}, {}, 1, false, false, true},      // asymmetric pads
      {{1, 4, 12, 12}, {6, 4, 3, 3}, {2, 2, 2, 2}, {1, 1}, {2, 2}, 1, true, true, false},  // dilation, w zero points
      {{1, 16, 9, 9}, {16, 1, 3, 3}, {1, 1, 1, 1}, {2, 2}, {}, 16, true, true, true},      // depthwise
      {{1, 6, 5, 5}, {9, 2, 1, 1}, {}, {}, {}, 3, true, true, false},                      // grouped 1x1
      {{2, 32, 14, 14}, {64, 32, 1, 1}, {}, {}, {}, 1, true, true, true},                  // pointwise
      {{1, 4, 20}, {6, 4, 5}, {2, 2}, {1}, {}, 1, true, true, true},                       // 1-D
      {{2, 3, 32, 32}, {16, 3, 7, 7}, {3, 3, 3, 3}, {2, 2}, {}, 1, true, true, true},      // stem: k = 147
      {{2, 24, 17, 19}, {136, 24, 3, 3}, {1, 1, 1, 1}, {1, 1}, {}, 1, true, true, true},   // NCHW over tiles
  };
  uint64_t seed = 700;
  for (DType xt : {DType::kUInt8, DType::kInt8})
    for (DType yt : {DType::kUInt8, DType::kInt8})
      for (const QConvCase& c : cases) check_qconv(c, xt, DType::kInt8, yt, seed += 10);
  check_qconv(cases[0], DType::kUInt8, DType::kUInt8, DType::kUInt8, 990);  // uint8 weights (shifted)
  check_qconv(cases[3], DType::kUInt8, DType::kUInt8, DType::kUInt8, 991);
}

// layout="NHWC" (the layout_nhwc pass's int8 regions): the channels-last im2col's 16-byte, 4-byte and byte paths,
// the 1x1 convolution that multiplies int8 input rows without an im2col, the implicit im2col (int8 input, c % 16,
// with x's non-zero zero point padding the borders), strides, pads, dilation, uint8 inputs (shifted on the way) and
// the direct grouped kernel, all exact against the reference.
TEST(QuantQLinearConv, ChannelsLastPaths) {
  KILN_REQUIRE_GPU();
  const std::vector<QConvCase> cases = {
      {{2, 32, 9, 9}, {24, 32, 3, 3}, {1, 1, 1, 1}, {1, 1}, {}, 1, true, true, true},        // c % 16: 16-byte rows
      {{1, 12, 7, 8}, {8, 12, 3, 3}, {1, 0, 1, 2}, {2, 2}, {}, 1, true, true, false},        // c % 4, w zero points
      {{2, 3, 16, 16}, {16, 3, 7, 7}, {3, 3, 3, 3}, {2, 2}, {}, 1, true, true, true},        // stem: byte path
      {{2, 64, 6, 6}, {40, 64, 1, 1}, {}, {}, {}, 1, true, true, true},                      // 1x1: rows as they are
      {{1, 32, 10, 10}, {16, 32, 1, 1}, {}, {2, 2}, {}, 1, false, false, true},              // strided 1x1
      {{1, 16, 12, 12}, {16, 16, 3, 3}, {2, 2, 2, 2}, {1, 1}, {2, 2}, 1, true, true, true},  // dilation
      {{2, 16, 9, 9}, {16, 1, 3, 3}, {1, 1, 1, 1}, {2, 2}, {}, 16, true, true, true},        // depthwise
      {{1, 8, 5, 5}, {12, 4, 3, 3}, {1, 1, 1, 1}, {}, {}, 2, true, true, false},             // grouped
      // Several 128-row and 128-column tiles, partial last tiles, k tails of 16 and 48 bytes past 64-byte steps.
      {{3, 48, 20, 20}, {144, 48, 1, 1}, {}, {}, {}, 1, true, true, true},
      {{2, 40, 15, 15}, {200, 40, 3, 3}, {1, 1, 1, 1}, {1, 1}, {}, 1, true, true, false},
      // Implicit im2col over several tiles: asymmetric pads, stride 2, taps outside on every border.
      {{2, 32, 15, 13}, {136, 32, 3, 3}, {1, 0, 2, 1}, {2, 2}, {}, 1, true, true, true},
      {{1, 48, 12, 12}, {72, 48, 5, 5}, {2, 2, 2, 2}, {1, 1}, {}, 1, true, true, true},
  };
  uint64_t seed = 1200;
  for (DType xt : {DType::kInt8, DType::kUInt8})
    for (const QConvCase& c : cases) check_qconv(c, xt, DType::kInt8, xt, seed += 10, true);
  check_qconv(cases[3], DType::kInt8, DType::kInt8, DType::kUInt8, 1390, true);
  check_qconv(cases[0], DType::kUInt8, DType::kUInt8, DType::kInt8, 1391, true);
}

}  // namespace
}  // namespace kiln::testing
