// The hand-written CPU elementwise kernels vs the reference kernels: unary math and activations, broadcasting
// binary arithmetic (float32, int32, int64), FusedElementwise programs; odd shapes, threads, refusals.
// Tolerance: |cpu - ref| <= 1e-6 + 1e-5 * |ref| (fast exp/tanh/erf), exact for integer ops.
#include <limits>

#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

constexpr double kRel = 1e-5, kAbs = 1e-6;

const std::vector<Dims> kShapes = {{}, {1}, {7}, {0}, {3, 0, 2}, {2, 3, 5}, {1, 1, 13}, {4, 17, 31}, {2, 3, 64, 65}};

Attrs attrs_f(std::initializer_list<std::pair<const char*, float>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

TEST(CpuKernelsElementwise, UnaryOpsMatchReference) {
  struct Case {
    OpKind op;
    Attrs attrs;
    float lo, hi;
  };
  std::vector<Case> cases = {
      {OpKind::kRelu, {}, -3, 3},        {OpKind::kNeg, {}, -3, 3},         {OpKind::kAbs, {}, -3, 3},
      {OpKind::kSigmoid, {}, -30, 30},   {OpKind::kTanh, {}, -12, 12},      {OpKind::kTanh, {}, -0.7f, 0.7f},
      {OpKind::kExp, {}, -100, 100},     {OpKind::kExp, {}, -1, 1},         {OpKind::kLog, {}, 0.001f, 50},
      {OpKind::kSqrt, {}, 0, 50},        {OpKind::kReciprocal, {}, 0.1f, 5}, {OpKind::kErf, {}, -5, 5},
      {OpKind::kErf, {}, -0.6f, 0.6f},   {OpKind::kGelu, {}, -8, 8},        {OpKind::kFloor, {}, -5, 5},
      {OpKind::kCeil, {}, -5, 5},        {OpKind::kRound, {}, -5, 5},       {OpKind::kSign, {}, -2, 2},
      {OpKind::kHardSwish, {}, -8, 8},   {OpKind::kSoftplus, {}, -20, 20},
      {OpKind::kLeakyRelu, attrs_f({{"alpha", 0.2f}}), -3, 3},
      {OpKind::kHardSigmoid, attrs_f({{"alpha", 0.3f}, {"beta", 0.4f}}), -5, 5},
      {OpKind::kElu, attrs_f({{"alpha", 0.7f}}), -5, 5},
      {OpKind::kMish, {}, -30, 30},      {OpKind::kMish, {}, -1, 1},        {OpKind::kSoftsign, {}, -9, 9},
      {OpKind::kSin, {}, -20, 20},       {OpKind::kCos, {}, -20, 20},       {OpKind::kSelu, {}, -5, 5},
      {OpKind::kSelu, attrs_f({{"alpha", 2.f}, {"gamma", 0.5f}}), -5, 5},
      {OpKind::kCelu, attrs_f({{"alpha", 0.5f}}), -5, 5},
      {OpKind::kThresholdedRelu, attrs_f({{"alpha", 0.4f}}), -2, 2},
  };
  Attrs tanh_gelu;
  tanh_gelu.set("approximate", std::string("tanh"));
  cases.push_back({OpKind::kGelu, tanh_gelu, -8, 8});
  for (const Case& c : cases) {
    for (const Dims& d : kShapes) {
      const std::string what = std::string(op_name(c.op)) + " " + dims_to_string(d);
      check_vs_reference(c.op, {random_f32(d, c.lo, c.hi)}, c.attrs, 1, 20, kRel, kAbs, what);
    }
  }
}

TEST(CpuKernelsElementwise, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_vector<float>(DType::kFloat32, {9}, {0.f, -0.f, inf, -inf, nan, 88.8f, -88.f, 1e-8f, -1e-8f});
  for (OpKind op : {OpKind::kRelu, OpKind::kSigmoid, OpKind::kTanh, OpKind::kExp, OpKind::kErf, OpKind::kGelu,
                    OpKind::kAbs, OpKind::kNeg, OpKind::kFloor, OpKind::kSoftplus, OpKind::kMish})
    check_vs_reference(op, {x}, {}, 1, 20, kRel, kAbs, std::string("special ") + op_name(op));
}

TEST(CpuKernelsElementwise, LargeTensorsUseThreads) {
  Tensor x = random_f32({3, 100003}, -6, 6);
  for (OpKind op : {OpKind::kSigmoid, OpKind::kGelu, OpKind::kRelu})
    check_vs_reference(op, {x}, {}, 1, 20, kRel, kAbs, std::string("threads ") + op_name(op), 2);
  check_vs_reference(OpKind::kAdd, {x, random_f32({100003})}, {}, 1, 14, kRel, kAbs, "threads add", 2);
  check_vs_reference(OpKind::kMul, {random_f32({2, 1}), random_f32({1, 70001})}, {}, 1, 14, kRel, kAbs,
                     "threads outer product", 2);
}

TEST(CpuKernelsElementwise, ClipBoundsAsInputsAndAttributes) {
  Tensor x = random_f32({5, 7}, -4, 4);
  check_vs_reference(OpKind::kClip, {x, Tensor::scalar<float>(DType::kFloat32, -1.f), Tensor::scalar<float>(DType::kFloat32, 2.f)},
                     {}, 1, 13, kRel, kAbs, "clip both");
  check_vs_reference(OpKind::kClip, {x, Tensor(), Tensor::scalar<float>(DType::kFloat32, 0.5f)}, {}, 1, 13, kRel, kAbs,
                     "clip max only");
  check_vs_reference(OpKind::kClip, {x}, {}, 1, 13, kRel, kAbs, "clip none");
  // Opset < 11 (bounds as attributes) is left to the reference.
  EXPECT_FALSE(run_cpu_kernel(OpKind::kClip, {x}, attrs_f({{"min", -0.5f}, {"max", 0.25f}}), 1, 6).supported);
}

TEST(CpuKernelsElementwise, BinaryBroadcastingMatchesReference) {
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{}, {}},           {{7}, {}},          {{}, {7}},           {{2, 3, 5}, {2, 3, 5}}, {{2, 3, 5}, {5}},
      {{2, 3, 5}, {3, 1}}, {{2, 1, 5}, {1, 3, 1}}, {{4, 1}, {1, 6}}, {{1, 16, 7, 7}, {1, 16, 1, 1}},
      {{0, 3}, {1, 3}},   {{3, 0}, {3, 1}},   {{1}, {13, 1, 11}},  {{2, 3, 4, 5}, {1, 3, 1, 5}}};
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMax, OpKind::kMin, OpKind::kPow,
                    OpKind::kPRelu}) {
    for (auto& [a, b] : shapes) {
      // PRelu's slope broadcasts to X only: skip the pairs where b has a dim a lacks or is larger.
      bool into_a = b.size() <= a.size();
      for (size_t i = 0; into_a && i < b.size(); ++i) {
        const int64_t bd = b[b.size() - 1 - i], ad = a[a.size() - 1 - i];
        into_a = bd == ad || bd == 1;
      }
      if (op == OpKind::kPRelu && !into_a) continue;
      const bool pw = op == OpKind::kPow;
      Tensor ta = random_f32(a, pw ? 0.1f : -3.f, 3.f), tb = random_f32(b, pw ? -2.f : 0.2f, 3.f);
      check_vs_reference(op, {ta, tb}, {}, 1, 14, kRel, kAbs,
                         std::string(op_name(op)) + " " + dims_to_string(a) + " . " + dims_to_string(b));
    }
  }
}

