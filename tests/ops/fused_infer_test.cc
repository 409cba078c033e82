// Tests of the fused ops' shape inference: NCHW/NHWC conv geometry with symbolic dims, FusedMatMul transposes
// and batch broadcasting, FusedElementwise broadcasting, and clear errors for bad attributes and shapes.
#include "tests/ops/fused_test_util.h"

namespace {

using namespace fused_test;  // NOLINT

const DType F = DType::kFloat32;

TEST(FusedInfer, ConvNchwAndNhwc) {
  Attrs a;
  a.set("strides", Dims{2, 2});
  a.set("pads", Dims{1, 1, 1, 1});
  auto c = infer(OpKind::kFusedConv,
                 {ty(F, {sym("N"), k(3), k(7), Dim{}}), ty(F, {k(8), k(3), k(3), k(3)}), ty(F, {k(8)})}, a);
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_EQ(c.outputs[0].to_string(), "float32[N,8,4,?]");
  a.set("layout", std::string("NHWC"));
  a.set("activation", std::string("HardSwish"));
  auto h = infer(OpKind::kFusedConv,
                 {ty(F, {sym("N"), k(7), Dim{}, k(3)}), ty(F, {k(8), k(3), k(3), k(3)}), ty(F, {k(8)}),
                  ty(F, {sym("N"), k(4), Dim{}, k(8)})},
                 a);
  ASSERT_TRUE(h.status.ok()) << h.status.message();
  EXPECT_EQ(h.outputs[0].to_string(), "float32[N,4,?,8]");
  // Depthwise NHWC: W [M, kH, kW, 1] with group = C.
  Attrs d;
  d.set("layout", std::string("NHWC"));
  d.set("group", int64_t{6});
  auto dw = infer(OpKind::kFusedConv,
                  {ty(DType::kFloat16, {k(1), k(5), k(5), k(6)}), ty(DType::kFloat16, {k(6), k(3), k(3), k(1)})}, d);
  ASSERT_TRUE(dw.status.ok()) << dw.status.message();
  EXPECT_EQ(dw.outputs[0].to_string(), "float16[1,3,3,6]");
}

TEST(FusedInfer, ConvErrors) {
  auto x = ty(F, {k(1), k(3), k(8), k(8)});
  auto w = ty(F, {k(4), k(3), k(3), k(3)});
  Attrs act;
  act.set("activation", std::string("Mish"));
  auto e1 = infer(OpKind::kFusedConv, {x, w}, act);
  ASSERT_FALSE(e1.status.ok());
  EXPECT_NE(e1.status.message().find("unknown activation 'Mish'"), std::string::npos) << e1.status.message();
  EXPECT_NE(e1.status.message().find("node 'n' (FusedConv)"), std::string::npos) << e1.status.message();
  Attrs lay;
  lay.set("layout", std::string("CHWN"));
  EXPECT_FALSE(infer(OpKind::kFusedConv, {x, w}, lay).status.ok());
  auto e3 = infer(OpKind::kFusedConv, {x, w, ty(F, {k(3)})});
  ASSERT_FALSE(e3.status.ok());
  EXPECT_NE(e3.status.message().find("B must have shape [4]"), std::string::npos) << e3.status.message();
  auto e4 = infer(OpKind::kFusedConv, {x, w, ty(F, {k(4)}), ty(F, {k(1), k(4), k(8), k(8)})});
  ASSERT_FALSE(e4.status.ok());
  EXPECT_NE(e4.status.message().find("Z must have the output's shape [1,4,6,6]"), std::string::npos)
      << e4.status.message();
  EXPECT_FALSE(infer(OpKind::kFusedConv, {ty(DType::kInt32, {k(1), k(3), k(8), k(8)}), w}).status.ok());
  EXPECT_FALSE(infer(OpKind::kFusedConv, {x, ty(DType::kFloat16, {k(4), k(3), k(3), k(3)})}).status.ok());
}

TEST(FusedInfer, MatMulTransposesAndBroadcast) {
  Attrs a;
  a.set("transB", int64_t{1});
  a.set("activation", std::string("Gelu"));
  auto m = infer(
      OpKind::kFusedMatMul,
      {ty(F, {sym("B"), k(1), k(5), k(64)}), ty(F, {k(3), k(32), k(64)}), ty(F, {k(32)}), ty(F, {k(5), k(1)})}, a);
  ASSERT_TRUE(m.status.ok()) << m.status.message();
  EXPECT_EQ(m.outputs[0].to_string(), "float32[B,3,5,32]");
  Attrs t;
  t.set("transA", int64_t{1});
  auto g = infer(OpKind::kFusedMatMul, {ty(F, {k(7), sym("M")}), ty(F, {k(7), k(2)})}, t);
  ASSERT_TRUE(g.status.ok()) << g.status.message();
  EXPECT_EQ(g.outputs[0].to_string(), "float32[M,2]");
}

TEST(FusedInfer, MatMulErrors) {
  auto a = ty(F, {k(4), k(8)}), b = ty(F, {k(8), k(16)});
  auto e1 = infer(OpKind::kFusedMatMul, {a, b, ty(F, {k(8)})});
  ASSERT_FALSE(e1.status.ok());
  EXPECT_NE(e1.status.message().find("bias must have shape [16]"), std::string::npos) << e1.status.message();
  auto e2 = infer(OpKind::kFusedMatMul, {a, b, ty(F, {k(16)}), ty(F, {k(2), k(4), k(16)})});
  ASSERT_FALSE(e2.status.ok());
  EXPECT_NE(e2.status.message().find("does not broadcast to the output shape"), std::string::npos)
      << e2.status.message();
  Attrs t;
  t.set("transA", int64_t{1});
  EXPECT_FALSE(infer(OpKind::kFusedMatMul, {a, b}, t).status.ok());  // K mismatch after the transpose
  Attrs bad;
  bad.set("transB", int64_t{3});
  EXPECT_FALSE(infer(OpKind::kFusedMatMul, {a, b}, bad).status.ok());
  Attrs act;
  act.set("activation", std::string("Clip"));
  act.set("activation_alpha", 1.f);
  act.set("activation_beta", 0.f);
  EXPECT_FALSE(infer(OpKind::kFusedMatMul, {a, b}, act).status.ok());
}

TEST(FusedInfer, ElementwiseBroadcastAndErrors) {
  Attrs p;
  p.set("program", std::vector<std::string>{"Mul i0 i1", "Add s0 i2", "Sigmoid s1"});
  auto e = infer(OpKind::kFusedElementwise,
                 {ty(DType::kFloat16, {sym("B"), k(1), k(4)}), ty(F, {k(3), k(1)}), ty(F, {})}, p);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(e.outputs[0].to_string(), "float16[B,3,4]");
  auto bad_shape = infer(OpKind::kFusedElementwise, {ty(F, {k(2)}), ty(F, {k(3)}), ty(F, {})}, p);
  EXPECT_FALSE(bad_shape.status.ok());
  auto few = infer(OpKind::kFusedElementwise, {ty(F, {k(2)}), ty(F, {k(2)})}, p);
  ASSERT_FALSE(few.status.ok());
  EXPECT_NE(few.status.message().find("refers to input 2 but the node has 2"), std::string::npos)
      << few.status.message();
  auto ints = infer(OpKind::kFusedElementwise, {ty(DType::kInt64, {k(2)}), ty(F, {k(2)}), ty(F, {})}, p);
  EXPECT_FALSE(ints.status.ok());
}

}  // namespace
