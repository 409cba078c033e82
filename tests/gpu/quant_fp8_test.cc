// GPU tests of FP8 (docs/int8.md, "FP8"): float8 e4m3fn/e5m2 QuantizeLinear and DequantizeLinear (quant/qdq.*)
// compared exactly with the reference backend (rounding to nearest even, saturate on and off, NaN/inf, per tensor and
// per axis, float32/float16), and the FP8 GEMM (FusedMatMul over float8 A and B on cuBLASLt, gemm/matmul.cc) against
// the reference's float64 product: float16/bfloat16/float32 outputs, bias, Relu/GeluTanh/Silu, residual Z, batched A,
// BERT-sized shapes, a float8 Y (input 4, y_inv_scale); and the nodes `supports` refuses (transB 0, K or N not a
// multiple of 16, e5m2 x e5m2).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/float_formats.h"
#include "tests/gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/kernel.h"
#endif

namespace kiln::testing {
namespace {

const Tolerance kExact{0, 0};

uint8_t to_fp8(DType t, float v) {
  return t == DType::kFloat8E4M3FN ? float_to_fp8e4m3fn(v, true) : float_to_fp8e5m2(v, true);
}

// Float8 values of uniform random floats in [lo, hi] (rounded to the format, saturating).
Tensor random_fp8(DType t, const Dims& dims, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor x(t, dims);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = to_fp8(t, u(rng));
  return x;
}

Tensor float_values(DType dt, const Dims& dims, const std::vector<float>& v) {
  Tensor t(dt, dims);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::kFloat16)
      t.data<uint16_t>()[i] = float_to_half(v[static_cast<size_t>(i)]);
    else
      t.data<float>()[i] = v[static_cast<size_t>(i)];
  }
  return t;
}

Tensor zero_point(DType t, const Dims& dims, float value) {
  Tensor z(t, dims);
  for (int64_t i = 0; i < z.numel(); ++i) z.data<uint8_t>()[i] = to_fp8(t, value);
  return z;
}

void check_quantize(DType xt, DType yt, const std::vector<float>& x, const Dims& dims, bool per_axis, bool saturate,
                    bool with_zp) {
  SCOPED_TRACE(std::string(dtype_name(xt)) + " -> " + dtype_name(yt) + " " + dims_to_string(dims) +
               (per_axis ? " axis 1" : " per tensor") + (saturate ? " saturate" : " no saturate") +
               (with_zp ? " zp" : ""));
  Attrs a;
  a.set("axis", int64_t{1});
  a.set("saturate", int64_t{saturate});
  if (!with_zp) a.set("output_dtype", static_cast<int64_t>(yt));
  Node n = make_test_node(OpKind::kQuantizeLinear, with_zp ? 3 : 2, 1, a);
  n.opset = with_zp ? 19 : 21;
  const Dims sd = per_axis ? Dims{dims[1]} : Dims{};
  std::vector<float> scales;
  for (int64_t c = 0; c < (per_axis ? dims[1] : 1); ++c) scales.push_back(std::ldexp(1.f, static_cast<int>(c % 5) - 2));
  std::vector<Tensor> in{float_values(xt, dims, x), float_values(xt, sd, scales)};
  if (with_zp) in.push_back(zero_point(yt, sd, 0.f));
  expect_cuda_matches_reference(n, in, {1, 2}, &kExact);
}

TEST(QuantFp8, QuantizeLinear) {
  KILN_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Specials, values beyond both formats' largest finite values (448, 57344), ties between float8 neighbours
  // (1 + 1/16 lies halfway between 1 and 1.125 in e4m3), subnormals and tiny values.
  std::vector<float> special{nan,     inf,     -inf, 1e30f,  -1e30f,  500.f,        -500.f, 60000.f, 0.f,    -0.f,
                             1.0625f, 1.1875f, 3.f,  0.002f, -0.002f, 1.953125e-3f, 1e-10f, 240.f,   -17.5f, 0.3f};
  for (DType xt : {DType::kFloat32, DType::kFloat16})
    for (DType yt : {DType::kFloat8E4M3FN, DType::kFloat8E5M2})
      for (bool saturate : {true, false}) {
        std::vector<float> x = special;
        if (xt == DType::kFloat16)  // float16 holds at most 65504
          for (float& v : x)
            if (std::isfinite(v) && std::fabs(v) > 60000.f) v = v > 0 ? 60000.f : -60000.f;
        check_quantize(xt, yt, x, {static_cast<int64_t>(x.size())}, false, saturate, false);
        check_quantize(xt, yt, x, {static_cast<int64_t>(x.size())}, false, saturate, true);
      }
  // Random values across the formats' ranges, odd sizes (vector bodies and tails), per axis with channel runs of
  // 7 and 1001 elements.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-600.f, 600.f);
  for (const Dims& d : {Dims{1}, Dims{3, 5, 7}, Dims{2, 3, 1001}, Dims{1000003}}) {
    std::vector<float> x(static_cast<size_t>(dims_numel(d)));
    for (float& v : x) v = u(rng);
    for (DType yt : {DType::kFloat8E4M3FN, DType::kFloat8E5M2}) {
      check_quantize(DType::kFloat32, yt, x, d, d.size() > 1, true, true);
      check_quantize(DType::kFloat16, yt, x, d, false, true, false);
    }
  }
}

