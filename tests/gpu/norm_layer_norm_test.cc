// GPU tests of LayerNormalization, RMSNormalization and GroupNormalization against the reference backend.
#include <gtest/gtest.h>

#include "core/float_formats.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tolerance norm_tolerance(DType dt) {
  Tolerance t = default_tolerance(dt);
  if (dt == DType::kFloat32) t = Tolerance{1e-4, 1e-5};  // float32 statistics vs the reference's doubles
  return t;
}

void check_layer_norm(DType dt, const Dims& dims, int64_t axis, bool bias, bool stats, uint64_t seed,
                      const Dims& param_dims = {}) {
  Attrs a;
  a.set("axis", axis);
  a.set("epsilon", 1e-5f);
  Node n = make_test_node(OpKind::kLayerNormalization, bias ? 3 : 2, stats ? 3 : 1, a);
  n.opset = 17;
  const int64_t r = static_cast<int64_t>(dims.size());
  const Dims inner = param_dims.empty() ? Dims(dims.begin() + (axis < 0 ? axis + r : axis), dims.end()) : param_dims;
  std::vector<Tensor> in = {random_tensor(dt, dims, seed, -3.0, 3.0), random_tensor(dt, inner, seed + 1)};
  if (bias) in.push_back(random_tensor(dt, inner, seed + 2));
  SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(dims) + " axis " + std::to_string(axis) +
               (bias ? " bias" : "") + (stats ? " stats" : ""));
  const Tolerance tol = norm_tolerance(dt);
  expect_cuda_matches_reference(n, in, {1, 2}, &tol);
}

TEST(CudaNormLayerNorm, RowLengthsDtypesBias) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (int64_t len : {1, 7, 12, 33, 768, 1024, 2048, 4096, 4097, 8192, 8200})
      for (bool bias : {false, true}) check_layer_norm(dt, {5, len}, -1, bias, false, 100 + len);
  // Many rows: the variants that load Scale/B after the statistics (few rows preload them).
  for (DType dt : {DType::kFloat32, DType::kFloat16})
    for (int64_t len : {64, 768, 1024}) check_layer_norm(dt, {1500, len}, -1, true, false, 700 + len);
}

TEST(CudaNormLayerNorm, MultiAxisStatsAndBroadcastParams) {
  KILN_REQUIRE_GPU();
  check_layer_norm(DType::kFloat32, {2, 3, 4, 5}, 1, true, true, 201);
  check_layer_norm(DType::kFloat32, {2, 3, 64}, -1, true, true, 202);
  check_layer_norm(DType::kFloat16, {2, 3, 4, 5}, 2, true, true, 203);
  check_layer_norm(DType::kFloat32, {2, 3, 4, 5}, 2, true, false, 204, {1, 5});  // broadcast Scale/B
  check_layer_norm(DType::kFloat32, {2, 3, 4, 5}, 1, false, false, 205, {5});
}

// FusedAddLayerNorm(X, R, Scale, B): R full-shape or a suffix of X (rows repeating), every kernel variant
// (vectorized rows, warp rows, block rows).
void check_add_layer_norm(DType dt, const Dims& dims, const Dims& r_dims, bool bias, uint64_t seed) {
  Attrs a;
  a.set("axis", int64_t{-1});
  a.set("epsilon", 1e-5f);
  Node n = make_test_node(OpKind::kFusedAddLayerNorm, bias ? 4 : 3, 1, a);
  n.opset = 1;
  const Dims cols = {dims.back()};
  std::vector<Tensor> in = {random_tensor(dt, dims, seed, -3.0, 3.0), random_tensor(dt, r_dims, seed + 1, -2.0, 2.0),
                            random_tensor(dt, cols, seed + 2)};
  if (bias) in.push_back(random_tensor(dt, cols, seed + 3));
  SCOPED_TRACE(std::string(dtype_name(dt)) + " X " + dims_to_string(dims) + " R " + dims_to_string(r_dims) +
               (bias ? " bias" : ""));
  const Tolerance tol = norm_tolerance(dt);
  expect_cuda_matches_reference(n, in, bias ? std::vector<size_t>{2, 3} : std::vector<size_t>{2}, &tol);
}

TEST(CudaNormLayerNorm, FusedAddLayerNorm) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (int64_t len : {7, 768, 1000, 4096, 8200}) {
      check_add_layer_norm(dt, {2, 3, len}, {2, 3, len}, true, 300 + len);
      check_add_layer_norm(dt, {2, 3, len}, {1, 3, len}, len % 2 == 0, 400 + len);
      check_add_layer_norm(dt, {2, 3, len}, {len}, true, 500 + len);
    }
}