TEST(CpuKernelsElementwise, PowConstantExponents) {
  Tensor x = random_f32({3, 11}, -3, 3);
  for (float e : {2.f, 1.f, 3.f, 0.5f})
    check_vs_reference(OpKind::kPow, {x, Tensor::scalar<float>(DType::kFloat32, e)}, {}, 1, 15, kRel, kAbs,
                       "pow " + std::to_string(e));
}

TEST(CpuKernelsElementwise, MaxMinPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = Tensor::from_vector<float>(DType::kFloat32, {4}, {nan, 1.f, 2.f, nan});
  Tensor b = Tensor::from_vector<float>(DType::kFloat32, {4}, {1.f, nan, 3.f, nan});
  check_vs_reference(OpKind::kMax, {a, b}, {}, 1, 13, kRel, kAbs, "max nan");
  check_vs_reference(OpKind::kMin, {a, b}, {}, 1, 13, kRel, kAbs, "min nan");
}

// Sum / Mean / Max / Min of 1 to 5 inputs broadcast together (the variadic kernel; Max/Min of two stay binary), NaN,
// two threads, and a clear error when the shapes do not broadcast. Same float32 fold order as the reference: exact.
TEST(CpuKernelsElementwise, VariadicSumMeanMaxMin) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::vector<Dims>> sets = {
      {{3, 4}}, {{3, 4}, {3, 4}}, {{2, 3, 4}, {4}, {3, 1}, {}}, {{1, 5, 1}, {2, 1, 7}, {7}, {2, 5, 7}, {1}}};
  for (OpKind op : {OpKind::kSum, OpKind::kMean, OpKind::kMax, OpKind::kMin})
    for (const auto& shapes : sets) {
      std::vector<Tensor> in;
      for (const Dims& d : shapes) in.push_back(random_f32(d));
      if (in.size() > 2) in[1].data<float>()[0] = nan;
      std::string what = std::string(op_name(op)) + " of " + std::to_string(in.size());
      check_vs_reference(op, in, {}, 1, 13, 0, 0, what);
    }
  check_vs_reference(OpKind::kSum, {random_f32({64, 2000}), random_f32({2000}), random_f32({64, 1})}, {}, 1, 13, 0, 0,
                     "sum threads", 2);
  CpuRun r = run_cpu_kernel(OpKind::kSum, {random_f32({3}), random_f32({4}), random_f32({3})}, {}, 1, 13);
  ASSERT_TRUE(r.supported);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("do not broadcast"), std::string::npos) << r.status.message();
}