TEST(QuantFp8, DequantizeLinear) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 50;
  for (DType xt : {DType::kFloat8E4M3FN, DType::kFloat8E5M2})
    for (DType st : {DType::kFloat32, DType::kFloat16})
      for (const Dims& d : {Dims{7}, Dims{4, 6, 5}, Dims{1000003}})
        for (bool zp : {true, false}) {
          ++seed;
          const bool per_axis = d.size() > 1 && seed % 2 == 0;
          SCOPED_TRACE(std::string(dtype_name(xt)) + " -> " + dtype_name(st) + " " + dims_to_string(d) +
                       (per_axis ? " axis 1" : "") + (zp ? " zp" : ""));
          Attrs a;
          a.set("axis", int64_t{1});
          Node n = make_test_node(OpKind::kDequantizeLinear, zp ? 3 : 2, 1, a);
          n.opset = 21;
          const Dims sd = per_axis ? Dims{d[1]} : Dims{};
          std::vector<Tensor> in{random_fp8(xt, d, seed, -400.f, 400.f), random_tensor(st, sd, seed + 1, 1e-3, 0.5)};
          if (zp) in.push_back(zero_point(xt, sd, 0.f));
          expect_cuda_matches_reference(n, in, {1, 2}, &kExact);
        }
}

struct Fp8GemmCase {
  Dims a;          // [..., M, K]
  int64_t n = 16;  // B is [N, K] (transB 1)
  DType y = DType::kFloat16;
  std::string act;
  bool z = false;
  DType ta = DType::kFloat8E4M3FN, tb = DType::kFloat8E4M3FN;
  float y_inv_scale = 0.f;  // > 0: input 4, Y is float8e4m3fn (fold_qdq_fp8_output's form); `y` is then the bias type
};

// Hopper's FP8 tensor cores accumulate with a narrower mantissa than float32 (cuBLASLt promotes partial sums to
// float32 periodically), so float32 outputs agree to about 1e-3 relative, not 1e-6.
Tolerance tol_for(DType t) {
  if (t == DType::kFloat16) return {1e-2, 1e-2};
  if (t == DType::kBFloat16) return {3e-2, 3e-2};
  return {3e-3, 3e-3};
}

Node fp8_node(const Fp8GemmCase& c, float alpha, size_t num_in) {
  Attrs attrs;
  attrs.set("transB", int64_t{1});
  attrs.set("alpha", alpha);
  if (!c.act.empty()) attrs.set("activation", c.act);
  return make_test_node(OpKind::kFusedMatMul, num_in, 1, attrs);
}

void check_fp8_gemm(const Fp8GemmCase& c, uint64_t seed) {
  const int64_t k = c.a.back();
  SCOPED_TRACE("FP8 FusedMatMul A " + dims_to_string(c.a) + " " + dtype_name(c.ta) + " B [" + std::to_string(c.n) +
               "," + std::to_string(k) + "] " + dtype_name(c.tb) + " -> " + dtype_name(c.y) + " act '" + c.act + "'" +
               (c.z ? " +Z" : ""));
  // alpha ~ 1/sqrt(K) keeps outputs O(1), where float16's absolute tolerance is meaningful.
  const float alpha = 1.f / std::sqrt(static_cast<float>(k));
  std::vector<Tensor> in{random_fp8(c.ta, c.a, seed, -3.f, 3.f), random_fp8(c.tb, {c.n, k}, seed + 1, -2.f, 2.f),
                         random_tensor(c.y, {c.n}, seed + 2)};
  Dims yd = c.a;
  yd.back() = c.n;
  in.push_back(c.z ? random_tensor(c.y, yd, seed + 3) : Tensor());
  if (c.y_inv_scale > 0) in.push_back(Tensor::scalar(DType::kFloat32, c.y_inv_scale));
  while (!in.back().defined()) in.pop_back();
  Node node = fp8_node(c, alpha, in.size());
  if (in.size() > 3 && !c.z) node.inputs[3] = "";
  // A float8 Y: the GEMM's result and the reference's float64 one may round to neighbouring float8 values (one step:
  // 1/8 relative at most for e4m3's 3-bit mantissa), and the fast-accumulating FP8 GEMM's error on O(1) results
  // (about 1e-3, see tol_for; up to 2.2e-3 seen in 3 of 1.6M elements at K = 768 on an H100) is multiplied by
  // y_inv_scale before the rounding.
  const Tolerance tol = c.y_inv_scale > 0 ? Tolerance{0.13, 3e-3 * c.y_inv_scale} : tol_for(c.y);
  expect_cuda_matches_reference(node, in, {1, 2, 4}, &tol);
}

