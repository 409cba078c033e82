// Tests of FusedElementwise: program evaluation with broadcasting, every step op against its formula, constants,
// float16, the program parser's errors, and that formatted steps parse back to themselves.
#include "core/float_formats.h"
#include "ir/infer/fused_ops.h"
#include "tests/ops/fused_test_util.h"

namespace {

using namespace fused_test;  // NOLINT

Attrs program(std::vector<std::string> lines) {
  Attrs a;
  a.set("program", std::move(lines));
  return a;
}

TEST(FusedElementwiseKernel, BroadcastProgram) {
  // relu(x0 * x1 + 1) - x2 with x0 [2,3], x1 [3], x2 scalar.
  Tensor x0 = f32({2, 3}, {1, -2, 3, -4, 5, -6}), x1 = f32({3}, {2, 1, -1}), x2 = f32({}, {0.5f});
  auto y = run1(OpKind::kFusedElementwise, {x0, x1, x2}, program({"Mul i0 i1", "Add s0 #1", "Relu s1", "Sub s2 i2"}));
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->dims(), (Dims{2, 3}));
  EXPECT_EQ(values(*y), (std::vector<double>{2.5, -0.5, -0.5, -0.5, 5.5, 6.5}));
}

TEST(FusedElementwiseKernel, OutputBroadcastsBeyondFirstInput) {
  Tensor x0 = f32({3, 1}, {1, 2, 3}), x1 = f32({1, 2}, {10, 20});
  auto y = run1(OpKind::kFusedElementwise, {x0, x1}, program({"Add i0 i1"}));
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->dims(), (Dims{3, 2}));
  EXPECT_EQ(values(*y), (std::vector<double>{11, 21, 12, 22, 13, 23}));
}

TEST(FusedElementwiseKernel, EveryOpMatchesItsFormula) {
  const std::vector<float> xs = {-2.5f, -1.f, -0.25f, 0.f, 0.3f, 1.f, 1.7f, 3.f};
  const std::vector<float> ys = {1.5f, -2.f, 0.5f, 2.f, -0.7f, 3.f, 0.25f, -1.f};
  Tensor x = f32({8}, xs), yv = f32({8}, ys);
  struct Case {
    const char* line;
    double (*f)(double, double);
  };
  const Case cases[] = {
      {"Add i0 i1", [](double a, double b) { return a + b; }},
      {"Sub i0 i1", [](double a, double b) { return a - b; }},
      {"Mul i0 i1", [](double a, double b) { return a * b; }},
      {"Div i0 i1", [](double a, double b) { return a / b; }},
      {"Max i0 i1", [](double a, double b) { return std::max(a, b); }},
      {"Min i0 i1", [](double a, double b) { return std::min(a, b); }},
      {"Pow i1 #2", [](double a, double b) { return b * b; }},
      {"Neg i0", [](double a, double) { return -a; }},
      {"Abs i0", [](double a, double) { return std::fabs(a); }},
      {"Relu i0", [](double a, double) { return act_formula("Relu", a, 0, 0); }},
      {"Sigmoid i0", [](double a, double) { return act_formula("Sigmoid", a, 0, 0); }},
      {"Tanh i0", [](double a, double) { return std::tanh(a); }},
      {"Exp i0", [](double a, double) { return std::exp(a); }},
      {"Erf i0", [](double a, double) { return std::erf(a); }},
      {"Gelu i0", [](double a, double) { return act_formula("Gelu", a, 0, 0); }},
      {"GeluTanh i0", [](double a, double) { return act_formula("GeluTanh", a, 0, 0); }},
      {"Silu i0", [](double a, double) { return act_formula("Silu", a, 0, 0); }},
      {"Floor i0", [](double a, double) { return std::floor(a); }},
      {"Ceil i0", [](double a, double) { return std::ceil(a); }},
      {"LeakyRelu i0 #0.2", [](double a, double) { return a < 0 ? 0.2 * a : a; }},
      {"Clip i0 #-1 #1.5", [](double a, double) { return std::min(std::max(a, -1.0), 1.5); }},
  };
  for (const Case& c : cases) {
    auto y = run1(OpKind::kFusedElementwise, {x, yv}, program({c.line}));
    ASSERT_TRUE(y.ok()) << c.line << ": " << y.status().message();
    for (size_t i = 0; i < xs.size(); ++i)
      EXPECT_NEAR(y->as_double(i), c.f(xs[i], ys[i]), 1e-5 * (1 + std::fabs(c.f(xs[i], ys[i]))))
          << c.line << " at " << i;
  }
  // Log, Sqrt and Reciprocal on positive values.
  Tensor p = f32({3}, {0.5f, 2.f, 9.f});
  auto y =
      run1(OpKind::kFusedElementwise, {p}, program({"Log i0", "Sqrt i0", "Reciprocal i0", "Add s0 s1", "Add s3 s2"}));
  ASSERT_TRUE(y.ok()) << y.status().message();
  for (int i = 0; i < 3; ++i) {
    const double v = p.as_double(i);
    EXPECT_NEAR(y->as_double(i), std::log(v) + std::sqrt(v) + 1.0 / v, 1e-5);
  }
}

