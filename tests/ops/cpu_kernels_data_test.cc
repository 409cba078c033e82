// The hand-written CPU data-movement kernels vs the reference kernels (exact): Transpose (2-D/3-D/4-D perms,
// tiles), Slice (negative steps, clamping, empty), Concat, Split, Gather (negative indices), Expand, Tile, Where,
// Cast, and the aliasing reshapes; several dtypes, odd and empty shapes, threads, clear errors.
#include <limits>

#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

Tensor ints(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

void check(OpKind op, const std::vector<Tensor>& in, const Attrs& a, const std::string& what, int opset = 18,
           size_t outs = 1, int threads = 1) {
  check_vs_reference(op, in, a, outs, opset, 0, 0, what, threads);
}

TEST(CpuKernelsData, TransposeAllPermutations) {
  const std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{3, 5}, {1, 0}},          {{17, 33}, {1, 0}},          {{2, 3, 4}, {2, 0, 1}},       {{2, 3, 4}, {1, 2, 0}},
      {{2, 3, 4}, {0, 2, 1}},    {{1, 64, 7, 9}, {0, 2, 3, 1}}, {{2, 7, 9, 64}, {0, 3, 1, 2}}, {{2, 3, 4, 5}, {3, 2, 1, 0}},
      {{2, 3, 4, 5}, {0, 2, 1, 3}}, {{4, 0, 3}, {2, 1, 0}},   {{5}, {0}},                   {{1, 1, 6}, {2, 0, 1}},
      // 8x8 register-block transposes (4-byte types) with edges on both sides: a detector head's [1, 3, 85, 40x40]
      {{1, 3, 85, 40}, {0, 1, 3, 2}}, {{2, 24, 16}, {0, 2, 1}}, {{9, 8, 23}, {2, 1, 0}}};
  for (auto& [d, perm] : cases) {
    Attrs a;
    a.set("perm", perm);
    check(OpKind::kTranspose, {random_f32(d)}, a, "transpose f32 " + dims_to_string(d));
    check(OpKind::kTranspose, {random_int(DType::kInt64, d, -99, 99)}, a, "transpose i64 " + dims_to_string(d));
    check(OpKind::kTranspose, {random_int(DType::kUInt8, d, 0, 255)}, a, "transpose u8 " + dims_to_string(d));
    check(OpKind::kTranspose, {random_int(DType::kInt32, d, -99999, 99999)}, a, "transpose i32 " + dims_to_string(d));
  }
  check(OpKind::kTranspose, {random_f32({3, 4, 5})}, {}, "transpose default perm");
  Attrs big;
  big.set("perm", std::vector<int64_t>{1, 0});
  check(OpKind::kTranspose, {random_f32({300, 301})}, big, "transpose threads", 18, 1, 2);
}

TEST(CpuKernelsData, DepthToSpaceAndSpaceToDepth) {
  for (const char* mode : {"DCR", "CRD"})
    for (int64_t b : {2, 3}) {
      Attrs a;
      a.set("blocksize", b);
      a.set("mode", std::string(mode));
      const Dims d{2, 2 * b * b, 5, 7};
      check(OpKind::kDepthToSpace, {random_f32(d)}, a, std::string("depth_to_space f32 ") + mode);
      check(OpKind::kDepthToSpace, {random_int(DType::kInt64, d, -99, 99)}, a, std::string("depth_to_space i64 ") + mode);
    }
  Attrs a;
  a.set("blocksize", int64_t{2});
  check(OpKind::kSpaceToDepth, {random_f32({2, 3, 8, 6})}, a, "space_to_depth f32");
  check(OpKind::kSpaceToDepth, {random_int(DType::kUInt8, {1, 5, 4, 10}, 0, 255)}, a, "space_to_depth u8");
}

