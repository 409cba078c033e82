// GPU tests of the data family's indexing kernels against the reference backend: Gather, GatherElements,
// GatherND, ScatterElements, ScatterND (negative indices, int32/int64 indices, constant and runtime indices).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Node node(OpKind op, size_t in, Attrs a = {}, int opset = 18) {
  Node n = make_test_node(op, in, 1, std::move(a));
  n.opset = opset;
  return n;
}

// Distinct positions for scatters with reduction none (duplicates would make the result order-dependent):
// a random permutation prefix of [0, dim) per row, made negative on odd entries.
Tensor distinct_indices(DType dt, const Dims& dims, int64_t dim, uint64_t seed) {
  Tensor t(dt, dims);
  const int64_t row = dims.back();
  Tensor r = random_tensor(DType::kInt64, {dim}, seed, 0, 1000000);
  std::vector<int64_t> order(dim);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return r.data<int64_t>()[a] < r.data<int64_t>()[b] || (r.data<int64_t>()[a] == r.data<int64_t>()[b] && a < b);
  });
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = order[(i % row) % dim];
    if (i % 2) v -= dim;
    if (dt == DType::kInt64)
      t.data<int64_t>()[i] = v;
    else
      t.data<int32_t>()[i] = static_cast<int32_t>(v);
  }
  return t;
}

TEST(CudaDataIndex, GatherAxesIndexTypesNegativeIndices) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1;
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kInt8, DType::kBool})
    for (DType it : {DType::kInt32, DType::kInt64})
      for (int64_t axis : {0, 1, -1}) {
        Attrs a;
        a.set("axis", axis);
        const Dims data = {5, 7, 33};
        const int64_t dim = data[axis < 0 ? 2 : axis];
        Tensor x = random_tensor(dt, data, ++seed, -50, 50);
        for (const Dims& idims : {Dims{}, Dims{4}, Dims{2, 3}}) {
          Tensor idx = random_tensor(it, idims, ++seed, -dim, dim - 1);
          expect_cuda_matches_reference(node(OpKind::kGather, 2, a), {x, idx}, {1});
          expect_cuda_matches_reference(node(OpKind::kGather, 2, a), {x, idx});
        }
      }
  // Embedding-style lookup of many rows (16-byte rows take the uint4 row-copy path; 24-byte fp16 rows don't).
  expect_cuda_matches_reference(node(OpKind::kGather, 2), {random_tensor(DType::kFloat16, {1000, 64}, 3),
                                                           random_tensor(DType::kInt64, {4, 31}, 4, 0, 999)});
  for (DType dt : {DType::kFloat16, DType::kFloat32, DType::kInt8})
    for (int64_t row : {8, 12, 16, 768}) {
      Attrs a0;
      a0.set("axis", int64_t{0});
      expect_cuda_matches_reference(
          node(OpKind::kGather, 2, a0),
          {random_tensor(dt, {50, row}, ++seed, -50, 50), random_tensor(DType::kInt32, {3, 7}, ++seed, -50, 49)});
      Attrs a1;
      a1.set("axis", int64_t{1});
      expect_cuda_matches_reference(node(OpKind::kGather, 2, a1), {random_tensor(dt, {2, 9, row}, ++seed, -50, 50),
                                                                   random_tensor(DType::kInt64, {5}, ++seed, -9, 8)});
    }
}

