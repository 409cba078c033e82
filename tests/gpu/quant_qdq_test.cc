// GPU tests of the quant family's QuantizeLinear, DequantizeLinear and LookupTable (src/backends/cuda/quant/qdq.*,
// lookup.*) against the reference backend, compared exactly: per tensor and per axis (0, 1, -1), uint8/int8 (Q and
// DQ) and int32 (DQ) values, float32/float16 floats, saturation on both ends, ties, NaN/inf, no zero point, odd sizes
// (1, 7, 1000003), scale/zero point/table as engine weights and as runtime inputs; and which nodes `supports` refuses.
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

// A float32 or float16 tensor of `values` (float16: rounded to nearest even; the tests pick values it holds exactly).
Tensor float_tensor(DType dt, const Dims& dims, const std::vector<float>& values) {
  Tensor t(dt, dims);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::kFloat16) t.data<uint16_t>()[i] = float_to_half(values[i]);
    else t.data<float>()[i] = values[i];
  }
  return t;
}

int64_t norm_axis(const Dims& dims, int64_t axis) { return axis < 0 ? axis + static_cast<int64_t>(dims.size()) : axis; }

// Index of element i's scale: 0 per tensor (count == 1), else its coordinate along axis.
int64_t channel_of(const Dims& dims, int64_t axis, size_t count, int64_t i) {
  if (count == 1) return 0;
  axis = norm_axis(dims, axis);
  int64_t inner = 1;
  for (size_t d = axis + 1; d < dims.size(); ++d) inner *= dims[d];
  return (i / inner) % dims[axis];
}

// Scales of `count` channels: powers of two from 1/8 to 2 (exact in float16), or arbitrary float32 values.
std::vector<float> make_scales(int64_t count, bool powers_of_two) {
  std::vector<float> s;
  for (int64_t c = 0; c < count; ++c)
    s.push_back(powers_of_two ? std::ldexp(1.f, static_cast<int>(c % 5) - 3) : 0.0137f * static_cast<float>(c + 1));
  return s;
}

// x = k * scale / 4 for random integers k in [-1200, 1200], so x / scale falls on quarters: ties (.5, rounded half
// to even) and values up to 300 beyond either end of the 8-bit range (saturation). With power-of-two scales x and
// x / scale are exact in float32 and float16, so no quotient lies within a rounding error of a .5 boundary and the
// comparison can be exact (no tolerance for float-vs-double ties needed). Arbitrary float32 scales make the quotient
// round, but both backends divide in IEEE float32 (the CUDA kernel with __fdiv_rn), so they still agree exactly.
std::vector<float> quarter_steps(const Dims& dims, int64_t axis, const std::vector<float>& scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> k(-1200, 1200);
  std::vector<float> x(static_cast<size_t>(dims_numel(dims)));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(k(rng)) * scale[channel_of(dims, axis, scale.size(), static_cast<int64_t>(i))] / 4;
  return x;
}

Tensor random_q(DType dt, const Dims& dims, uint64_t seed) {
  if (dt == DType::kUInt8) return random_tensor(dt, dims, seed, 0, 255);
  if (dt == DType::kInt8) return random_tensor(dt, dims, seed, -128, 127);
  return random_tensor(dt, dims, seed, -(1 << 30), 1 << 30);  // int32: beyond float32's exact integers
}

struct QuantCase {
  DType xt = DType::kFloat32, yt = DType::kUInt8;
  Dims dims;
  int64_t axis = 1;
  bool per_axis = false;
  bool zero_point = true;
  bool powers_of_two = true;
  bool constant_params = true;  // scale and zero point as engine weights, else runtime inputs
  Dims scale_dims = {};         // per tensor: [] or [1]
};

std::string describe(const QuantCase& c) {
  return std::string(dtype_name(c.xt)) + " -> " + dtype_name(c.yt) + " " + dims_to_string(c.dims) +
         (c.per_axis ? " axis " + std::to_string(c.axis) : " per tensor") + (c.zero_point ? "" : " no zp") +
         (c.powers_of_two ? "" : " arbitrary scales") + (c.constant_params ? " const" : " runtime");
}