TEST(CpuKernelsData, GridSampleModesAndPadding) {
  // Grid values in [-1.3, 1.3]: samples outside the input exercise every padding mode.
  const Tensor x = random_f32({2, 3, 5, 7});
  const Tensor grid = random_f32({2, 4, 6, 2}, -1.3f, 1.3f);
  for (const char* mode : {"bilinear", "nearest", "bicubic"})
    for (const char* pad : {"zeros", "border", "reflection"})
      for (int64_t align : {0, 1}) {
        Attrs a;
        a.set("mode", std::string(mode));
        a.set("padding_mode", std::string(pad));
        a.set("align_corners", align);
        // float32 weights and sums against the reference's double: not bit-exact.
        check_vs_reference(OpKind::kGridSample, {x, grid}, a, 1, 16, 1e-5, 1e-5,
                           std::string("grid_sample ") + mode + " " + pad + " align " + std::to_string(align));
      }
}

TEST(CpuKernelsData, SliceStepsAndClamping) {
  struct Case {
    Dims x;
    std::vector<int64_t> starts, ends, axes, steps;
  };
  const int64_t kBig = std::numeric_limits<int64_t>::max(), kSmall = std::numeric_limits<int64_t>::min();
  const std::vector<Case> cases = {
      {{10}, {2}, {8}, {0}, {1}},          {{10}, {-3}, {kBig}, {0}, {1}},   {{10}, {8}, {1}, {0}, {-2}},
      {{10}, {-1}, {kSmall}, {0}, {-1}},   {{10}, {5}, {5}, {0}, {1}},       {{4, 6}, {1, 0}, {3, 6}, {0, 1}, {1, 2}},
      {{4, 6, 5}, {0, -1}, {kBig, 0}, {-1, 1}, {2, -1}}, {{3, 7}, {100}, {200}, {1}, {1}}, {{0, 4}, {0}, {2}, {1}, {1}},
      {{2, 3, 4, 5}, {1}, {3}, {2}, {1}},  {{7, 3}, {6}, {-100}, {0}, {-3}}};
  for (const Case& c : cases) {
    const std::string what = "slice " + dims_to_string(c.x);
    check(OpKind::kSlice, {random_f32(c.x), ints(c.starts), ints(c.ends), ints(c.axes), ints(c.steps)}, {}, what);
    check(OpKind::kSlice, {random_int(DType::kInt32, c.x, -9, 9), ints(c.starts), ints(c.ends), ints(c.axes)}, {},
          what + " int32 no steps");
  }
  check(OpKind::kSlice, {random_f32({4, 5}), ints({1, 1}), ints({3, 4})}, {}, "slice no axes");
  CpuRun r = run_cpu_kernel(OpKind::kSlice, {random_f32({4}), ints({0}), ints({2}), ints({3})}, {}, 1, 18);
  ASSERT_TRUE(r.supported);
  EXPECT_FALSE(r.status.ok());
}

TEST(CpuKernelsData, ConcatAndSplit) {
  for (int64_t axis : {0, 1, -1, 2}) {
    Attrs a;
    a.set("axis", axis);
    const int64_t ax = axis < 0 ? axis + 3 : axis;
    Dims d1 = {2, 3, 4}, d2 = d1, d3 = d1;
    d2[ax] = 5;
    d3[ax] = 0;
    check(OpKind::kConcat, {random_f32(d1), random_f32(d2), random_f32(d3), random_f32(d1)}, a,
          "concat axis " + std::to_string(axis));
    check(OpKind::kConcat, {random_int(DType::kInt64, d1, -5, 5), random_int(DType::kInt64, d2, -5, 5)}, a,
          "concat i64 axis " + std::to_string(axis));
    Dims sd = {4, 6, 8};
    check(OpKind::kSplit, {random_f32(sd)}, a, "split even axis " + std::to_string(axis), 18, 2);
    check(OpKind::kSplit, {random_f32(sd), ints({1, 0, sd[ax] - 1})}, a, "split sizes " + std::to_string(axis), 18, 3);
    Attrs no = a;
    no.set("num_outputs", int64_t{3});
    check(OpKind::kSplit, {random_f32(sd)}, no, "split num_outputs " + std::to_string(axis), 18, 3);
  }
  Attrs old;
  old.set("split", std::vector<int64_t>{1, 3});
  // Opset < 13 keeps split sizes / axes in attributes (the reference reads inputs only): checked directly.
  CpuRun sp = run_cpu_kernel(OpKind::kSplit, {random_f32({4, 2})}, old, 2, 11);
  ASSERT_TRUE(sp.supported && sp.status.ok());
  EXPECT_EQ(sp.outputs[0].dims(), (Dims{1, 2}));
  EXPECT_EQ(sp.outputs[1].dims(), (Dims{3, 2}));
  check(OpKind::kConcat, {random_f32({300, 200}), random_f32({300, 100})}, [] {
    Attrs a;
    a.set("axis", int64_t{1});
    return a;
  }(), "concat threads", 18, 1, 2);
}