TEST(CpuKernelsElementwise, IntegerAddSubMul) {
  for (DType dt : {DType::kInt32, DType::kInt64}) {
    for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul}) {
      check_vs_reference(op, {random_int(dt, {3, 5}, -1000, 1000), random_int(dt, {5}, -1000, 1000)}, {}, 1, 14, 0, 0,
                         std::string(op_name(op)) + " " + dtype_name(dt));
      check_vs_reference(op, {random_int(dt, {}, -9, 9), random_int(dt, {2, 1, 3}, -9, 9)}, {}, 1, 14, 0, 0,
                         std::string(op_name(op)) + " scalar " + dtype_name(dt));
    }
  }
}

TEST(CpuKernelsElementwise, RefusesWhatItDoesNotRun) {
  Tensor d(DType::kFloat64, {3});
  EXPECT_FALSE(run_cpu_kernel(OpKind::kRelu, {d}, {}, 1, 14).supported);
  EXPECT_FALSE(run_cpu_kernel(OpKind::kDiv, {random_int(DType::kUInt8, {3}, 1, 5), random_int(DType::kUInt8, {3}, 1, 5)},
                              {}, 1, 14).supported);
  EXPECT_FALSE(run_cpu_kernel(OpKind::kAdd, {random_f32({3}), random_f32({3})}, {}, 1, 6).supported);
  Attrs bad;
  bad.set("approximate", std::string("fast"));
  EXPECT_FALSE(run_cpu_kernel(OpKind::kGelu, {random_f32({3})}, bad, 1, 20).supported);
  // A shape mismatch at run time is a clear error, not a crash.
  CpuRun r = run_cpu_kernel(OpKind::kAdd, {random_f32({3}), random_f32({4})}, {}, 1, 14);
  ASSERT_TRUE(r.supported);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("node 'n'"), std::string::npos) << r.status.message();
}

