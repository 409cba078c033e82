// GPU tests of the data family's shape and layout kernels against the reference backend: Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Transpose, DepthToSpace, SpaceToDepth, Concat, Split, Slice, Expand, Tile.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

const std::vector<DType> kElemTypes = {DType::kFloat32, DType::kFloat16, DType::kInt64,
                                       DType::kInt8,    DType::kBool,    DType::kFloat64};

Tensor ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(DType::kInt64, {n}, v);
}

Node node(OpKind op, size_t in, size_t out, Attrs a = {}, int opset = 18) {
  Node n = make_test_node(op, in, out, std::move(a));
  n.opset = opset;
  return n;
}

TEST(CudaDataShape, ReshapeFamilyAliases) {
  KILN_REQUIRE_GPU();
  for (DType dt : kElemTypes) {
    Tensor x = random_tensor(dt, {2, 3, 4, 5}, 1, -9, 9);
    expect_cuda_matches_reference(node(OpKind::kReshape, 2, 1), {x, ints({0, -1, 5})}, {1});
    expect_cuda_matches_reference(node(OpKind::kReshape, 2, 1), {x, ints({120})});
    Attrs az;
    az.set("allowzero", int64_t{1});
    expect_cuda_matches_reference(node(OpKind::kReshape, 2, 1, az), {x, ints({6, 20})}, {1});
    Attrs ax;
    ax.set("axis", int64_t{-2});
    expect_cuda_matches_reference(node(OpKind::kFlatten, 1, 1, ax), {x});
    expect_cuda_matches_reference(node(OpKind::kFlatten, 1, 1), {x});
    Tensor s = random_tensor(dt, {1, 7, 1, 3}, 2, -9, 9);
    expect_cuda_matches_reference(node(OpKind::kSqueeze, 1, 1), {s});
    expect_cuda_matches_reference(node(OpKind::kSqueeze, 2, 1), {s, ints({-2})}, {1});
    expect_cuda_matches_reference(node(OpKind::kUnsqueeze, 2, 1), {s, ints({0, -1})}, {1});
    expect_cuda_matches_reference(node(OpKind::kIdentity, 1, 1), {x});
  }
}

TEST(CudaDataShape, TransposeTiledAndGeneric) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    std::vector<int64_t> perm;
  };
  const std::vector<Case> cases = {
      {{33, 65}, {1, 0}},              // 2-D swap (tiled)
      {{3, 1000, 7}, {0, 2, 1}},       // batched swap (tiled)
      {{2, 3, 17, 19}, {0, 2, 3, 1}},  // NCHW -> NHWC, 3 channels (narrow-rows kernel)
      {{2, 8, 9, 11}, {0, 2, 3, 1}},   // 8 channels (narrow-rows kernel, its largest row count)
      {{2, 40, 9, 11}, {0, 2, 3, 1}},  // NCHW -> NHWC (tiled)
      {{2, 17, 19, 3}, {0, 3, 1, 2}},  // NHWC -> NCHW (tiled)
      {{2, 3, 4, 5}, {3, 1, 0, 2}},    // generic
      {{2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
      {{7}, {0}},
      {{1, 5, 1, 7}, {3, 2, 1, 0}},
      {{2, 3, 1, 4, 1, 5, 1, 2, 3}, {8, 7, 5, 6, 0, 1, 2, 3, 4}},  // rank 9, collapses to 5 dims
      // Innermost axis kept: rows move as 16/8/4-byte vectors where the row bytes allow, else element-wise.
      {{7, 9, 3, 64}, {1, 0, 2, 3}},         // [S, B, E] -> [B, S, E] (nn.MultiheadAttention's batch swap)
      {{6, 49, 3, 3, 32}, {2, 0, 3, 1, 4}},  // qkv [B, N, 3, H, D] -> [3, B, H, N, D] (window attention)
      {{3, 5, 6}, {1, 0, 2}},                // 6-element rows: 4/8-byte vectors or none, by dtype
      {{4, 2, 5, 3}, {2, 1, 0, 3}},          // 3-element rows: odd bytes, element-wise
  };
  uint64_t seed = 10;
  for (DType dt : kElemTypes)
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(c.dims));
      Attrs a;
      a.set("perm", c.perm);
      expect_cuda_matches_reference(node(OpKind::kTranspose, 1, 1, a), {random_tensor(dt, c.dims, ++seed, -99, 99)});
    }
  expect_cuda_matches_reference(node(OpKind::kTranspose, 1, 1), {random_tensor(DType::kFloat32, {3, 4, 5}, 3)});
}

