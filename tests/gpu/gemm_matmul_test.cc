// CUDA MatMul and Gemm (cuBLASLt) against the reference backend: shapes, batch broadcast, dtypes, Gemm flags.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tolerance tol_for(DType t) {
  if (t == DType::kFloat16) return {1e-2, 1e-2};
  if (t == DType::kBFloat16) return {3e-2, 3e-2};
  return {1e-4, 1e-4};
}

void check_matmul(const Dims& a, const Dims& b, DType t, uint64_t seed, bool b_constant = false) {
  SCOPED_TRACE("A " + dims_to_string(a) + " B " + dims_to_string(b) + " " + dtype_name(t));
  Node node = make_test_node(OpKind::kMatMul, 2, 1);
  const Tolerance tol = tol_for(t);
  std::vector<size_t> constants;
  if (b_constant) constants.push_back(1);
  expect_cuda_matches_reference(node, {random_tensor(t, a, seed), random_tensor(t, b, seed + 1)}, constants, &tol);
}

TEST(GpuMatMul, TwoDOddSizes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1;
  for (int64_t m : {1, 7, 65})
    for (int64_t k : {1, 7, 768})
      for (int64_t n : {1, 65, 768}) check_matmul({m, k}, {k, n}, DType::kFloat32, seed++);
}

TEST(GpuMatMul, EachDtype) {
  KILN_REQUIRE_GPU();
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    check_matmul({65, 768}, {768, 7}, t, 11);
    check_matmul({3, 7, 64}, {3, 64, 65}, t, 12);
    check_matmul({128, 256}, {256, 128}, t, 13, true);
  }
}

TEST(GpuMatMul, BatchedSameBatch) {
  KILN_REQUIRE_GPU();
  check_matmul({4, 7, 9}, {4, 9, 5}, DType::kFloat32, 21);
  check_matmul({2, 3, 16, 32}, {2, 3, 32, 8}, DType::kFloat32, 22);
}

TEST(GpuMatMul, BroadcastBatch) {
  KILN_REQUIRE_GPU();
  check_matmul({4, 7, 9}, {9, 5}, DType::kFloat32, 31, true);  // B shared: folded into M
  check_matmul({7, 9}, {4, 9, 5}, DType::kFloat32, 32);        // A shared: stride 0
  check_matmul({1, 7, 9}, {3, 9, 5}, DType::kFloat32, 33);     // size-1 batch
  check_matmul({3, 7, 9}, {1, 9, 5}, DType::kFloat32, 34);
  check_matmul({2, 1, 7, 9}, {1, 3, 9, 5}, DType::kFloat32, 35);  // general broadcast
  check_matmul({2, 3, 7, 9}, {3, 9, 5}, DType::kFloat16, 36);
}

TEST(GpuMatMul, OneDOperands) {
  KILN_REQUIRE_GPU();
  check_matmul({9}, {9, 5}, DType::kFloat32, 41);
  check_matmul({7, 9}, {9}, DType::kFloat32, 42);
  check_matmul({9}, {9}, DType::kFloat32, 43);
  check_matmul({4, 7, 9}, {9}, DType::kFloat32, 44);
  check_matmul({9}, {4, 9, 5}, DType::kFloat32, 45);
}

void check_gemm(int64_t m, int64_t k, int64_t n, bool ta, bool tb, const Dims* c_dims, float alpha, float beta, DType t,
                uint64_t seed) {
  Attrs attrs;
  attrs.set("transA", int64_t{ta});
  attrs.set("transB", int64_t{tb});
  attrs.set("alpha", alpha);
  attrs.set("beta", beta);
  SCOPED_TRACE("Gemm m=" + std::to_string(m) + " k=" + std::to_string(k) + " n=" + std::to_string(n) +
               " transA=" + std::to_string(ta) + " transB=" + std::to_string(tb) +
               " C=" + (c_dims ? dims_to_string(*c_dims) : "none") + " " + dtype_name(t));
  Node node = make_test_node(OpKind::kGemm, c_dims ? 3 : 2, 1, attrs);
  std::vector<Tensor> in{random_tensor(t, ta ? Dims{k, m} : Dims{m, k}, seed),
                         random_tensor(t, tb ? Dims{n, k} : Dims{k, n}, seed + 1)};
  if (c_dims) in.push_back(random_tensor(t, *c_dims, seed + 2));
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, in, {1}, &tol);
}

TEST(GpuGemm, TransFlags) {
  KILN_REQUIRE_GPU();
  const Dims c{7, 65};
  uint64_t seed = 51;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm(7, 33, 65, ta, tb, &c, 1.f, 1.f, DType::kFloat32, seed++);
      check_gemm(7, 33, 65, ta, tb, nullptr, 0.5f, 1.f, DType::kFloat32, seed++);
      check_gemm(7, 33, 65, ta, tb, &c, 1.f, 1.f, DType::kFloat16, seed++);
    }
}

TEST(GpuGemm, CBroadcastAndScales) {
  KILN_REQUIRE_GPU();
  const std::vector<Dims> shapes{{7, 65}, {65}, {1, 65}, {7, 1}, {1, 1}, {}};
  uint64_t seed = 71;
  for (const Dims& c : shapes) {
    check_gemm(7, 16, 65, false, true, &c, 1.f, 1.f, DType::kFloat32, seed++);
    check_gemm(7, 16, 65, false, true, &c, 2.f, 0.5f, DType::kFloat32, seed++);
    check_gemm(7, 16, 65, true, false, &c, 1.f, 1.f, DType::kBFloat16, seed++);
  }
  const Dims one_row{1, 65};
  check_gemm(1, 16, 65, false, false, &one_row, 1.f, 3.f, DType::kFloat32, 90);
}

}  // namespace
}  // namespace kiln::testing
