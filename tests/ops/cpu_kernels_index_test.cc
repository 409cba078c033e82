// The CPU indexed-access kernels vs the reference kernels: GatherElements, GatherND (batch_dims), ScatterElements /
// Scatter / ScatterND (every reduction, repeated indices), TopK (ties, NaN, both directions, small and large K,
// middle axes), CumSum (exclusive / reverse, every axis) and Trilu (k of every sign); dtypes, empty and odd shapes,
// two threads, and one-line errors for bad indices.
#include <limits>

#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

void check(OpKind op, const std::vector<Tensor>& in, const Attrs& a, const std::string& what, size_t outs = 1,
           int threads = 1, int opset = 18) {
  check_vs_reference(op, in, a, outs, opset, 0, 0, what, threads);
}

Tensor ints(const Dims& d, const std::vector<int64_t>& v) { return Tensor::from_vector<int64_t>(DType::kInt64, d, v); }

Tensor scalar_i64(int64_t v) { return Tensor::scalar<int64_t>(DType::kInt64, v); }

// Indices in [-dim, dim) for every element of `dims`.
Tensor random_indices(const Dims& dims, int64_t dim, DType dt = DType::kInt64) { return random_int(dt, dims, -dim, dim - 1); }

// Floats with many ties (a few distinct values) and, optionally, NaNs.
Tensor tied_f32(const Dims& d, bool nans) {
  Tensor t = random_int(DType::kInt64, d, -4, 4);
  Tensor f(DType::kFloat32, d);
  for (int64_t i = 0; i < t.numel(); ++i) f.data<float>()[i] = static_cast<float>(t.data<int64_t>()[i]) * 0.5f;
  if (nans)
    for (int64_t i = 3; i < f.numel(); i += 7) f.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  return f;
}

std::string expect_error(OpKind op, const std::vector<Tensor>& in, const Attrs& a, size_t outs = 1) {
  CpuRun r = run_cpu_kernel(op, in, a, outs, 18);
  EXPECT_TRUE(r.supported) << r.why;
  EXPECT_FALSE(r.status.ok());
  return r.status.message();
}

TEST(CpuKernelsIndex, GatherElementsAxesDtypesAndThreads) {
  for (int64_t axis : {0, 1, 2, -1}) {
    Attrs a;
    a.set("axis", axis);
    const int64_t ax = axis < 0 ? 2 : axis;
    const Dims x{4, 5, 6};
    Dims id{3, 4, 5};  // smaller than the data on the other axes, larger on the gathered one
    id[ax] = 7;
    check(OpKind::kGatherElements, {random_f32(x), random_indices(id, x[ax])}, a, "f32 axis " + std::to_string(axis));
    check(OpKind::kGatherElements, {random_int(DType::kInt64, x, -50, 50), random_indices(id, x[ax], DType::kInt32)}, a,
          "i64 data, i32 indices, axis " + std::to_string(axis));
    check(OpKind::kGatherElements, {random_int(DType::kUInt8, x, 0, 255), random_indices(id, x[ax])}, a,
          "u8 axis " + std::to_string(axis));
  }
  Attrs a1;
  a1.set("axis", int64_t{1});
  check(OpKind::kGatherElements, {random_f32({8}), random_indices({5}, 8)}, {}, "rank 1");
  check(OpKind::kGatherElements, {random_f32({3, 4}), Tensor(DType::kInt64, {3, 0})}, a1, "empty indices");
  check(OpKind::kGatherElements, {random_f32({64, 1000}), random_indices({64, 900}, 1000)}, a1, "two threads", 1, 2);
  const std::string e = expect_error(OpKind::kGatherElements, {random_f32({2, 3}), ints({2, 1}, {0, 3})}, a1);
  EXPECT_NE(e.find("index 3 is out of range for axis 1 of size 3"), std::string::npos) << e;
}

TEST(CpuKernelsIndex, GatherNdBatchDimsAndSlices) {
  check(OpKind::kGatherND, {random_f32({2, 2}), ints({2, 2}, {0, 0, 1, 1})}, {}, "elements");
  check(OpKind::kGatherND, {random_f32({2, 2}), ints({2, 1}, {1, 0})}, {}, "rows");
  check(OpKind::kGatherND, {random_f32({3, 4, 5}), random_indices({6, 2}, 3)}, {}, "slices of 5");
  Attrs b1;
  b1.set("batch_dims", int64_t{1});
  check(OpKind::kGatherND, {random_f32({3, 4, 5}), ints({3, 2, 1}, {0, 3, -1, 2, 1, 1})}, b1, "batch_dims 1");
  check(OpKind::kGatherND, {random_int(DType::kInt32, {3, 4, 5}, -9, 9), ints({3, 1, 2}, {0, 4, 3, -5, 1, 2})}, b1,
        "batch_dims 1 int32 elements");
  check(OpKind::kGatherND, {random_f32({200, 64, 8}), random_indices({4000, 2}, 64)}, {}, "two threads", 1, 2);
  const std::string e = expect_error(OpKind::kGatherND, {random_f32({2, 3}), ints({1, 2}, {1, -4})}, {});
  EXPECT_NE(e.find("index -4 is out of range for axis 1 of size 3"), std::string::npos) << e;
}

