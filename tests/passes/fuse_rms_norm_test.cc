// Tests of fuse_rms_norm: Pow/ReduceMean/Add/Sqrt with Reciprocal, Div or 1/x then gamma becomes RMSNormalization;
// a reduction over another axis or a shared intermediate does not.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

enum class Inv { kReciprocal, kDiv, kOneOver };

Graph rms(Inv inv, int64_t axis = -1, bool sqrt_is_output = false, bool gamma = true) {
  GraphBuilder b;
  b.input("x", {3, 4, 16}).constant("two", scalar_f32(2.f)).constant("eps", scalar_f32(1e-6f));
  b.constant("one", scalar_f32(1.f)).constant("gamma", GraphBuilder::random_tensor({16}, 4, 0.5f, 1.5f));
  b.node(OpKind::kPow, {"x", "two"}, {"sq"});
  b.node(OpKind::kReduceMean, {"sq"}, {"ms"}).attrs.set("axes", std::vector<int64_t>{axis});
  b.node(OpKind::kAdd, {"ms", "eps"}, {"mse"});
  b.node(OpKind::kSqrt, {"mse"}, {"r"});
  const std::string n = gamma ? "n" : "y";
  switch (inv) {
    case Inv::kReciprocal:
      b.node(OpKind::kReciprocal, {"r"}, {"ir"});
      b.node(OpKind::kMul, {"x", "ir"}, {n});
      break;
    case Inv::kDiv:
      b.node(OpKind::kDiv, {"x", "r"}, {n});
      break;
    case Inv::kOneOver:
      b.node(OpKind::kDiv, {"one", "r"}, {"ir"});
      b.node(OpKind::kMul, {"ir", "x"}, {n});
      break;
  }
  if (gamma) b.node(OpKind::kMul, {"gamma", "n"}, {"y"});
  b.output("y");
  if (sqrt_is_output) b.output("r");
  return b.finish();
}

TEST(FuseRmsNorm, EveryInverseForm) {
  auto pass = make_fuse_rms_norm_pass();
  for (Inv inv : {Inv::kReciprocal, Inv::kDiv, Inv::kOneOver}) {
    SCOPED_TRACE(static_cast<int>(inv));
    Graph g = run_and_compare(*pass, rms(inv), true);
    ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
    EXPECT_EQ(g.nodes[0].op, OpKind::kRMSNormalization);
    EXPECT_FLOAT_EQ(g.nodes[0].attrs.get_float("epsilon"), 1e-6f);
    EXPECT_EQ(g.nodes[0].inputs[0], "x");
  }
}

TEST(FuseRmsNorm, WithoutGammaGetsOnesScale) {
  auto pass = make_fuse_rms_norm_pass();
  Graph g = run_and_compare(*pass, rms(Inv::kReciprocal, -1, false, /*gamma=*/false), true);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
}

TEST(FuseRmsNorm, LeavesOtherAxisAndSharedIntermediateAlone) {
  auto pass = make_fuse_rms_norm_pass();
  run_and_compare(*pass, rms(Inv::kReciprocal, /*axis=*/1), false);
  run_and_compare(*pass, rms(Inv::kDiv, -1, /*sqrt_is_output=*/true), false);
}

}  // namespace