TEST(CpuKernelsData, GatherAxesAndNegativeIndices) {
  for (int64_t axis : {0, 1, -1}) {
    Attrs a;
    a.set("axis", axis);
    Tensor idx = Tensor::from_vector<int64_t>(DType::kInt64, {2, 2}, {0, -1, 2, -3});
    check(OpKind::kGather, {random_f32({3, 4, 5}), idx}, a, "gather axis " + std::to_string(axis));
    Tensor s = Tensor::scalar<int64_t>(DType::kInt64, -2);
    check(OpKind::kGather, {random_int(DType::kInt64, {3, 4, 5}, -9, 9), s}, a, "gather scalar idx " + std::to_string(axis));
    Tensor i32 = Tensor::from_vector<int32_t>(DType::kInt32, {3}, {1, 0, 2});
    check(OpKind::kGather, {random_f32({3, 4, 5}), i32}, a, "gather int32 " + std::to_string(axis));
    check(OpKind::kGather, {random_f32({3, 4, 5}), Tensor(DType::kInt64, {0})}, a, "gather empty " + std::to_string(axis));
  }
  check(OpKind::kGather, {random_f32({30000, 16}), random_int(DType::kInt64, {4, 128}, -30000, 29999)}, {},
        "gather embedding threads", 13, 1, 2);
  CpuRun r = run_cpu_kernel(OpKind::kGather, {random_f32({3, 4}), ints({3})}, {}, 1, 13);
  ASSERT_TRUE(r.supported);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("out of range"), std::string::npos) << r.status.message();
}

TEST(CpuKernelsData, ExpandTileWhere) {
  check(OpKind::kExpand, {random_f32({3, 1}), ints({2, 3, 4})}, {}, "expand");
  check(OpKind::kExpand, {random_f32({1}), ints({5})}, {}, "expand scalar-like");
  check(OpKind::kExpand, {random_int(DType::kInt64, {4}, 0, 9), ints({3, 1})}, {}, "expand smaller shape");
  check(OpKind::kExpand, {random_f32({2, 1, 3}), ints({0, 3})}, {}, "expand with 0 -> error or empty");
  check(OpKind::kTile, {random_f32({2, 3}), ints({2, 3})}, {}, "tile");
  check(OpKind::kTile, {random_int(DType::kInt32, {3, 1, 2}, 0, 9), ints({1, 4, 0})}, {}, "tile zero rep");
  for (auto& [c, x, y] : std::vector<std::tuple<Dims, Dims, Dims>>{
           {{2, 3}, {2, 3}, {2, 3}}, {{3}, {2, 3}, {}}, {{2, 1}, {1, 3}, {2, 3}}, {{0, 3}, {3}, {1}}}) {
    check(OpKind::kWhere, {random_int(DType::kBool, c, 0, 1), random_f32(x), random_f32(y)}, {}, "where " + dims_to_string(c));
    check(OpKind::kWhere, {random_int(DType::kBool, c, 0, 1), random_int(DType::kInt64, x, -5, 5),
                           random_int(DType::kInt64, y, -5, 5)}, {}, "where i64 " + dims_to_string(c));
  }
}