// FusedAddLayerNorm with fp8_scale (fold_qdq_fp8_norm's form): output 1 is Y quantized to float8e4m3fn. Against the
// reference within a float8 step (Y may round differently there), and every code exactly QuantizeLinear of the Y this
// GPU wrote. R may be omitted; output 0 may be omitted (only the float8 values are written).
void check_fp8_layer_norm(DType dt, const Dims& dims, bool with_r, bool round_to_x, bool with_y, uint64_t seed) {
  constexpr float kScale = 0.02f;
  Attrs a;
  a.set("axis", int64_t{-1});
  a.set("epsilon", 1e-5f);
  a.set("fp8_scale", kScale);
  a.set("fp8_round_to_x", int64_t{round_to_x ? 1 : 0});
  Node n = make_test_node(OpKind::kFusedAddLayerNorm, 4, 2, a);
  n.opset = 1;
  if (!with_y) n.outputs[0] = "";
  const Dims cols = {dims.back()};
  std::vector<Tensor> in = {random_tensor(dt, dims, seed, -3.0, 3.0),
                            with_r ? random_tensor(dt, {cols}, seed + 1, -2.0, 2.0) : Tensor(),
                            random_tensor(dt, cols, seed + 2), random_tensor(dt, cols, seed + 3)};
  SCOPED_TRACE(std::string(dtype_name(dt)) + " X " + dims_to_string(dims) + (with_r ? " R" : "") +
               (round_to_x ? " round_to_x" : "") + (with_y ? "" : " no Y"));
  const Tolerance tol{0.13, 0.05};
  std::vector<Tensor> got = expect_cuda_matches_reference(n, in, {2, 3}, &tol);
  ASSERT_EQ(got.size(), with_y ? 2u : 1u);
  if (!with_y) return;
  const Tensor& y = got[0];
  const Tensor& q = got[1];
  ASSERT_EQ(q.dtype(), DType::kFloat8E4M3FN);
  int bad = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    float v = static_cast<float>(y.as_double(i)) / kScale;
    if (round_to_x && dt == DType::kFloat16) v = half_to_float(float_to_half(v));
    if (round_to_x && dt == DType::kBFloat16) v = bf16_to_float(float_to_bf16(v));
    if (q.data<uint8_t>()[i] != float_to_fp8e4m3fn(v, true) && bad++ < 5)
      ADD_FAILURE() << "element " << i << ": float8 code " << int{q.data<uint8_t>()[i]} << ", QuantizeLinear of Y "
                    << int{float_to_fp8e4m3fn(v, true)};
  }
  EXPECT_EQ(bad, 0);
}

TEST(CudaNormLayerNorm, FusedAddLayerNormFloat8Output) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (int64_t len : {7, 768, 1000, 4096}) {  // warp rows, vectorized rows, block rows
      check_fp8_layer_norm(dt, {2, 3, len}, len % 2 == 0, dt != DType::kFloat32, true, 600 + len);
      check_fp8_layer_norm(dt, {4, len}, false, false, true, 700 + len);
    }
  check_fp8_layer_norm(DType::kFloat16, {2, 8, 768}, false, true, false, 800);
  check_fp8_layer_norm(DType::kFloat16, {3, 100}, true, true, false, 801);
}

void check_rms_norm(DType dt, const Dims& dims, int64_t axis, uint64_t seed) {
  Attrs a;
  a.set("axis", axis);
  a.set("epsilon", 1e-6f);
  Node n = make_test_node(OpKind::kRMSNormalization, 2, 1, a);
  n.opset = 23;
  const int64_t r = static_cast<int64_t>(dims.size());
  const Dims inner(dims.begin() + (axis < 0 ? axis + r : axis), dims.end());
  SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(dims) + " axis " + std::to_string(axis));
  const Tolerance tol = norm_tolerance(dt);
  expect_cuda_matches_reference(n, {random_tensor(dt, dims, seed, -2.0, 2.0), random_tensor(dt, inner, seed + 1)}, {1},
                                &tol);
}

TEST(CudaNormRmsNorm, RowLengthsAndAxes) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (int64_t len : {1, 7, 33, 768, 4096, 4097}) check_rms_norm(dt, {3, len}, -1, 300 + len);
  check_rms_norm(DType::kFloat32, {2, 3, 4, 5}, 1, 310);
}

void check_group_norm(DType dt, const Dims& dims, int64_t groups, bool per_channel, uint64_t seed) {
  Attrs a;
  a.set("num_groups", groups);
  a.set("epsilon", 1e-5f);
  Node n = make_test_node(OpKind::kGroupNormalization, 3, 1, a);
  n.opset = per_channel ? 21 : 18;
  const int64_t pn = per_channel ? dims[1] : groups;
  SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(dims) + " groups " + std::to_string(groups));
  const Tolerance tol = norm_tolerance(dt);
  expect_cuda_matches_reference(
      n,
      {random_tensor(dt, dims, seed, -2.0, 2.0), random_tensor(dt, {pn}, seed + 1), random_tensor(dt, {pn}, seed + 2)},
      {1, 2}, &tol);
}

TEST(CudaNormGroupNorm, GroupsAndParams) {
  KILN_REQUIRE_GPU();
  check_group_norm(DType::kFloat32, {2, 6, 5, 7}, 3, true, 401);
  check_group_norm(DType::kFloat32, {2, 6, 5, 7}, 2, false, 402);
  check_group_norm(DType::kFloat16, {1, 32, 16, 16}, 8, true, 403);
  check_group_norm(DType::kBFloat16, {2, 4, 33}, 4, true, 404);
  check_group_norm(DType::kFloat32, {1, 64, 64, 64}, 32, true, 405);
}

}  // namespace
}  // namespace kiln::testing
