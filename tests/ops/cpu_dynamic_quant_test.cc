// The CPU backend's kernels for ONNX Runtime's dynamic quantization (quantize_dynamic) against the reference, exact:
// DynamicQuantizeLinear (all three outputs, including all-zero, all-negative and NaN inputs) and MatMulInteger
// (uint8/int8 A and B, per-tensor and per-column B zero points, K long enough for several exact float chunks; the
// oneDNN path where it applies and the float-chunk path otherwise) and ConvInteger (oneDNN, int8 weights).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/onednn/common.h"
#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

Tensor scalar_q(DType dt, int v) {
  Tensor t(dt, {});
  if (dt == DType::kInt8) t.data<int8_t>()[0] = static_cast<int8_t>(v);
  else t.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  return t;
}
Tensor random_q(DType dt, const Dims& d) {
  return dt == DType::kInt8 ? random_int(dt, d, -128, 127) : random_int(dt, d, 0, 255);
}

// Runs `op` on the CPU backend's kernel `want` (twice: prepared state must not change the answer) and on the
// reference; every output must be equal.
void check_exact(OpKind op, const std::vector<Tensor>& in, size_t outputs, const std::string& what, const char* want,
                 const std::vector<size_t>& consts, int threads = 1, const Attrs& attrs = Attrs()) {
  CpuRun c = run_cpu_kernel(op, in, attrs, outputs, 21, threads, consts, &cpu_kernels());
  ASSERT_TRUE(c.supported) << what << ": refused: " << c.why;
  ASSERT_EQ(c.kernel, want) << what;
  ASSERT_TRUE(c.status.ok()) << what << ": " << c.status.message();
  auto ref = run_reference_kernel(op, in, attrs, outputs, 21);
  ASSERT_TRUE(ref.ok()) << what << ": reference: " << ref.status().message();
  for (size_t o = 0; o < outputs; ++o) expect_close(c.outputs[o], (*ref)[o], 0, 0, what + " output " + std::to_string(o));
}

TEST(CpuDynamicQuant, DynamicQuantizeLinearExact) {
  rng().seed(7);
  std::vector<std::pair<std::string, Tensor>> cases;
  cases.emplace_back("random [4,128,768]", random_f32({4, 128, 768}, -6.f, 9.f));
  cases.emplace_back("positive [1000]", random_f32({1000}, 0.5f, 3.f));
  cases.emplace_back("negative [3,7]", random_f32({3, 7}, -5.f, -0.25f));
  Tensor zeros(DType::kFloat32, {2, 5});
  std::fill(zeros.data<float>(), zeros.data<float>() + zeros.numel(), 0.f);
  cases.emplace_back("all zero", zeros);
  Tensor nan = random_f32({64}, -2.f, 2.f);
  nan.data<float>()[3] = nan.data<float>()[40] = std::numeric_limits<float>::quiet_NaN();
  cases.emplace_back("with NaN", nan);
  for (const auto& [what, x] : cases)
    for (int threads : {1, 2}) check_exact(OpKind::kDynamicQuantizeLinear, {x}, 3, what, "dynamic_quantize_linear", {}, threads);
}