TEST(CudaDataIndex, GatherElementsAndGatherND) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64})
    for (DType it : {DType::kInt32, DType::kInt64}) {
      for (int64_t axis : {0, 1, 2}) {
        Attrs a;
        a.set("axis", axis);
        const Dims data = {4, 5, 6};
        const int64_t dim = data[axis];
        Dims id = {3, 4, 5};
        id[axis] = 7;
        expect_cuda_matches_reference(node(OpKind::kGatherElements, 2, a),
                                      {random_tensor(dt, data, 1), random_tensor(it, id, 2, -dim, dim - 1)}, {1});
      }
      Tensor x = random_tensor(dt, {4, 5, 6}, 3);
      expect_cuda_matches_reference(node(OpKind::kGatherND, 2), {x, random_tensor(it, {3, 2}, 4, -4, 3)}, {1});
      expect_cuda_matches_reference(node(OpKind::kGatherND, 2), {x, random_tensor(it, {2, 2, 1}, 5, 0, 3)});
      expect_cuda_matches_reference(node(OpKind::kGatherND, 2), {x, random_tensor(it, {7, 3}, 6, 0, 3)});
      Attrs b;
      b.set("batch_dims", int64_t{1});
      expect_cuda_matches_reference(node(OpKind::kGatherND, 2, b), {x, random_tensor(it, {4, 3, 1}, 7, -5, 4)}, {1});
    }
}

TEST(CudaDataIndex, ScatterElementsNoneAndAdd) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kInt64})
    for (DType it : {DType::kInt32, DType::kInt64})
      for (int64_t axis : {0, 1}) {
        Attrs a;
        a.set("axis", axis);
        const Dims data = {6, 8};
        const Dims id = axis == 0 ? Dims{4, 8} : Dims{6, 5};
        // Reduction none: distinct targets along the axis (transpose for axis 0 by building per column).
        Tensor idx = axis == 1 ? distinct_indices(it, id, 8, 1) : random_tensor(it, id, 1, 0, 0);
        if (axis == 0) {
          Tensor t = distinct_indices(it, {8, 4}, 6, 2);
          for (int64_t r = 0; r < 4; ++r)
            for (int64_t c = 0; c < 8; ++c) {
              if (it == DType::kInt64)
                idx.data<int64_t>()[r * 8 + c] = t.data<int64_t>()[c * 4 + r];
              else
                idx.data<int32_t>()[r * 8 + c] = t.data<int32_t>()[c * 4 + r];
            }
        }
        Tensor x = random_tensor(dt, data, 3, -20, 20), upd = random_tensor(dt, id, 4, -20, 20);
        expect_cuda_matches_reference(node(OpKind::kScatterElements, 3, a), {x, idx, upd}, {1});
        if (dt == DType::kFloat16) continue;  // atomic float16 adds round per step; the reference rounds once
        Attrs add = a;
        add.set("reduction", std::string("add"));
        expect_cuda_matches_reference(
            node(OpKind::kScatterElements, 3, add),
            {x, random_tensor(it, id, 5, -static_cast<double>(data[axis]), data[axis] - 1), upd});
      }
}

TEST(CudaDataIndex, ScatterNDNoneAndAdd) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64})
    for (DType it : {DType::kInt32, DType::kInt64}) {
      Tensor x = random_tensor(dt, {6, 5, 4}, 1, -20, 20);
      // Distinct rows: tuples of length 1 addressing [5,4] slices.
      Tensor rows = distinct_indices(it, {3, 1}, 6, 2);
      for (int64_t i = 0; i < 3; ++i) {
        if (it == DType::kInt64)
          rows.data<int64_t>()[i] = (i * 2 + 1) - (i == 1 ? 6 : 0);
        else
          rows.data<int32_t>()[i] = static_cast<int32_t>((i * 2 + 1) - (i == 1 ? 6 : 0));
      }
      expect_cuda_matches_reference(node(OpKind::kScatterND, 3), {x, rows, random_tensor(dt, {3, 5, 4}, 3, -9, 9)},
                                    {1});
      if (dt == DType::kFloat16) continue;  // atomic float16 adds round per step; the reference rounds once
      Attrs add;
      add.set("reduction", std::string("add"));
      expect_cuda_matches_reference(node(OpKind::kScatterND, 3, add),
                                    {x, random_tensor(it, {7, 3}, 4, 0, 3), random_tensor(dt, {7}, 5, -9, 9)});
    }
}

}  // namespace
}  // namespace kiln::testing