TEST(CpuKernelsIndex, ScatterElementsEveryReduction) {
  for (const char* red : {"none", "add", "mul", "max", "min"})
    for (int64_t axis : {0, 1, -1}) {
      Attrs a;
      a.set("axis", axis);
      a.set("reduction", std::string(red));
      const int64_t ax = axis < 0 ? 2 : axis;
      const Dims x{4, 5, 6};
      Dims id{3, 4, 5};
      id[ax] = 9;  // more updates than the axis holds: repeated indices
      const std::string w = std::string(red) + " axis " + std::to_string(axis);
      check(OpKind::kScatterElements, {random_f32(x), random_indices(id, x[ax]), random_f32(id)}, a, "f32 " + w, 1, 1, 18);
      check(OpKind::kScatterElements,
            {random_int(DType::kInt64, x, -9, 9), random_indices(id, x[ax], DType::kInt32), random_int(DType::kInt64, id, -9, 9)},
            a, "i64 " + w, 1, 1, 18);
    }
  Attrs a;
  a.set("axis", int64_t{1});
  check(OpKind::kScatter, {random_f32({3, 4}), ints({3, 2}, {0, 3, 1, 1, -1, 2}), random_f32({3, 2})}, a,
        "deprecated Scatter", 1, 1, 10);
  check(OpKind::kScatterElements,
        {random_int(DType::kUInt8, {3, 4}, 0, 255), ints({3, 2}, {0, 3, 1, 1, -1, 2}), random_int(DType::kUInt8, {3, 2}, 0, 255)},
        a, "u8 none");
  // Reductions on other dtypes go to the reference.
  Attrs add;
  add.set("reduction", std::string("add"));
  CpuRun r = run_cpu_kernel(OpKind::kScatterElements,
                            {random_int(DType::kUInt8, {3}, 0, 9), ints({1}, {0}), random_int(DType::kUInt8, {1}, 0, 9)},
                            add, 1, 18);
  EXPECT_FALSE(r.supported);
  const std::string e =
      expect_error(OpKind::kScatterElements, {random_f32({2, 3}), ints({1, 1}, {5}), random_f32({1, 1})}, {});
  EXPECT_NE(e.find("index 5 is out of range for axis 0 of size 2"), std::string::npos) << e;
}

TEST(CpuKernelsIndex, ScatterNdSlicesAndReductions) {
  for (const char* red : {"none", "add", "mul", "max", "min"}) {
    Attrs a;
    a.set("reduction", std::string(red));
    const std::string w = red;
    check(OpKind::kScatterND, {random_f32({4, 5, 6}), random_indices({7, 1}, 4), random_f32({7, 5, 6})}, a, "rows " + w);
    check(OpKind::kScatterND, {random_f32({4, 5, 6}), random_indices({3, 2, 2}, 4), random_f32({3, 2, 6})}, a,
          "2-D tuples " + w);
    check(OpKind::kScatterND,
          {random_int(DType::kInt32, {4, 5}, -9, 9), random_indices({6, 2}, 4), random_int(DType::kInt32, {6}, -9, 9)}, a,
          "int32 elements " + w);
  }
  // A KV-cache style update: write one new position per batch row.
  check(OpKind::kScatterND, {random_f32({2, 8, 16}), ints({2, 1, 2}, {0, 5, 1, 7}), random_f32({2, 1, 16})}, {},
        "cache update");
  const std::string e =
      expect_error(OpKind::kScatterND, {random_f32({2, 3}), ints({1, 2}, {1, 3}), random_f32({1})}, {});
  EXPECT_NE(e.find("index 3 is out of range for axis 1 of size 3"), std::string::npos) << e;
}