void check_quantize(const QuantCase& c, uint64_t seed, const std::vector<float>* x_values = nullptr) {
  SCOPED_TRACE(describe(c));
  const int64_t count = c.per_axis ? c.dims[norm_axis(c.dims, c.axis)] : 1;
  const Dims sd = c.per_axis ? Dims{count} : c.scale_dims;
  const std::vector<float> scale = make_scales(count, c.powers_of_two);
  Attrs a;
  a.set("axis", c.axis);
  int opset = 19;
  if (!c.zero_point && c.yt != DType::kUInt8) {  // the output type then comes from output_dtype (opset 21)
    a.set("output_dtype", static_cast<int64_t>(c.yt));
    opset = 21;
  }
  Node n = make_test_node(OpKind::kQuantizeLinear, c.zero_point ? 3 : 2, 1, a);
  n.opset = opset;
  std::vector<Tensor> in{float_tensor(c.xt, c.dims, x_values ? *x_values : quarter_steps(c.dims, c.axis, scale, seed)),
                         float_tensor(c.xt, sd, scale)};
  if (c.zero_point) in.push_back(random_q(c.yt, sd, seed + 1));
  expect_cuda_matches_reference(n, in, c.constant_params ? std::vector<size_t>{1, 2} : std::vector<size_t>{},
                                &kExact);
}

TEST(QuantQdq, QuantizePerTensor) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 100;
  for (DType xt : {DType::kFloat32, DType::kFloat16})
    for (DType yt : {DType::kUInt8, DType::kInt8})
      for (const Dims& d : {Dims{1}, Dims{7}, Dims{1000003}, Dims{2, 3, 5, 7}})
        for (bool zp : {true, false}) {
          ++seed;
          QuantCase c{xt, yt, d};
          c.zero_point = zp;
          c.constant_params = seed % 2 == 0;
          c.scale_dims = seed % 3 == 0 ? Dims{1} : Dims{};
          check_quantize(c, seed);
          if (xt == DType::kFloat32) {
            c.powers_of_two = false;
            check_quantize(c, seed);
          }
        }
}

TEST(QuantQdq, QuantizePerAxis) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 200;
  // Channel runs (inner) of 42, 7 and 1 elements: four-element vectors straddle channel boundaries.
  for (DType xt : {DType::kFloat32, DType::kFloat16})
    for (DType yt : {DType::kUInt8, DType::kInt8})
      for (int64_t axis : {0, 1, -1})
        for (const Dims& d : {Dims{5, 6, 7}, Dims{3, 4, 1001}, Dims{9, 3}})
          for (bool zp : {true, false}) {
            ++seed;
            QuantCase c{xt, yt, d, axis, true, zp};
            c.constant_params = seed % 2 == 0;
            check_quantize(c, seed);
            if (xt == DType::kFloat32 && zp) {
              c.powers_of_two = false;
              check_quantize(c, seed);
            }
          }
  QuantCase big{DType::kFloat32, DType::kInt8, {3, 333337}, 0, true};  // 1000011 elements
  check_quantize(big, 299);
}

TEST(QuantQdq, QuantizeSpecialValues) {
  KILN_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // NaN quantizes to the zero point; infinities and huge values saturate; ties round to even (0.5, 1.5, 2.5, -0.5).
  const std::vector<float> f32{nan, inf, -inf, 1e30f, -1e30f, 0.f, -0.f, 1e-40f, 0.0625f, 0.1875f, 0.3125f, -0.0625f,
                               31.9f, -32.1f, 16.f, -16.f, 65504.f};
  for (DType xt : {DType::kFloat32, DType::kFloat16})
    for (DType yt : {DType::kUInt8, DType::kInt8})
      for (bool zp : {true, false})
        for (bool per_axis : {false, true}) {
          QuantCase c{xt, yt, {static_cast<int64_t>(f32.size())}, 0, per_axis, zp};
          check_quantize(c, 300, &f32);  // scales 1/8, 1/4, ... (per axis) or 1/8 (per tensor)
        }
}

struct DequantCase {
  DType xt = DType::kUInt8, st = DType::kFloat32;
  Dims dims;
  int64_t axis = 1;
  bool per_axis = false;
  bool zero_point = true;
  bool constant_params = true;
};

void check_dequantize(const DequantCase& c, uint64_t seed, int64_t output_dtype = 0) {
  SCOPED_TRACE(std::string(dtype_name(c.xt)) + " -> " + dtype_name(c.st) + " " + dims_to_string(c.dims) +
               (c.per_axis ? " axis " + std::to_string(c.axis) : " per tensor") + (c.zero_point ? "" : " no zp") +
               (c.constant_params ? " const" : " runtime"));
  const Dims sd = c.per_axis ? Dims{c.dims[norm_axis(c.dims, c.axis)]} : Dims{};
  Attrs a;
  a.set("axis", c.axis);
  if (output_dtype != 0) a.set("output_dtype", output_dtype);
  Node n = make_test_node(OpKind::kDequantizeLinear, c.zero_point ? 3 : 2, 1, a);
  n.opset = output_dtype != 0 ? 23 : 19;
  std::vector<Tensor> in{random_q(c.xt, c.dims, seed), random_tensor(c.st, sd, seed + 1, 1e-3, 0.5)};
  if (c.zero_point)  // int32 zero points are 0 in ONNX models; nonzero ones follow the reference (float64 math)
    in.push_back(c.xt == DType::kInt32 ? random_tensor(c.xt, sd, seed + 2, -1000, 1000) : random_q(c.xt, sd, seed + 2));
  expect_cuda_matches_reference(n, in, c.constant_params ? std::vector<size_t>{1, 2} : std::vector<size_t>{},
                                &kExact);
}

