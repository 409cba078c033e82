// CUDA BatchNormalization (inference), InstanceNormalization and LRN against the reference backend.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tolerance tol_for(DType t) {
  if (t == DType::kFloat16) return {1e-2, 1e-2};
  if (t == DType::kBFloat16) return {3e-2, 3e-2};
  return {1e-4, 1e-5};
}

void check_bn(const Dims& x, DType t, DType param_t, uint64_t seed) {
  SCOPED_TRACE("BatchNormalization X " + dims_to_string(x) + " " + dtype_name(t) + " params " + dtype_name(param_t));
  const int64_t c = x.size() > 1 ? x[1] : 1;
  Attrs a;
  a.set("epsilon", 1e-3f);
  Node node = make_test_node(OpKind::kBatchNormalization, 5, 1, a);
  std::vector<Tensor> in{random_tensor(t, x, seed), random_tensor(param_t, {c}, seed + 1, 0.5, 1.5),
                         random_tensor(param_t, {c}, seed + 2), random_tensor(param_t, {c}, seed + 3),
                         random_tensor(param_t, {c}, seed + 4, 0.1, 2.0)};
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, in, {1, 2, 3, 4}, &tol);
}

TEST(GpuBatchNorm, Shapes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 4000;
  for (const Dims& x : {Dims{2, 16, 9, 9}, Dims{3, 7}, Dims{2, 5, 11}, Dims{1, 4, 3, 5, 6}})
    check_bn(x, DType::kFloat32, DType::kFloat32, seed += 5);
}

TEST(GpuBatchNorm, HalfInputs) {
  KILN_REQUIRE_GPU();
  check_bn({2, 16, 9, 9}, DType::kFloat16, DType::kFloat16, 4100);
  check_bn({2, 16, 9, 9}, DType::kFloat16, DType::kFloat32, 4105);
  check_bn({2, 16, 9, 9}, DType::kBFloat16, DType::kBFloat16, 4110);
}

TEST(GpuInstanceNorm, Shapes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 4200;
  for (DType t : {DType::kFloat32, DType::kFloat16})
    for (const Dims& x : {Dims{2, 8, 9, 9}, Dims{1, 3, 1000}, Dims{2, 4, 2, 3, 4}, Dims{1, 2, 1, 1}}) {
      SCOPED_TRACE("InstanceNormalization X " + dims_to_string(x) + " " + dtype_name(t));
      Node node = make_test_node(OpKind::kInstanceNormalization, 3, 1);
      std::vector<Tensor> in{random_tensor(t, x, seed), random_tensor(t, {x[1]}, seed + 1),
                             random_tensor(t, {x[1]}, seed + 2)};
      const Tolerance tol = t == DType::kFloat32 ? Tolerance{1e-4, 1e-4} : tol_for(t);
      expect_cuda_matches_reference(node, in, {1, 2}, &tol);
      seed += 3;
    }
}

TEST(GpuLrn, Sizes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 4300;
  for (int64_t size : {1, 3, 4, 5})
    for (DType t : {DType::kFloat32, DType::kFloat16}) {
      SCOPED_TRACE("LRN size " + std::to_string(size) + " " + dtype_name(t));
      Attrs a;
      a.set("size", size);
      a.set("alpha", 1e-2f);
      a.set("beta", 0.75f);
      a.set("bias", 2.f);
      Node node = make_test_node(OpKind::kLRN, 1, 1, a);
      const Tolerance tol = tol_for(t);
      expect_cuda_matches_reference(node, {random_tensor(t, {2, 9, 5, 6}, seed++)}, {}, &tol);
    }
}

}  // namespace
}  // namespace kiln::testing
