// The hand-written CPU Softmax/LogSoftmax, LayerNormalization/RMSNormalization/FusedAddLayerNorm and
// reduction kernels vs the reference kernels: every axis (negative too), opset < 13 softmax coercion, odd and
// empty shapes, threads. Tolerance |cpu - ref| <= 1e-5 + 1e-4 * |ref| (float32 accumulation vs double).
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/norm_rows.h"
#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

constexpr double kRel = 1e-4, kAbs = 1e-5;

Attrs axis_attr(int64_t axis) {
  Attrs a;
  a.set("axis", axis);
  return a;
}

TEST(CpuKernelsNorm, SoftmaxEveryAxisAndOpset) {
  const std::vector<Dims> shapes = {{1}, {7}, {3, 5}, {2, 3, 17}, {2, 1, 4, 9}, {4, 0, 3}, {1, 100}};
  for (const Dims& d : shapes) {
    const int64_t r = static_cast<int64_t>(d.size());
    for (int64_t axis = -r; axis < r; ++axis) {
      for (int opset : {11, 13}) {
        for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax}) {
          const std::string what = std::string(op_name(op)) + " " + dims_to_string(d) + " axis " +
                                    std::to_string(axis) + " opset " + std::to_string(opset);
          check_vs_reference(op, {random_f32(d, -10, 10)}, axis_attr(axis), 1, opset, kRel, kAbs, what);
        }
      }
    }
  }
  check_vs_reference(OpKind::kSoftmax, {random_f32({2, 3, 4})}, {}, 1, 1, kRel, kAbs, "softmax opset 1 default axis");
  check_vs_reference(OpKind::kSoftmax, {random_f32({64, 1000}, -50, 50)}, {}, 1, 13, kRel, kAbs, "softmax threads", 2);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  check_vs_reference(OpKind::kSoftmax, {Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {1, nan, 2, -inf, 0, 1})},
                     {}, 1, 13, kRel, kAbs, "softmax nan/-inf");
}

// Rows shorter than 16 run 16 at a time as transposed columns; a non-innermost axis runs as vectors across the inner
// positions (256 per task): full blocks, tails, NaN and -inf lanes next to finite ones, both ops, two threads.
TEST(CpuKernelsNorm, SoftmaxShortRowsAndColumns) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax}) {
    const std::string name = op_name(op);
    for (const Dims& d : {Dims{37, 10}, Dims{16, 2}, Dims{5, 15}, Dims{3, 1}, Dims{2, 40, 1}}) {
      Tensor x = random_f32(d, -20, 20);
      if (x.numel() > 24) {
        x.data<float>()[3] = nan;  // one row of the first block NaN, the rows beside it finite
        for (int64_t j = 0; j < d.back(); ++j) x.data<float>()[d.back() * 2 + j] = -inf;
        x.data<float>()[d.back() * 4 + 1] = inf;
      }
      check_vs_reference(op, {x}, axis_attr(-1), 1, 13, kRel, kAbs, name + " short rows " + dims_to_string(d));
    }
    for (const Dims& d : {Dims{3, 5, 300}, Dims{2, 16, 17}, Dims{1, 7, 600}}) {
      Tensor x = random_f32(d, -20, 20);
      x.data<float>()[d[2] + 7] = nan;  // column 7 of the first block
      check_vs_reference(op, {x}, axis_attr(1), 1, 13, kRel, kAbs, name + " columns " + dims_to_string(d));
    }
    check_vs_reference(op, {random_f32({4000, 12}, -20, 20)}, axis_attr(-1), 1, 13, kRel, kAbs,
                       name + " short rows, two threads", 2);
    check_vs_reference(op, {random_f32({8, 16, 700}, -20, 20)}, axis_attr(1), 1, 13, kRel, kAbs,
                       name + " columns, two threads", 2);
  }
}

// row_max / row_min (Softmax, attention, reductions): whole 16-float vectors, then the tail; any NaN wins.
TEST(CpuKernelsNorm, RowMaxMinVectorsTailsAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(kern::row_max(nullptr, 0), -inf);
  EXPECT_EQ(kern::row_min(nullptr, 0), inf);
  for (int64_t n : {1, 15, 16, 17, 33, 128, 131}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((i * 37) % 101) - 50.f;
    const int64_t hi = n / 2, lo = n - 1;
    x[hi] = 1000.f;
    x[lo] = -1000.f;
    const std::string what = "n " + std::to_string(n);
    EXPECT_EQ(kern::row_max(x.data(), n), n == 1 ? -1000.f : 1000.f) << what;
    EXPECT_EQ(kern::row_min(x.data(), n), -1000.f) << what;
    for (int64_t at : {int64_t{0}, n / 3, n - 1}) {  // NaN in the first vector, the middle, the tail
      std::vector<float> y = x;
      y[at] = nan;
      EXPECT_TRUE(std::isnan(kern::row_max(y.data(), n))) << what << " NaN at " << at;
      EXPECT_TRUE(std::isnan(kern::row_min(y.data(), n))) << what << " NaN at " << at;
    }
    std::vector<float> all(static_cast<size_t>(n), -inf);
    EXPECT_EQ(kern::row_max(all.data(), n), -inf) << what;
  }
}

