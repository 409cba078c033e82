// Tests of the elementwise_unary math, logic and activation reference kernels.
#include <limits>

#include "core/float_formats.h"
#include "elementwise_unary_test_util.h"

namespace kiln::unary_test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ElementwiseUnaryMath, TrigAndExpFloat32) {
  Tensor x = f32({2, 3}, {-1.f, -0.5f, 0.f, 0.25f, 0.5f, 0.9f});
  struct Case {
    OpKind op;
    double (*fn)(double);
  } cases[] = {{OpKind::kSin, [](double v) { return std::sin(v); }},
               {OpKind::kCos, [](double v) { return std::cos(v); }},
               {OpKind::kTan, [](double v) { return std::tan(v); }},
               {OpKind::kAsin, [](double v) { return std::asin(v); }},
               {OpKind::kAcos, [](double v) { return std::acos(v); }},
               {OpKind::kAtan, [](double v) { return std::atan(v); }},
               {OpKind::kSinh, [](double v) { return std::sinh(v); }},
               {OpKind::kCosh, [](double v) { return std::cosh(v); }},
               {OpKind::kTanh, [](double v) { return std::tanh(v); }},
               {OpKind::kAsinh, [](double v) { return std::asinh(v); }},
               {OpKind::kAtanh, [](double v) { return std::atanh(v); }},
               {OpKind::kExp, [](double v) { return std::exp(v); }},
               {OpKind::kErf, [](double v) { return std::erf(v); }}};
  for (const auto& c : cases) {
    OpRun r = run_op(c.op, {x});
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.out().dtype(), DType::kFloat32);
    EXPECT_EQ(r.out().dims(), (Dims{2, 3}));
    std::vector<double> want;
    for (double v : values_of(x)) want.push_back(c.fn(v));
    expect_close(r.out(), want);
  }
}

TEST(ElementwiseUnaryMath, LogSqrtAcoshReciprocal) {
  Tensor x = f64({4}, {1.0, 2.0, 4.0, 0.0});
  expect_close(run_op(OpKind::kLog, {x}).out(), {0.0, std::log(2.0), std::log(4.0), -kInf});
  expect_close(run_op(OpKind::kSqrt, {x}).out(), {1.0, std::sqrt(2.0), 2.0, 0.0});
  expect_close(run_op(OpKind::kAcosh, {x}).out(), {0.0, std::acosh(2.0), std::acosh(4.0), kNaN});
  expect_close(run_op(OpKind::kReciprocal, {x}).out(), {1.0, 0.5, 0.25, kInf});
  EXPECT_EQ(run_op(OpKind::kSqrt, {x}).out().dtype(), DType::kFloat64);
}

TEST(ElementwiseUnaryMath, RoundingHalfToEven) {
  Tensor x = f32({7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.3f, -2.7f});
  expect_close(run_op(OpKind::kRound, {x}).out(), {0, 2, 2, -0.0, -2, 2, -3});
  expect_close(run_op(OpKind::kFloor, {x}).out(), {0, 1, 2, -1, -2, 2, -3});
  expect_close(run_op(OpKind::kCeil, {x}).out(), {1, 2, 3, -0.0, -1, 3, -2});
}

TEST(ElementwiseUnaryMath, Float16ComputesThroughFloat32) {
  Tensor x(DType::kFloat16, {3});
  for (int i = 0; i < 3; ++i) x.data<uint16_t>()[i] = float_to_half(static_cast<float>(i) - 1.f);
  OpRun r = run_op(OpKind::kExp, {x});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out().dtype(), DType::kFloat16);
  expect_close(r.out(), {std::exp(-1.0), 1.0, std::exp(1.0)}, 1e-3);
}

TEST(ElementwiseUnaryMath, AbsNegSignIntegers) {
  Tensor x = Tensor::from_vector<int8_t>(DType::kInt8, {5}, {-128, -3, 0, 4, 127});
  OpRun a = run_op(OpKind::kAbs, {x});
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(values_of(a.out()), (std::vector<double>{-128, 3, 0, 4, 127}));  // -128 wraps
  EXPECT_EQ(values_of(run_op(OpKind::kNeg, {x}).out()), (std::vector<double>{-128, 3, 0, -4, -127}));
  EXPECT_EQ(values_of(run_op(OpKind::kSign, {x}).out()), (std::vector<double>{-1, -1, 0, 1, 1}));
  Tensor u = Tensor::from_vector<uint16_t>(DType::kUInt16, {3}, {0, 7, 65535});
  EXPECT_EQ(values_of(run_op(OpKind::kAbs, {u}).out()), (std::vector<double>{0, 7, 65535}));
  EXPECT_EQ(values_of(run_op(OpKind::kSign, {u}).out()), (std::vector<double>{0, 1, 1}));
  EXPECT_FALSE(run_op(OpKind::kNeg, {u}).status.ok());  // Neg has no unsigned types
  expect_close(run_op(OpKind::kSign, {f32({3}, {-2.f, 0.f, NAN})}).out(), {-1, 0, kNaN});
}