TEST(QuantQdq, DequantizePerTensorAndPerAxis) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 400;
  for (DType xt : {DType::kUInt8, DType::kInt8, DType::kInt32})
    for (DType st : {DType::kFloat32, DType::kFloat16})
      for (bool zp : {true, false}) {
        for (const Dims& d : {Dims{1}, Dims{7}, Dims{1000003}, Dims{2, 3, 5, 7}}) {
          DequantCase c{xt, st, d};
          c.zero_point = zp;
          c.constant_params = ++seed % 2 == 0;
          check_dequantize(c, seed);
        }
        for (int64_t axis : {0, 1, -1})
          for (const Dims& d : {Dims{5, 6, 7}, Dims{3, 4, 1001}}) {
            DequantCase c{xt, st, d, axis, true, zp};
            c.constant_params = ++seed % 2 == 0;
            check_dequantize(c, seed);
          }
      }
}

TEST(QuantQdq, DequantizeInt32ZeroZeroPointAndOutputDtype) {
  KILN_REQUIRE_GPU();
  std::vector<Tensor> in{random_q(DType::kInt32, {1000003}, 7), random_tensor(DType::kFloat32, {}, 8, 1e-4, 1e-2),
                         Tensor(DType::kInt32, {})};
  in[2].data<int32_t>()[0] = 0;
  expect_cuda_matches_reference(make_test_node(OpKind::kDequantizeLinear, 3, 1), in, {1, 2}, &kExact);
  for (DType st : {DType::kFloat32, DType::kFloat16}) {  // output_dtype (opset 23) equal to the scale's dtype
    DequantCase o{DType::kInt8, st, {4, 33}, 0, true};
    check_dequantize(o, 9, static_cast<int64_t>(st));
  }
}

TEST(QuantLookupTable, Uint8AndInt8Codes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 500;
  for (DType xt : {DType::kUInt8, DType::kInt8})
    for (DType tt : {DType::kUInt8, DType::kInt8, DType::kFloat16, DType::kFloat32, DType::kInt64})
      for (const Dims& d : {Dims{1}, Dims{7}, Dims{1000003}, Dims{3, 5, 7}}) {
        ++seed;
        const bool constant_table = seed % 2 == 0;
        SCOPED_TRACE(std::string(dtype_name(xt)) + " codes, " + dtype_name(tt) + " table, " + dims_to_string(d) +
                     (constant_table ? " const" : " runtime"));
        const double lo = tt == DType::kUInt8 ? 0 : tt == DType::kInt8 ? -128 : tt == DType::kInt64 ? -1e12 : -1e4;
        const double hi = tt == DType::kUInt8 ? 255 : tt == DType::kInt8 ? 127 : tt == DType::kInt64 ? 1e12 : 1e4;
        Tensor table = random_tensor(tt, {256}, seed + 1, lo, hi);
        expect_cuda_matches_reference(make_test_node(OpKind::kLookupTable, 2, 1), {random_q(xt, d, seed), table},
                                      constant_table ? std::vector<size_t>{1} : std::vector<size_t>{}, &kExact);
      }
}

#ifdef KILN_HAVE_CUDA
// Build-time answers of `supports` (no GPU needed): what the CUDA kernels take and what goes to the reference.
bool cuda_supports(OpKind op, const Attrs& a, const std::vector<DType>& types, int opset = 21) {
  Node n = make_test_node(op, types.size(), 1, a);
  n.opset = opset;
  std::vector<TypeInfo> infos;
  for (DType t : types) infos.push_back(TypeInfo::tensor(t, Shape::of({4})));
  std::vector<const TypeInfo*> ptrs;
  for (const TypeInfo& t : infos) ptrs.push_back(&t);
  const cuda::CudaKernel* k = cuda::cuda_kernels().find(op);
  return k && (!k->supports || k->supports(n, ptrs));
}

Attrs attr(const char* name, int64_t v) {
  Attrs a;
  a.set(name, v);
  return a;
}