TEST(CudaDataShape, DepthToSpaceAndSpaceToDepth) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64}) {
    for (const char* mode : {"DCR", "CRD"}) {
      Attrs a;
      a.set("blocksize", int64_t{2});
      a.set("mode", std::string(mode));
      expect_cuda_matches_reference(node(OpKind::kDepthToSpace, 1, 1, a), {random_tensor(dt, {2, 12, 5, 7}, 1)});
    }
    Attrs b;
    b.set("blocksize", int64_t{3});
    expect_cuda_matches_reference(node(OpKind::kSpaceToDepth, 1, 1, b), {random_tensor(dt, {2, 5, 9, 6}, 2)});
  }
}

TEST(CudaDataShape, ConcatAndSplit) {
  KILN_REQUIRE_GPU();
  for (DType dt : kElemTypes) {
    for (int64_t axis : {0, 1, -1}) {
      Attrs a;
      a.set("axis", axis);
      Dims d0 = {3, 4, 5}, d1 = {3, 4, 5}, d2 = {3, 4, 5};
      const int64_t ax = axis < 0 ? 2 : axis;
      d1[ax] = 1;
      d2[ax] = 7;
      expect_cuda_matches_reference(node(OpKind::kConcat, 3, 1, a),
                                    {random_tensor(dt, d0, 1), random_tensor(dt, d1, 2), random_tensor(dt, d2, 3)});
      Dims big = {6, 9, 12};
      expect_cuda_matches_reference(node(OpKind::kSplit, 1, 3, a), {random_tensor(dt, big, 4)});
      const int64_t len = big[ax];
      expect_cuda_matches_reference(node(OpKind::kSplit, 2, 2, a), {random_tensor(dt, big, 5), ints({1, len - 1})},
                                    {1});
      Attrs u = a;
      u.set("num_outputs", int64_t{4});
      expect_cuda_matches_reference(node(OpKind::kSplit, 1, 4, u), {random_tensor(dt, big, 6)});
    }
    Attrs a0;
    a0.set("axis", int64_t{0});
    expect_cuda_matches_reference(node(OpKind::kConcat, 2, 1, a0),
                                  {random_tensor(dt, {1031}, 7), random_tensor(dt, {7}, 8)});
  }
}

// Channels-last concats and splits: a row per pixel, rows of 1 to 96 channels (1- to 16-byte vectors), more inputs
// than one launch takes (8), an empty input among them, and a split into unequal parts.
TEST(CudaDataShape, ChannelsLastConcatAndSplitRows) {
  KILN_REQUIRE_GPU();
  Attrs last;
  last.set("axis", int64_t{-1});
  for (DType dt : {DType::kFloat16, DType::kFloat32, DType::kUInt8, DType::kInt64}) {
    SCOPED_TRACE(dtype_name(dt));
    expect_cuda_matches_reference(node(OpKind::kConcat, 3, 1, last), {random_tensor(dt, {2, 9, 7, 32}, 1),
                                                                      random_tensor(dt, {2, 9, 7, 96}, 2),
                                                                      random_tensor(dt, {2, 9, 7, 8}, 3)});
    expect_cuda_matches_reference(node(OpKind::kConcat, 3, 1, last), {random_tensor(dt, {3, 5, 11, 3}, 4),
                                                                      random_tensor(dt, {3, 5, 11, 0}, 5),
                                                                      random_tensor(dt, {3, 5, 11, 1}, 6)});
    std::vector<Tensor> many;
    for (int64_t i = 0; i < 11; ++i) many.push_back(random_tensor(dt, {4, 6, 1 + (i % 3) * 4}, 10 + i));
    expect_cuda_matches_reference(node(OpKind::kConcat, many.size(), 1, last), many);
    expect_cuda_matches_reference(node(OpKind::kSplit, 2, 3, last),
                                  {random_tensor(dt, {2, 9, 7, 64}, 7), ints({8, 40, 16})}, {1});
    expect_cuda_matches_reference(node(OpKind::kSplit, 2, 2, last),
                                  {random_tensor(dt, {5, 3, 13}, 8), ints({5, 8})}, {1});
  }
}