TEST(ElementwiseUnaryMath, FloatOnlyOpsRejectIntegers) {
  OpRun r = run_op(OpKind::kSin, {i32({2}, {1, 2})});
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("int32"), std::string::npos);
  EXPECT_FALSE(run_op(OpKind::kExp, {}).status.ok());  // missing input
}

TEST(ElementwiseUnaryMath, NotBitwiseNotIsInfIsNaN) {
  Tensor b = u8(DType::kBool, {2, 2}, {0, 1, 1, 0});
  OpRun n = run_op(OpKind::kNot, {b});
  ASSERT_TRUE(n.status.ok());
  EXPECT_EQ(n.out().dtype(), DType::kBool);
  EXPECT_EQ(values_of(n.out()), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_FALSE(run_op(OpKind::kNot, {f32({1}, {1.f})}).status.ok());

  Tensor u = u8(DType::kUInt8, {3}, {0, 0x0f, 0xff});
  EXPECT_EQ(values_of(run_op(OpKind::kBitwiseNot, {u}).out()), (std::vector<double>{255, 0xf0, 0}));
  EXPECT_EQ(values_of(run_op(OpKind::kBitwiseNot, {i32({2}, {0, -5})}).out()), (std::vector<double>{-1, 4}));
  EXPECT_FALSE(run_op(OpKind::kBitwiseNot, {f32({1}, {1.f})}).status.ok());

  Tensor x = f32({5}, {1.f, INFINITY, -INFINITY, NAN, 0.f});
  EXPECT_EQ(values_of(run_op(OpKind::kIsInf, {x}).out()), (std::vector<double>{0, 1, 1, 0, 0}));
  Attrs pos_only;
  pos_only.set("detect_negative", int64_t{0});
  EXPECT_EQ(values_of(run_op(OpKind::kIsInf, {x}, pos_only).out()), (std::vector<double>{0, 1, 0, 0, 0}));
  EXPECT_EQ(values_of(run_op(OpKind::kIsNaN, {x}).out()), (std::vector<double>{0, 0, 0, 1, 0}));
  EXPECT_FALSE(run_op(OpKind::kIsNaN, {i32({1}, {1})}).status.ok());
  // fp8 inputs are classified too.
  EXPECT_EQ(values_of(run_op(OpKind::kIsNaN, {u8(DType::kFloat8E4M3FN, {2}, {0x7f, 0x38})}).out()),
            (std::vector<double>{1, 0}));
}

TEST(ElementwiseUnaryMath, ClipBoundsAndDtypes) {
  Tensor x = f32({2, 3}, {-3.f, -1.f, 0.f, 1.f, 2.f, NAN});
  Tensor lo = f32({}, {-1.5f}), hi = f32({}, {1.5f});
  expect_close(run_op(OpKind::kClip, {x, lo, hi}).out(), {-1.5, -1, 0, 1, 1.5, kNaN});
  expect_close(run_op(OpKind::kClip, {x, Tensor(), hi}).out(), {-3, -1, 0, 1, 1.5, kNaN});
  expect_close(run_op(OpKind::kClip, {x}).out(), {-3, -1, 0, 1, 2, kNaN});
  // min > max: everything becomes max.
  expect_close(run_op(OpKind::kClip, {x, f32({}, {2.f}), f32({}, {1.f})}).out(), {1, 1, 1, 1, 1, kNaN});
  Tensor xi = Tensor::from_vector<int8_t>(DType::kInt8, {3}, {-100, 5, 100});
  Tensor li = Tensor::from_vector<int8_t>(DType::kInt8, {}, {-10});
  EXPECT_EQ(values_of(run_op(OpKind::kClip, {xi, li}).out()), (std::vector<double>{-10, 5, 100}));
  // A bound with more than one element is an error.
  EXPECT_FALSE(run_op(OpKind::kClip, {x, f32({2}, {0.f, 1.f})}).status.ok());
}

TEST(ElementwiseUnaryMath, ReluFamily) {
  Tensor x = f32({5}, {-2.f, -0.5f, 0.f, 0.5f, 2.f});
  expect_close(run_op(OpKind::kRelu, {x}).out(), {0, 0, 0, 0.5, 2});
  EXPECT_EQ(values_of(run_op(OpKind::kRelu, {i64({3}, {-4, 0, 9})}).out()), (std::vector<double>{0, 0, 9}));
  Attrs a;
  a.set("alpha", 0.1f);
  expect_close(run_op(OpKind::kLeakyRelu, {x}, a).out(), {-0.2, -0.05, 0, 0.5, 2});
  expect_close(run_op(OpKind::kLeakyRelu, {x}).out(), {-0.02, -0.005, 0, 0.5, 2});
  expect_close(run_op(OpKind::kElu, {x}).out(), {std::exp(-2.0) - 1, std::exp(-0.5) - 1, 0, 0.5, 2});
  expect_close(run_op(OpKind::kThresholdedRelu, {x}).out(), {0, 0, 0, 0, 2});
  expect_close(run_op(OpKind::kCelu, {x}).out(), {std::exp(-2.0) - 1, std::exp(-0.5) - 1, 0, 0.5, 2});
  const double sa = 1.67326319217681884765625, sg = 1.05070102214813232421875;
  expect_close(run_op(OpKind::kSelu, {x}).out(),
               {sg * sa * (std::exp(-2.0) - 1), sg * sa * (std::exp(-0.5) - 1), 0, sg * 0.5, sg * 2});
  Attrs zero;
  zero.set("alpha", 0.0f);
  EXPECT_FALSE(run_op(OpKind::kCelu, {x}, zero).status.ok());
}

TEST(ElementwiseUnaryMath, SigmoidFamily) {
  Tensor x = f32({5}, {-100.f, -1.f, 0.f, 1.f, 100.f});
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  expect_close(run_op(OpKind::kSigmoid, {x}).out(), {sig(-100), sig(-1), 0.5, sig(1), 1});
  expect_close(run_op(OpKind::kSoftplus, {x}).out(), {std::log1p(std::exp(-100.0)), std::log1p(std::exp(-1.0)),
                                                      std::log(2.0), std::log1p(std::exp(1.0)), 100});
  expect_close(run_op(OpKind::kSoftsign, {x}).out(), {-100.0 / 101, -0.5, 0, 0.5, 100.0 / 101});
  expect_close(run_op(OpKind::kSwish, {x}).out(), {-100 * sig(-100), -sig(-1), 0, sig(1), 100});
  expect_close(run_op(OpKind::kHardSigmoid, {x}).out(), {0, 0.3, 0.5, 0.7, 1});
  expect_close(run_op(OpKind::kHardSwish, {x}).out(), {0, -1 * (1.0 / 3), 0, 2.0 / 3, 100});
  auto mish = [](double v) { return v * std::tanh(std::log1p(std::exp(v))); };
  expect_close(run_op(OpKind::kMish, {x}).out(), {mish(-100), mish(-1), 0, mish(1), 100});
}

TEST(ElementwiseUnaryMath, GeluModes) {
  Tensor x = f64({3}, {-1.0, 0.0, 2.0});
  auto exact = [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); };
  expect_close(run_op(OpKind::kGelu, {x}).out(), {exact(-1), 0, exact(2)}, 1e-12);
  Attrs t;
  t.set("approximate", std::string("tanh"));
  auto approx = [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); };
  expect_close(run_op(OpKind::kGelu, {x}, t).out(), {approx(-1), 0, approx(2)}, 1e-12);
  Attrs bad;
  bad.set("approximate", std::string("fast"));
  EXPECT_FALSE(run_op(OpKind::kGelu, {x}, bad).status.ok());
}

TEST(ElementwiseUnaryMath, ShrinkAllNumericTypes) {
  Attrs a;
  a.set("lambd", 1.5f);
  a.set("bias", 1.5f);
  expect_close(run_op(OpKind::kShrink, {f32({5}, {-2.f, -1.f, 0.f, 1.f, 2.f})}, a).out(), {-0.5, 0, 0, 0, 0.5});
  Tensor u = u8(DType::kUInt8, {3}, {1, 2, 10});
  EXPECT_EQ(values_of(run_op(OpKind::kShrink, {u}, a).out()), (std::vector<double>{0, 0, 8}));  // 0.5 -> 0
}

TEST(ElementwiseUnaryMath, EmptyTensor) {
  OpRun r = run_op(OpKind::kTanh, {f32({0, 3}, {})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out().dims(), (Dims{0, 3}));
}

}  // namespace
}  // namespace kiln::unary_test