TEST(CpuKernelsNorm, LayerNormAndRmsNorm) {
  struct Case {
    Dims x;
    int64_t axis;
    Dims scale;
  };
  const std::vector<Case> cases = {{{2, 3, 8}, -1, {8}},       {{2, 3, 8}, -2, {3, 8}},   {{2, 3, 8}, 1, {1, 8}},
                                   {{5, 31}, -1, {31}},         {{1, 7}, 0, {1, 7}},       {{3, 4, 5}, -1, {1}},
                                   {{0, 16}, -1, {16}},         {{128, 768}, -1, {768}}};
  for (const Case& c : cases) {
    const std::string what = dims_to_string(c.x) + " axis " + std::to_string(c.axis);
    Attrs a = axis_attr(c.axis);
    a.set("epsilon", 1e-3f);
    Tensor x = random_f32(c.x, -4, 6), s = random_f32(c.scale), b = random_f32(c.scale);
    check_vs_reference(OpKind::kLayerNormalization, {x, s, b}, a, 3, 17, kRel, kAbs, "LN " + what, 2);
    check_vs_reference(OpKind::kLayerNormalization, {x, s}, a, 1, 17, kRel, kAbs, "LN no bias " + what);
    check_vs_reference(OpKind::kRMSNormalization, {x, s}, a, 1, 23, kRel, kAbs, "RMS " + what);
  }
  Attrs st = axis_attr(-1);
  st.set("stash_type", int64_t{11});
  EXPECT_FALSE(run_cpu_kernel(OpKind::kLayerNormalization, {random_f32({2, 4}), random_f32({4})}, st, 1, 17).supported);
}

TEST(CpuKernelsNorm, FusedAddLayerNorm) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{2, 3, 8}, {2, 3, 8}}, {{2, 3, 8}, {3, 8}}, {{2, 3, 8}, {1, 8}}, {{4, 5}, {5}}, {{64, 384}, {64, 384}}};
  for (auto& [xd, rd] : cases) {
    const int64_t c = xd.back();
    Attrs a;
    a.set("epsilon", 1e-5f);
    check_vs_reference(OpKind::kFusedAddLayerNorm, {random_f32(xd), random_f32(rd), random_f32({c}), random_f32({c})}, a,
                       1, 1, kRel, kAbs, "add LN " + dims_to_string(xd) + " + " + dims_to_string(rd), 2);
    check_vs_reference(OpKind::kFusedAddLayerNorm, {random_f32(xd), random_f32(rd), random_f32({c})}, a, 1, 1, kRel,
                       kAbs, "add LN no bias " + dims_to_string(xd));
  }
}

TEST(CpuKernelsNorm, GroupAndInstanceNorm) {
  const std::vector<std::pair<Dims, int64_t>> cases = {{{2, 6, 5}, 3}, {{1, 8, 4, 4}, 2}, {{3, 4, 7}, 4}, {{2, 6, 1}, 1},
                                                        {{1, 32, 16, 16}, 8}, {{2, 4, 0}, 2}};
  for (auto& [d, g] : cases) {
    const int64_t c = d[1];
    Attrs a;
    a.set("num_groups", g);
    a.set("epsilon", 1e-4f);
    const std::string what = dims_to_string(d) + " groups " + std::to_string(g);
    check_vs_reference(OpKind::kGroupNormalization, {random_f32(d, -2, 5), random_f32({g}), random_f32({g})}, a, 1, 18,
                       kRel, kAbs, "group norm per group " + what);
    check_vs_reference(OpKind::kGroupNormalization, {random_f32(d, -2, 5), random_f32({c}), random_f32({c})}, a, 1, 21,
                       kRel, kAbs, "group norm per channel " + what, 2);
    if (d.size() >= 3)
      check_vs_reference(OpKind::kInstanceNormalization, {random_f32(d, -2, 5), random_f32({c}), random_f32({c})}, {}, 1,
                         6, kRel, kAbs, "instance norm " + dims_to_string(d));
  }
}

TEST(CpuKernelsNorm, BatchNormInference) {
  for (const Dims& d : {Dims{2, 5}, Dims{2, 3, 7}, Dims{3, 4, 5, 6}, Dims{1, 8, 2, 3, 4}}) {
    const int64_t c = d[1];
    Attrs a;
    a.set("epsilon", 1e-3f);
    // Variance must be non-negative: draw it from [0.1, 2].
    check_vs_reference(OpKind::kBatchNormalization,
                       {random_f32(d, -2, 5), random_f32({c}), random_f32({c}), random_f32({c}), random_f32({c}, 0.1, 2)},
                       a, 1, 15, kRel, kAbs, "batch norm " + dims_to_string(d), 2);
  }
}