TEST(CpuKernelsIndex, TopKTiesNansDirectionsAndAxes) {
  for (int64_t largest : {1, 0})
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{16}, int64_t{17}, int64_t{40}})
      for (int64_t axis : {-1, 1, 0}) {
        Attrs a;
        a.set("axis", axis);
        a.set("largest", largest);
        const Dims d{41, 43, 5};
        const int64_t ax = axis < 0 ? 2 : axis;
        if (k > d[ax]) continue;
        const std::string w = "largest " + std::to_string(largest) + " k " + std::to_string(k) + " axis " + std::to_string(axis);
        check(OpKind::kTopK, {tied_f32(d, true), ints({1}, {k})}, a, "f32 ties+NaN " + w, 2);
        check(OpKind::kTopK, {random_int(DType::kInt64, d, -5, 5), ints({1}, {k})}, a, "i64 " + w, 2);
        check(OpKind::kTopK, {random_int(DType::kInt32, d, -5, 5), ints({1}, {k})}, a, "i32 " + w, 2);
      }
  Attrs last;
  check(OpKind::kTopK, {random_f32({32, 1000}), ints({1}, {3})}, last, "detector scores, two threads", 2, 2);
  check(OpKind::kTopK, {random_f32({4, 300}), ints({1}, {300})}, last, "k = dim (a full sort)", 2, 2);
  Tensor zeros(DType::kFloat32, {2, 6});
  for (int64_t i = 0; i < zeros.numel(); ++i) zeros.data<float>()[i] = (i % 2) ? 0.f : -0.f;
  check(OpKind::kTopK, {zeros, ints({1}, {4})}, last, "signed zeros tie by index", 2);
  const std::string e = expect_error(OpKind::kTopK, {random_f32({2, 3}), ints({1}, {4})}, last, 2);
  EXPECT_NE(e.find("K = 4 must be in [0, 3]"), std::string::npos) << e;
}

TEST(CpuKernelsIndex, CumSumExclusiveReverseAxes) {
  for (int64_t excl : {0, 1})
    for (int64_t rev : {0, 1})
      for (int64_t axis : {0, 1, 2, -1}) {
        Attrs a;
        a.set("exclusive", excl);
        a.set("reverse", rev);
        const std::string w = "excl " + std::to_string(excl) + " rev " + std::to_string(rev) + " axis " + std::to_string(axis);
        // float32 sums in float32 against the reference's: within float rounding.
        check_vs_reference(OpKind::kCumSum, {random_f32({3, 7, 300}), scalar_i64(axis)}, a, 1, 14, 1e-5, 1e-5, "f32 " + w);
        check(OpKind::kCumSum, {random_int(DType::kInt64, {3, 7, 5}, -99, 99), scalar_i64(axis)}, a, "i64 " + w, 1, 1, 14);
        check(OpKind::kCumSum, {random_int(DType::kInt32, {3, 7, 5}, -99, 99), Tensor::scalar<int32_t>(DType::kInt32, axis)},
              a, "i32 " + w, 1, 1, 14);
      }
  check_vs_reference(OpKind::kCumSum, {random_f32({64, 2000}), scalar_i64(1)}, {}, 1, 14, 1e-5, 1e-4, "two threads", 2);
  check(OpKind::kCumSum, {Tensor(DType::kFloat32, {0, 3}), scalar_i64(1)}, {}, "empty", 1, 1, 14);
  const std::string e = expect_error(OpKind::kCumSum, {random_f32({2, 3}), scalar_i64(2)}, {});
  EXPECT_NE(e.find("axis 2 is out of range for rank 2"), std::string::npos) << e;
}

TEST(CpuKernelsIndex, TriluUpperLowerEveryK) {
  for (int64_t upper : {1, 0})
    for (int64_t k : {-7, -2, 0, 1, 3, 9}) {
      Attrs a;
      a.set("upper", upper);
      const std::string w = "upper " + std::to_string(upper) + " k " + std::to_string(k);
      check(OpKind::kTrilu, {random_f32({2, 5, 7}), scalar_i64(k)}, a, "f32 5x7 " + w, 1, 1, 14);
      check(OpKind::kTrilu, {random_int(DType::kInt64, {7, 4}, -9, 9), scalar_i64(k)}, a, "i64 7x4 " + w, 1, 1, 14);
    }
  check(OpKind::kTrilu, {random_f32({3, 6, 6})}, {}, "no k", 1, 1, 14);
  check(OpKind::kTrilu, {random_f32({4, 512, 512}), scalar_i64(1)}, {}, "two threads", 1, 2, 14);
  check(OpKind::kTrilu, {random_f32({2, 0, 3})}, {}, "empty", 1, 1, 14);
}

}  // namespace
}  // namespace kiln::cpu::test

namespace kiln::cpu::test {
namespace {

TEST(CpuKernelsIndex, NonZeroDtypesRanksAndSpecialValues) {
  for (DType dt : {DType::kBool, DType::kUInt8, DType::kInt8, DType::kInt32, DType::kInt64})
    for (const Dims& d : {Dims{7}, Dims{3, 4}, Dims{2, 3, 5}, Dims{}, Dims{0, 3}})
      check_vs_reference(OpKind::kNonZero, {random_int(dt, d, 0, 2)}, {}, 1, 13, 0, 0,
                         std::string("nonzero ") + dtype_name(dt) + " " + dims_to_string(d));
  Tensor f(DType::kFloat32, {4, 6});
  const float specials[] = {0.f, -0.f, 1.f, std::numeric_limits<float>::quiet_NaN(), 1e-40f, -2.f};
  for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] = specials[i % 6];
  check_vs_reference(OpKind::kNonZero, {f}, {}, 1, 13, 0, 0, "nonzero f32: -0 is zero, NaN and denormals are not");
}

}  // namespace
}  // namespace kiln::cpu::test