TEST(CpuKernelsElementwise, ComparisonsLogicAndShapeArithmetic) {
  const std::vector<std::pair<Dims, Dims>> shapes = {{{3, 5}, {5}}, {{}, {4}}, {{2, 1, 3}, {1, 4, 1}}, {{0, 2}, {2}}};
  for (OpKind op : {OpKind::kEqual, OpKind::kLess, OpKind::kLessOrEqual, OpKind::kGreater, OpKind::kGreaterOrEqual}) {
    for (auto& [a, b] : shapes) {
      const std::string what = std::string(op_name(op)) + " " + dims_to_string(a) + " . " + dims_to_string(b);
      check_vs_reference(op, {random_int(DType::kInt64, a, -2, 2), random_int(DType::kInt64, b, -2, 2)}, {}, 1, 13, 0, 0, what);
      check_vs_reference(op, {random_int(DType::kInt32, a, -2, 2), random_int(DType::kInt32, b, -2, 2)}, {}, 1, 13, 0, 0, what);
      Tensor fa = random_f32(a), fb = random_f32(b);
      if (fa.numel() > 0 && fb.numel() > 0) fa.data<float>()[0] = fb.data<float>()[0];  // some equal pairs
      check_vs_reference(op, {fa, fb}, {}, 1, 13, 0, 0, what + " f32");
    }
  }
  for (OpKind op : {OpKind::kAnd, OpKind::kOr, OpKind::kXor, OpKind::kEqual})
    check_vs_reference(op, {random_int(DType::kBool, {3, 4}, 0, 1), random_int(DType::kBool, {4}, 0, 1)}, {}, 1, 13, 0, 0,
                       std::string(op_name(op)) + " bool");
  check_vs_reference(OpKind::kNot, {random_int(DType::kBool, {7}, 0, 1)}, {}, 1, 13, 0, 0, "not");
  for (DType dt : {DType::kInt32, DType::kInt64}) {
    Tensor a = random_int(dt, {4, 5}, -50, 50), b = random_int(dt, {5}, 1, 7);
    b.dtype() == DType::kInt64 ? (void)(b.data<int64_t>()[1] = -3) : (void)(b.data<int32_t>()[1] = -3);
    check_vs_reference(OpKind::kDiv, {a, b}, {}, 1, 14, 0, 0, std::string("int div ") + dtype_name(dt));
  }
  CpuRun z = run_cpu_kernel(OpKind::kDiv, {random_int(DType::kInt64, {2}, 1, 5), Tensor(DType::kInt64, {2})}, {}, 1, 14);
  ASSERT_TRUE(z.supported);
  EXPECT_FALSE(z.status.ok());
  for (int64_t fmod : {0, 1})
    for (DType dt : {DType::kInt32, DType::kInt64}) {  // every sign combination, and the lowest() % -1 trap
      Tensor a = random_int(dt, {4, 6}, -50, 50), b = random_int(dt, {6}, -7, 7);
      for (int64_t i = 0; i < 6; ++i) {
        const int64_t v = i == 0 ? -1 : (i == 1 ? 3 : (i == 2 ? -3 : 0));
        if (v == 0) continue;
        dt == DType::kInt64 ? (void)(b.data<int64_t>()[i] = v) : (void)(b.data<int32_t>()[i] = static_cast<int32_t>(v));
      }
      for (int64_t i = 0; i < 6; ++i) {  // no zero divisors
        if (dt == DType::kInt64 && b.data<int64_t>()[i] == 0) b.data<int64_t>()[i] = 5;
        if (dt == DType::kInt32 && b.data<int32_t>()[i] == 0) b.data<int32_t>()[i] = 5;
      }
      dt == DType::kInt64 ? (void)(a.data<int64_t>()[0] = std::numeric_limits<int64_t>::lowest())
                          : (void)(a.data<int32_t>()[0] = std::numeric_limits<int32_t>::lowest());
      Attrs m;
      m.set("fmod", fmod);
      check_vs_reference(OpKind::kMod, {a, b}, m, 1, 13, 0, 0, "mod fmod " + std::to_string(fmod) + " " + dtype_name(dt));
    }
  Attrs fm;
  fm.set("fmod", int64_t{1});
  check_vs_reference(OpKind::kMod, {random_f32({3, 5}, -9.f, 9.f), random_f32({5}, 0.5f, 3.f)}, fm, 1, 13, 0, 0, "mod f32");
  CpuRun mz = run_cpu_kernel(OpKind::kMod, {random_int(DType::kInt32, {2}, 1, 5), Tensor(DType::kInt32, {2})}, {}, 1, 13);
  ASSERT_TRUE(mz.supported);
  EXPECT_NE(mz.status.message().find("integer division by zero"), std::string::npos) << mz.status.message();
  CpuRun mf = run_cpu_kernel(OpKind::kMod, {random_f32({2}), random_f32({2})}, {}, 1, 13);
  ASSERT_TRUE(mf.supported);
  EXPECT_NE(mf.status.message().find("fmod must be 1"), std::string::npos) << mf.status.message();
  auto s = [](DType dt, double v) {
    if (dt == DType::kFloat32) return Tensor::scalar<float>(dt, static_cast<float>(v));
    if (dt == DType::kInt32) return Tensor::scalar<int32_t>(dt, static_cast<int32_t>(v));
    return Tensor::scalar<int64_t>(dt, static_cast<int64_t>(v));
  };
  for (DType dt : {DType::kFloat32, DType::kInt32, DType::kInt64}) {
    check_vs_reference(OpKind::kRange, {s(dt, 1), s(dt, 11), s(dt, 3)}, {}, 1, 11, 0, 0, "range");
    check_vs_reference(OpKind::kRange, {s(dt, 5), s(dt, -4), s(dt, -2)}, {}, 1, 11, 0, 0, "range down");
    check_vs_reference(OpKind::kRange, {s(dt, 5), s(dt, 5), s(dt, 1)}, {}, 1, 11, 0, 0, "range empty");
  }
  Tensor shape = Tensor::from_vector<int64_t>(DType::kInt64, {3}, {2, 0, 3});
  check_vs_reference(OpKind::kConstantOfShape, {shape}, {}, 1, 20, 0, 0, "constant of shape default");
  Attrs v;
  v.set("value", Tensor::from_vector<int64_t>(DType::kInt64, {1}, {7}));
  check_vs_reference(OpKind::kConstantOfShape, {Tensor::from_vector<int64_t>(DType::kInt64, {2}, {2, 3})}, v, 1, 20, 0, 0,
                     "constant of shape int64");
}