TEST(CpuKernelsNorm, ArgMaxArgMin) {
  for (OpKind op : {OpKind::kArgMax, OpKind::kArgMin})
    for (const Dims& d : {Dims{7}, Dims{3, 5}, Dims{2, 21, 6, 5}, Dims{5, 40}, Dims{3, 300, 17}})
      for (int64_t axis = -static_cast<int64_t>(d.size()); axis < static_cast<int64_t>(d.size()); ++axis)
        for (int64_t keep : {0, 1})
          for (int64_t last : {0, 1}) {
            Attrs a;
            a.set("axis", axis);
            a.set("keepdims", keep);
            a.set("select_last_index", last);
            // Rounded values make ties, where select_last_index matters.
            Tensor x = random_f32(d, -3, 3);
            for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::round(x.data<float>()[i]);
            // A NaN in some rows (it wins wherever it is).
            for (int64_t i = 4; i < x.numel(); i += 11) x.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
            check_vs_reference(op, {x}, a, 1, 13, 0, 0,
                               std::string(op_name(op)) + " " + dims_to_string(d) + " axis " + std::to_string(axis) +
                                   " keep " + std::to_string(keep) + " last " + std::to_string(last));
          }
}

Tensor axes_tensor(const std::vector<int64_t>& axes) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(axes.size())}, axes);
}

TEST(CpuKernelsNorm, ReductionsOverAnyAxes) {
  const std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{2, 3, 5}, {-1}},     {{2, 3, 5}, {0}},   {{2, 3, 5}, {1}},        {{2, 3, 5}, {0, 2}}, {{2, 3, 5}, {}},
      {{2, 3, 5, 7}, {1, 3}}, {{4, 1, 6}, {1}}, {{1, 16, 7, 7}, {2, 3}}, {{3, 0, 2}, {1}},    {{3, 0, 2}, {0}},
      {{11}, {0}},            {{}, {}},          {{8, 300}, {-2}},        {{37, 10}, {-1}},    {{3, 40, 20}, {2}}};
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax, OpKind::kReduceMin, OpKind::kReduceL2,
                    OpKind::kReduceSumSquare}) {
    for (auto& [d, axes] : cases) {
      for (int64_t keep : {0, 1}) {
        const bool empty_red = dims_numel(d) == 0;
        if (empty_red && (op == OpKind::kReduceMax || op == OpKind::kReduceMin)) continue;
        Attrs a;
        a.set("keepdims", keep);
        const std::string what = std::string(op_name(op)) + " " + dims_to_string(d) + " keep " + std::to_string(keep);
        std::vector<Tensor> in = {random_f32(d)};
        if (!axes.empty()) in.push_back(axes_tensor(axes));
        check_vs_reference(op, in, a, 1, 18, kRel, kAbs, what);
        if (op == OpKind::kReduceSum) {
          Attrs old = a;
          if (!axes.empty()) old.set("axes", axes);
          check_vs_reference(OpKind::kReduceMean, {in[0]}, old, 1, 13, kRel, kAbs, what + " opset 13 attr");
        }
      }
    }
  }
  // Short rows (16 at a time as columns) with NaN in some rows: max/min take it, sums carry it.
  Tensor nan_rows = random_f32({37, 10});
  for (int64_t i = 5; i < nan_rows.numel(); i += 47) nan_rows.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  for (OpKind op : {OpKind::kReduceMax, OpKind::kReduceMin, OpKind::kReduceSum})
    check_vs_reference(op, {nan_rows, axes_tensor({-1})}, {}, 1, 18, kRel, kAbs, std::string(op_name(op)) + " NaN rows");
  // Old opsets whose `axes` the importer moved into input 1: the input wins.
  check_vs_reference(OpKind::kReduceMax, {random_f32({2, 4}), axes_tensor({-1})}, {}, 1, 13, kRel, kAbs, "max opset 13 axes input");
  Attrs noop;
  noop.set("noop_with_empty_axes", int64_t{1});
  check_vs_reference(OpKind::kReduceSum, {random_f32({3, 4})}, noop, 1, 18, kRel, kAbs, "noop_with_empty_axes");
  check_vs_reference(OpKind::kReduceMean, {random_f32({64, 2000}), axes_tensor({1})}, {}, 1, 18, kRel, kAbs, "threads", 2);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor xn = Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {1, nan, 2, 3, 4, 5});
  check_vs_reference(OpKind::kReduceMax, {xn, axes_tensor({1})}, {}, 1, 18, kRel, kAbs, "max nan rows");
  check_vs_reference(OpKind::kReduceMax, {xn, axes_tensor({0})}, {}, 1, 18, kRel, kAbs, "max nan cols");
}

}  // namespace
}  // namespace kiln::cpu::test