TEST(CpuKernelsData, CastPairs) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor f = Tensor::from_vector<float>(DType::kFloat32, {12},
                                        {0.f, -0.f, 1.5f, -2.7f, 255.9f, 300.2f, -1.f, 1e10f, -3e9f, nan, inf, 65520.f});
  const std::vector<DType> types = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32,
                                    DType::kInt64,   DType::kUInt8,   DType::kBool};
  for (DType to : types) {
    Attrs a;
    a.set("to", static_cast<int64_t>(to));
    check(OpKind::kCast, {f}, a, std::string("cast float32 -> ") + dtype_name(to));
    check(OpKind::kCast, {random_int(DType::kInt64, {3, 5}, -300, 300)}, a, std::string("cast int64 -> ") + dtype_name(to));
    check(OpKind::kCast, {random_int(DType::kInt32, {7}, -300, 300)}, a, std::string("cast int32 -> ") + dtype_name(to));
    check(OpKind::kCast, {random_int(DType::kUInt8, {7}, 0, 255)}, a, std::string("cast uint8 -> ") + dtype_name(to));
    check(OpKind::kCast, {random_int(DType::kBool, {7}, 0, 1)}, a, std::string("cast bool -> ") + dtype_name(to));
    for (DType from : {DType::kFloat16, DType::kBFloat16}) {
      Attrs back;
      back.set("to", static_cast<int64_t>(from));
      auto narrow = run_reference_kernel(OpKind::kCast, {random_f32({9}, -100, 100)}, back, 1, 21);
      ASSERT_TRUE(narrow.ok());
      check(OpKind::kCast, {(*narrow)[0]}, a, std::string("cast ") + dtype_name(from) + " -> " + dtype_name(to));
    }
  }
  Attrs d;
  d.set("to", static_cast<int64_t>(DType::kFloat64));
  EXPECT_FALSE(run_cpu_kernel(OpKind::kCast, {f}, d, 1, 21).supported);
}

TEST(CpuKernelsData, AliasingReshapes) {
  check(OpKind::kReshape, {random_f32({2, 3, 4}), ints({4, -1})}, {}, "reshape");
  check(OpKind::kReshape, {random_f32({2, 3, 4}), ints({0, 12})}, {}, "reshape 0");
  Attrs fl;
  fl.set("axis", int64_t{-1});
  check(OpKind::kFlatten, {random_f32({2, 3, 4})}, fl, "flatten -1");
  check(OpKind::kFlatten, {random_f32({2, 3, 4})}, {}, "flatten default");
  check(OpKind::kSqueeze, {random_f32({1, 3, 1, 2}), ints({0, -2})}, {}, "squeeze axes");
  check(OpKind::kSqueeze, {random_f32({1, 3, 1, 2})}, {}, "squeeze all");
  check(OpKind::kUnsqueeze, {random_f32({3, 2}), ints({0, -1})}, {}, "unsqueeze");
  Attrs old;
  old.set("axes", std::vector<int64_t>{1});
  CpuRun un = run_cpu_kernel(OpKind::kUnsqueeze, {random_f32({3, 2})}, old, 1, 11);
  ASSERT_TRUE(un.supported && un.status.ok());
  EXPECT_EQ(un.outputs[0].dims(), (Dims{3, 1, 2}));
  CpuRun sq = run_cpu_kernel(OpKind::kSqueeze, {random_f32({3, 1})}, old, 1, 11);
  ASSERT_TRUE(sq.supported && sq.status.ok());
  EXPECT_EQ(sq.outputs[0].dims(), (Dims{3}));
  check(OpKind::kIdentity, {random_int(DType::kInt64, {4}, 0, 9)}, {}, "identity");
  CpuRun r = run_cpu_kernel(OpKind::kReshape, {random_f32({2, 3}), ints({4, 2})}, {}, 1, 18);
  ASSERT_TRUE(r.supported);
  EXPECT_FALSE(r.status.ok());
}