Attrs program(std::vector<std::string> lines) {
  Attrs a;
  a.set("program", lines);
  return a;
}

TEST(CpuKernelsElementwise, FusedElementwisePrograms) {
  struct Case {
    std::vector<std::string> lines;
    std::vector<Dims> in;
  };
  const std::vector<Case> cases = {
      {{"Add i0 i1", "Relu s0"}, {{2, 3, 5}, {5}}},
      {{"Mul i0 #0.5", "Add s0 i1", "Sigmoid s1", "Mul s2 i0"}, {{4, 33}, {4, 1}}},
      {{"Gelu i0"}, {{1, 7}}},
      {{"Sub i0 i1", "Mul s0 s0", "Sqrt s1", "Clip s2 #0.1 #2"}, {{3, 1, 5}, {1, 4, 1}}},
      {{"Exp #1", "Mul i0 s0", "LeakyRelu s1 #0.1"}, {{300, 3}}},
      {{"Max i0 i1", "Min s0 i2", "Tanh s1"}, {{}, {9}, {2, 1}}},
      {{"Div i0 i1", "Neg s0"}, {{0, 4}, {4}}},
      {{"Add i0 i1"}, {{}, {}}},
  };
  for (const Case& c : cases) {
    std::vector<Tensor> ins;
    for (const Dims& d : c.in) ins.push_back(random_f32(d, 0.2f, 3.f));
    check_vs_reference(OpKind::kFusedElementwise, ins, program(c.lines), 1, 1, kRel, kAbs, c.lines[0]);
    check_vs_reference(OpKind::kFusedElementwise, ins, program(c.lines), 1, 1, kRel, kAbs, c.lines[0] + " x2", 2);
  }
  Tensor big = random_f32({2, 70001});
  check_vs_reference(OpKind::kFusedElementwise, {big, random_f32({70001})}, program({"Add i0 i1", "Silu s0"}), 1, 1,
                     kRel, kAbs, "fused threads", 2);
}

}  // namespace
}  // namespace kiln::cpu::test