TEST(CpuDynamicQuant, MatMulIntegerExact) {
  rng().seed(2026);
  struct Case { Dims a, b; };
  const std::vector<Case> shapes = {{{4, 16}, {16, 8}}, {{2, 7, 33}, {33, 19}}, {{3, 128, 768}, {768, 96}},
                                    {{1, 2, 3072}, {3072, 40}}};
  for (DType at : {DType::kUInt8, DType::kInt8}) {
    for (DType bt : {DType::kInt8, DType::kUInt8}) {
      for (const Case& c : shapes) {
        const int64_t n = c.b[1];
        const std::string base = std::string("a") + dtype_name(at) + " b" + dtype_name(bt) + " " + dims_to_string(c.a) +
                                 "x" + dims_to_string(c.b);
        const Tensor a = random_q(at, c.a), b = random_q(bt, c.b);
        const Tensor azp = scalar_q(at, at == DType::kInt8 ? -3 : 131);
        // No zero points; A's only; both, B per tensor; both, B per column.
        check_exact(OpKind::kMatMulInteger, {a, b}, 1, base + " no zp", "matmul_integer", {1});
        check_exact(OpKind::kMatMulInteger, {a, b, azp}, 1, base + " a zp", "matmul_integer", {1, 2});
        check_exact(OpKind::kMatMulInteger, {a, b, azp, scalar_q(bt, bt == DType::kInt8 ? 5 : 120)}, 1,
                    base + " a, b zp", "matmul_integer", {1, 2, 3});
        check_exact(OpKind::kMatMulInteger, {a, b, azp, random_q(bt, {n})}, 1, base + " per-column b zp",
                    "matmul_integer", {1, 2, 3}, 2);
        if (bt == DType::kInt8) {  // weights within +-64: oneDNN's int8 matmul even without VNNI
          const Tensor b7 = random_int(DType::kInt8, c.b, -64, 64);
          check_exact(OpKind::kMatMulInteger, {a, b7, azp}, 1, base + " 7-bit b", "matmul_integer", {1, 2}, 2);
        }
      }
    }
  }
}

// ConvInteger on oneDNN (int8 W with zero point 0): uint8 and int8 X with their zero points (padding reads the zero
// point), 1-D to 3-D, strides, dilations, asymmetric pads, groups, depthwise. Weights within +-64 run on oneDNN on
// every CPU; full-range weights only where int8 pair sums cannot saturate (VNNI).
TEST(CpuDynamicQuant, ConvIntegerExact) {
  rng().seed(11);
  struct Case { Dims x, w; Dims pads, strides, dil; int64_t group; };
  const std::vector<Case> cases = {
      {{1, 8, 10, 10}, {16, 8, 3, 3}, {1, 1, 1, 1}, {1, 1}, {1, 1}, 1},
      {{2, 6, 9, 11}, {4, 3, 3, 2}, {0, 1, 2, 0}, {2, 1}, {1, 2}, 2},
      {{1, 12, 7, 7}, {12, 1, 3, 3}, {1, 1, 1, 1}, {2, 2}, {1, 1}, 12},  // depthwise
      {{2, 4, 23}, {6, 4, 5}, {2, 1}, {2}, {2}, 1},                      // 1-D
      {{1, 3, 5, 6, 4}, {4, 3, 3, 2, 3}, {1, 0, 1, 1, 1, 0}, {1, 2, 1}, {1, 1, 1}, 1},
  };
  const bool full_range = !onednn::int8_pairs_saturate();
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Attrs a;
    a.set("pads", c.pads);
    a.set("strides", c.strides);
    a.set("dilations", c.dil);
    a.set("group", c.group);
    for (DType xt : {DType::kUInt8, DType::kInt8}) {
      const std::string what = "conv_integer case " + std::to_string(i) + " x " + dtype_name(xt);
      const Tensor x = random_q(xt, c.x), w7 = random_int(DType::kInt8, c.w, -64, 64);
      const Tensor xzp = scalar_q(xt, xt == DType::kInt8 ? -3 : 131);
      check_exact(OpKind::kConvInteger, {x, w7}, 1, what + " no zp", "onednn_conv_integer", {1}, 1, a);
      check_exact(OpKind::kConvInteger, {x, w7, xzp, scalar_q(DType::kInt8, 0)}, 1, what + " x zp", "onednn_conv_integer",
                  {1, 2, 3}, 2, a);
      if (full_range)
        check_exact(OpKind::kConvInteger, {x, random_q(DType::kInt8, c.w), xzp}, 1, what + " full-range w",
                    "onednn_conv_integer", {1, 2}, 1, a);
    }
  }
}

}  // namespace
}  // namespace kiln::cpu::test