TEST(FusedElementwiseKernel, Float16OutputTakesFirstInputsDtype) {
  Tensor h(DType::kFloat16, {2});
  h.data<uint16_t>()[0] = kiln::float_to_half(1.5f);
  h.data<uint16_t>()[1] = kiln::float_to_half(-3.f);
  auto y = run1(OpKind::kFusedElementwise, {h, f32({1}, {2.f})}, program({"Mul i0 i1", "Add s0 #0.25"}));
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->dtype(), DType::kFloat16);
  EXPECT_EQ(values(*y), (std::vector<double>{3.25, -5.75}));
}

TEST(FusedElementwiseKernel, BadProgramsAreClearErrors) {
  Tensor x = f32({2}, {1, 2});
  auto expect_error = [&](std::vector<std::string> lines, const std::string& needle) {
    auto y = run1(OpKind::kFusedElementwise, {x}, program(lines));
    ASSERT_FALSE(y.ok()) << needle;
    EXPECT_NE(y.status().message().find(needle), std::string::npos) << y.status().message();
    EXPECT_NE(y.status().message().find("FusedElementwise"), std::string::npos) << y.status().message();
  };
  expect_error({}, "attribute 'program' is missing or empty");
  expect_error({"Frobnicate i0"}, "unknown op 'Frobnicate'");
  expect_error({"Add i0"}, "Add takes 2 operand(s), got 1");
  expect_error({"Relu i0 i0"}, "Relu takes 1 operand(s), got 2");
  expect_error({"Relu i1"}, "refers to input 1 but the node has 1");
  expect_error({"Relu s0"}, "refers to a step that is not earlier");
  expect_error({"Add i0 #abc"}, "is not a float constant");
  expect_error({"Add i0 x3"}, "is not i<k>, s<j> or #<float>");
  expect_error({"Relu i0", "LeakyRelu i0 s0"}, "the parameters of LeakyRelu must be # constants");
  auto bad_shape = run1(OpKind::kFusedElementwise, {x, f32({3}, {1, 2, 3})}, program({"Add i0 i1"}));
  ASSERT_FALSE(bad_shape.ok());
  EXPECT_NE(bad_shape.status().message().find("does not broadcast"), std::string::npos);
}

TEST(FusedProgram, FormattedStepsParseBack) {
  kiln::Node node;
  node.op = OpKind::kFusedElementwise;
  node.name = "n";
  using kiln::fused::Operand;
  kiln::fused::Step s1{kiln::fused::EwOp::kClip,
                       {Operand{Operand::Kind::kInput, 1}, Operand{Operand::Kind::kConst, 0, -0.1f},
                        Operand{Operand::Kind::kConst, 0, 3.14159274f}}};
  kiln::fused::Step s2{kiln::fused::EwOp::kMul, {Operand{Operand::Kind::kStep, 0}, Operand{Operand::Kind::kInput, 0}}};
  auto p = kiln::fused::parse_program({s1.to_string(), s2.to_string()}, 2, node);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->steps.size(), 2u);
  EXPECT_EQ(p->steps[0].op, kiln::fused::EwOp::kClip);
  EXPECT_EQ(p->steps[0].args[1].value, -0.1f);  // exact round trip of the float
  EXPECT_EQ(p->steps[0].args[2].value, 3.14159274f);
  EXPECT_EQ(p->steps[1].to_string(), "Mul s0 i0");
}

}  // namespace