TEST(CudaDataShape, SliceNegativeStepsAndAxes) {
  KILN_REQUIRE_GPU();
  struct Case {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  const std::vector<Case> cases = {
      {{1, 0}, {3, 100}, {0, 2}, {1, 2}},
      {{-1}, {-1000}, {1}, {-1}},
      {{5, -2}, {0, 0}, {-1, 0}, {-2, -1}},
      {{0, 1, 2}, {2, 9, 9}, {0, 1, 2}, {1, 3, 1}},
      {{2}, {2}, {1}, {1}},  // empty
      {{0}, {1}, {3}, {1}},
  };
  for (DType dt : kElemTypes)
    for (const Case& c : cases) {
      Tensor x = random_tensor(dt, {4, 9, 8, 3}, 1, -50, 50);
      expect_cuda_matches_reference(node(OpKind::kSlice, 5, 1),
                                    {x, ints(c.starts), ints(c.ends), ints(c.axes), ints(c.steps)}, {1, 2, 3, 4});
    }
  Tensor x = random_tensor(DType::kFloat32, {1031}, 2);
  expect_cuda_matches_reference(node(OpKind::kSlice, 3, 1), {x, ints({7}), ints({-7})});
  // Whole or partial contiguous rows (the vectorized copy): rows 1..6, then columns 4..11 of 16.
  for (DType dt : kElemTypes) {
    Tensor r = random_tensor(dt, {4, 9, 16}, 3, -50, 50);
    expect_cuda_matches_reference(node(OpKind::kSlice, 4, 1), {r, ints({1}), ints({7}), ints({1})}, {1, 2, 3});
    expect_cuda_matches_reference(node(OpKind::kSlice, 4, 1), {r, ints({4}), ints({12}), ints({2})}, {1, 2, 3});
  }
}

TEST(CudaDataShape, ExpandAndTile) {
  KILN_REQUIRE_GPU();
  for (DType dt : kElemTypes) {
    expect_cuda_matches_reference(node(OpKind::kExpand, 2, 1), {random_tensor(dt, {3, 1}, 1), ints({2, 3, 33})}, {1});
    expect_cuda_matches_reference(node(OpKind::kExpand, 2, 1), {random_tensor(dt, {1}, 2), ints({1031})}, {1});
    expect_cuda_matches_reference(node(OpKind::kExpand, 2, 1), {random_tensor(dt, {2, 1, 5}, 3), ints({4, 2, 1, 1})});
    expect_cuda_matches_reference(node(OpKind::kTile, 2, 1), {random_tensor(dt, {3, 5}, 4), ints({2, 3})}, {1});
    expect_cuda_matches_reference(node(OpKind::kTile, 2, 1), {random_tensor(dt, {2, 1, 7}, 5), ints({1, 4, 1})}, {1});
    expect_cuda_matches_reference(node(OpKind::kTile, 2, 1), {random_tensor(dt, {33}, 6), ints({1})});
    // Broadcast and repeated rows of 16 elements (the vectorized copy).
    expect_cuda_matches_reference(node(OpKind::kExpand, 2, 1), {random_tensor(dt, {2, 1, 16}, 7), ints({2, 5, 16})},
                                  {1});
    expect_cuda_matches_reference(node(OpKind::kTile, 2, 1), {random_tensor(dt, {2, 1, 16}, 8), ints({1, 3, 1})}, {1});
  }
}

}  // namespace
}  // namespace kiln::testing