TEST(QuantQdq, SupportsRefusesWhatTheKernelsDoNotTake) {
  using D = DType;
  const OpKind q = OpKind::kQuantizeLinear, dq = OpKind::kDequantizeLinear;
  EXPECT_TRUE(cuda_supports(q, {}, {D::kFloat32, D::kFloat32, D::kUInt8}));
  EXPECT_TRUE(cuda_supports(q, {}, {D::kFloat16, D::kFloat16, D::kInt8}));
  EXPECT_TRUE(cuda_supports(q, {}, {D::kFloat32, D::kFloat32}));
  EXPECT_TRUE(cuda_supports(q, attr("output_dtype", int64_t(D::kInt8)), {D::kFloat32, D::kFloat32}));
  EXPECT_TRUE(cuda_supports(q, attr("saturate", 1), {D::kFloat32, D::kFloat32, D::kInt8}));
  EXPECT_FALSE(cuda_supports(q, attr("block_size", 32), {D::kFloat32, D::kFloat32, D::kInt8}));
  EXPECT_FALSE(cuda_supports(q, attr("precision", int64_t(D::kFloat32)), {D::kFloat32, D::kFloat32}));
  EXPECT_FALSE(cuda_supports(q, {}, {D::kFloat32, D::kFloat32, D::kInt4}));
  EXPECT_FALSE(cuda_supports(q, {}, {D::kFloat32, D::kFloat32, D::kInt16}));
  EXPECT_TRUE(cuda_supports(q, {}, {D::kFloat32, D::kFloat32, D::kFloat8E4M3FN}));  // tests/gpu/quant_fp8_test.cc
  EXPECT_FALSE(cuda_supports(q, {}, {D::kFloat32, D::kFloat32, D::kFloat8E4M3FNUZ}));
  EXPECT_FALSE(cuda_supports(q, attr("output_dtype", int64_t(D::kUInt4)), {D::kFloat32, D::kFloat32}));
  EXPECT_FALSE(cuda_supports(q, attr("output_dtype", int64_t(D::kUInt8)), {D::kFloat32, D::kFloat32, D::kInt8}));
  EXPECT_FALSE(cuda_supports(q, {}, {D::kBFloat16, D::kBFloat16, D::kUInt8}));
  EXPECT_FALSE(cuda_supports(q, {}, {D::kFloat32, D::kFloat16, D::kUInt8}));
  EXPECT_FALSE(cuda_supports(q, {}, {D::kInt32, D::kFloat32, D::kUInt8}, 10));

  EXPECT_TRUE(cuda_supports(dq, {}, {D::kUInt8, D::kFloat32, D::kUInt8}));
  EXPECT_TRUE(cuda_supports(dq, {}, {D::kInt8, D::kFloat16}));
  EXPECT_TRUE(cuda_supports(dq, {}, {D::kInt32, D::kFloat32}));
  EXPECT_TRUE(cuda_supports(dq, attr("output_dtype", int64_t(D::kFloat16)), {D::kInt8, D::kFloat16}, 23));
  EXPECT_FALSE(cuda_supports(dq, attr("output_dtype", int64_t(D::kFloat16)), {D::kInt8, D::kFloat32}, 23));
  EXPECT_FALSE(cuda_supports(dq, attr("block_size", 16), {D::kInt8, D::kFloat32, D::kInt8}));
  EXPECT_FALSE(cuda_supports(dq, {}, {D::kInt4, D::kFloat32}));
  EXPECT_FALSE(cuda_supports(dq, {}, {D::kInt16, D::kFloat32}));
  EXPECT_TRUE(cuda_supports(dq, {}, {D::kFloat8E5M2, D::kFloat32}));
  EXPECT_FALSE(cuda_supports(dq, {}, {D::kFloat8E5M2FNUZ, D::kFloat32}));
  EXPECT_FALSE(cuda_supports(dq, {}, {D::kInt8, D::kBFloat16}));
  EXPECT_FALSE(cuda_supports(dq, {}, {D::kUInt8, D::kFloat32, D::kInt8}));

  const OpKind lt = OpKind::kLookupTable;
  EXPECT_TRUE(cuda_supports(lt, {}, {D::kUInt8, D::kInt8}, 1));
  EXPECT_TRUE(cuda_supports(lt, {}, {D::kInt8, D::kFloat32}, 1));
  EXPECT_TRUE(cuda_supports(lt, {}, {D::kInt8, D::kInt64}, 1));
  EXPECT_FALSE(cuda_supports(lt, {}, {D::kInt32, D::kUInt8}, 1));
  EXPECT_FALSE(cuda_supports(lt, {}, {D::kUInt8, D::kComplex128}, 1));
  EXPECT_FALSE(cuda_supports(lt, {}, {D::kUInt8, D::kString}, 1));
}
#endif

}  // namespace
}  // namespace kiln::testing