TEST(CpuKernelsData, ResizeModes) {
  Tensor x = random_f32({2, 3, 7, 5});
  Tensor none;
  const Tensor up = Tensor::from_vector<float>(DType::kFloat32, {4}, {1.f, 1.f, 2.f, 2.f});
  const Tensor odd = Tensor::from_vector<float>(DType::kFloat32, {4}, {1.f, 1.f, 0.6f, 1.7f});
  const Tensor sizes = ints({2, 3, 13, 4});
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* ctm : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric",
                            "tf_half_pixel_for_nn"}) {
      for (const char* nm : {"round_prefer_floor", "floor", "ceil", "round_prefer_ceil"}) {
        Attrs a;
        a.set("mode", std::string(mode));
        a.set("coordinate_transformation_mode", std::string(ctm));
        a.set("nearest_mode", std::string(nm));
        const std::string what = std::string("resize ") + mode + " " + ctm + " " + nm;
        check_vs_reference(OpKind::kResize, {x, none, up}, a, 1, 19, 1e-5, 1e-6, what + " x2");
        check_vs_reference(OpKind::kResize, {x, none, odd}, a, 1, 19, 1e-5, 1e-6, what + " odd scales");
        check_vs_reference(OpKind::kResize, {x, none, none, sizes}, a, 1, 19, 1e-5, 1e-6, what + " sizes");
        if (std::string(mode) != "nearest") break;  // nearest_mode only matters for nearest
      }
    }
  }
  Attrs ax;
  ax.set("mode", std::string("linear"));
  ax.set("axes", std::vector<int64_t>{-1, 2});
  check_vs_reference(OpKind::kResize, {x, none, none, ints({9, 3})}, ax, 1, 19, 1e-5, 1e-6, "resize axes");
  check_vs_reference(OpKind::kResize, {random_f32({1, 16, 40, 40}), none, up}, {}, 1, 19, 1e-5, 1e-6,
                     "resize threads", 2);
  Attrs cubic;
  cubic.set("mode", std::string("cubic"));
  cubic.set("cubic_coeff_a", -0.5f);
  check_vs_reference(OpKind::kResize, {random_f32({1, 8, 30, 30}), none, up}, cubic, 1, 19, 1e-5, 1e-5,
                     "resize cubic a=-0.5, rows blended, threads", 2);
  check_vs_reference(OpKind::kResize, {random_f32({6, 1}), none, none, ints({13, 1})}, cubic, 1, 19, 1e-5, 1e-5,
                     "resize cubic, outer axis only");
  cubic.set("exclude_outside", int64_t{1});
  EXPECT_FALSE(run_cpu_kernel(OpKind::kResize, {x, none, up}, cubic, 1, 19).supported);
}

TEST(CpuKernelsData, PadModes) {
  const std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{3, 4}, {1, 2, 2, 1}}, {{2, 3, 5}, {0, 1, 2, 1, 0, 3}}, {{4, 5}, {-1, 0, 0, -2}}, {{1, 6}, {0, 5, 0, 5}},
      {{2, 3, 4, 5}, {0, 0, 1, 1, 0, 0, 1, 1}}, {{5}, {3, 4}}, {{2, 0}, {1, 1, 0, 0}}};
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    for (auto& [d, pads] : cases) {
      if (std::string(mode) != "constant" && dims_numel(d) == 0) continue;
      if (std::string(mode) == "reflect" && (d.back() == 1 && pads.back() > 0)) {}  // n == 1 reflects to itself
      Attrs a;
      a.set("mode", std::string(mode));
      const std::string what = std::string("pad ") + mode + " " + dims_to_string(d);
      check(OpKind::kPad, {random_f32(d), ints(pads)}, a, what);
      check(OpKind::kPad, {random_int(DType::kInt64, d, -9, 9), ints(pads)}, a, what + " i64");
    }
  }
  Attrs c;
  c.set("mode", std::string("constant"));
  check(OpKind::kPad, {random_f32({3, 4}), ints({1, 1, 1, 1}), Tensor::scalar<float>(DType::kFloat32, 2.5f)}, c,
        "pad constant value");
  check(OpKind::kPad, {random_f32({3, 4, 5}), ints({2, 1}), Tensor(), ints({-1})}, c, "pad axes");
  check(OpKind::kPad, {random_f32({1, 32, 60, 60}), ints({0, 0, 1, 1, 0, 0, 1, 1})}, c, "pad threads", 18, 1, 2);
}

TEST(CpuKernelsData, ShapeAndSize) {
  Tensor x = random_f32({2, 0, 5, 3});
  check(OpKind::kShape, {x}, {}, "shape");
  Attrs a;
  a.set("start", int64_t{-3});
  a.set("end", int64_t{-1});
  check(OpKind::kShape, {x}, a, "shape start/end");
  check(OpKind::kSize, {x}, {}, "size");
  check(OpKind::kSize, {random_f32({})}, {}, "size scalar");
}

}  // namespace
}  // namespace kiln::cpu::test