TEST(QuantFp8, GemmShapesOutputsAndEpilogues) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1000;
  for (DType y : {DType::kFloat16, DType::kBFloat16, DType::kFloat32})
    for (const std::string& act : {std::string(), std::string("Relu"), std::string("GeluTanh"), std::string("Silu")})
      for (bool z : {false, true}) check_fp8_gemm({{37, 64}, 48, y, act, z}, ++seed);
  // Batch-1 rows, a batched (3-D) A, BERT-base projections (K 768 / 3072), odd M.
  check_fp8_gemm({{1, 768}, 768}, ++seed);
  check_fp8_gemm({{2, 7, 128}, 32, DType::kFloat16, "GeluTanh"}, ++seed);
  check_fp8_gemm({{513, 768}, 3072, DType::kFloat16, "GeluTanh"}, ++seed);
  check_fp8_gemm({{256, 3072}, 768, DType::kFloat16, "", true}, ++seed);
  check_fp8_gemm({{64, 768}, 2304, DType::kBFloat16}, ++seed);
  // Float8 Y (scale 1/y_inv_scale): float16/bfloat16 bias, Relu/GeluTanh, a full-shape Z, the BERT FFN1 shape.
  for (DType y : {DType::kFloat16, DType::kBFloat16})
    for (const std::string& act : {std::string(), std::string("Relu"), std::string("GeluTanh")})
      for (bool z : {false, true}) {
        Fp8GemmCase c{{37, 64}, 48, y, act, z};
        c.y_inv_scale = 40.f;  // outputs O(1) -> float8 values up to ~100, some saturating at 448
        check_fp8_gemm(c, ++seed);
      }
  Fp8GemmCase ffn1{{513, 768}, 3072, DType::kFloat16, "GeluTanh"};
  ffn1.y_inv_scale = 64.f;
  check_fp8_gemm(ffn1, ++seed);
  // Mixed float8 formats: e4m3 x e5m2 and e5m2 x e4m3.
  check_fp8_gemm({{33, 64}, 32, DType::kFloat16, "", false, DType::kFloat8E4M3FN, DType::kFloat8E5M2}, ++seed);
  check_fp8_gemm({{33, 64}, 32, DType::kFloat16, "", false, DType::kFloat8E5M2, DType::kFloat8E4M3FN}, ++seed);
}

#ifdef KILN_HAVE_CUDA
// Build-time answers of `supports` for a FusedMatMul over float8 A [M, K] and B, bias [N] of `bias`.
bool fp8_supported(DType a, DType b, const Dims& bdims, bool trans_b, DType bias = DType::kFloat16, bool fp8_y = false,
                   const std::string& act = "") {
  Attrs attrs;
  attrs.set("transB", int64_t{trans_b});
  if (!act.empty()) attrs.set("activation", act);
  Node n = make_test_node(OpKind::kFusedMatMul, fp8_y ? 5 : 3, 1, attrs);
  if (fp8_y) n.inputs[3] = "";
  const int64_t k = trans_b ? bdims[1] : bdims[0], nn = trans_b ? bdims[0] : bdims[1];
  std::vector<TypeInfo> infos{TypeInfo::tensor(a, Shape::of({8, k})), TypeInfo::tensor(b, Shape::of(bdims)),
                              TypeInfo::tensor(bias, Shape::of({nn}))};
  if (fp8_y) {
    infos.push_back(TypeInfo{});
    infos.push_back(TypeInfo::tensor(DType::kFloat32, Shape::of({})));
  }
  std::vector<const TypeInfo*> ptrs;
  for (const TypeInfo& t : infos) ptrs.push_back(&t);
  const cuda::CudaKernel* kernel = cuda::cuda_kernels().find(OpKind::kFusedMatMul);
  return kernel && (!kernel->supports || kernel->supports(n, ptrs));
}

TEST(QuantFp8, GemmSupports) {
  // What cuBLASLt's FP8 GEMM cannot take goes to the reference backend (no GPU needed to ask).
  using D = DType;
  EXPECT_TRUE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true));
  EXPECT_TRUE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E5M2, {32, 64}, true, D::kBFloat16));
  EXPECT_TRUE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true, D::kFloat32));
  EXPECT_FALSE(fp8_supported(D::kFloat8E5M2, D::kFloat8E5M2, {32, 64}, true));
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {64, 32}, false));  // transB 0: B not K-major
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 40}, true));   // K = 40
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {24, 64}, true));   // N = 24
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FNUZ, D::kFloat8E4M3FNUZ, {32, 64}, true));
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true, D::kFloat64));
  // A float8 Y: only what the GEMM epilogue writes directly.
  EXPECT_TRUE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true, D::kFloat16, true, "GeluTanh"));
  EXPECT_TRUE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true, D::kBFloat16, true, "Relu"));
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true, D::kFloat32, true));
  EXPECT_FALSE(fp8_supported(D::kFloat8E4M3FN, D::kFloat8E4M3FN, {32, 64}, true, D::kFloat16, true, "Silu"));
}
#endif

}  // namespace
}  // namespace kiln::testing
