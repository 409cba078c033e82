// Tests of fuse_layer_norm: the decomposed last-axis layer norm (axes as attribute or input, Pow or Mul square,
// with or without beta) becomes LayerNormalization; wrong axis, shared intermediates and runtime gamma do not.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

struct LnOptions {
  int opset = 17;
  bool mul_square = false;
  bool beta = true;
  bool runtime_gamma = false;
  int64_t axis = -1;
  bool d_is_output = false;
};

Graph layer_norm(const LnOptions& o) {
  GraphBuilder b(o.opset);
  b.input("x", {2, 5, 12}).constant("two", scalar_f32(2.f)).constant("eps", scalar_f32(1e-5f));
  b.floats("beta", {12}, 3);
  if (o.runtime_gamma)
    b.input("gamma", {12});
  else
    b.constant("gamma", GraphBuilder::random_tensor({1, 1, 12}, 2, 0.5f, 1.5f));
  auto reduce = [&](const std::string& in, const std::string& out) {
    if (o.opset >= 18) {
      b.ints("axes_" + out, {o.axis});
      b.node(OpKind::kReduceMean, {in, "axes_" + out}, {out});
    } else {
      b.node(OpKind::kReduceMean, {in}, {out}).attrs.set("axes", std::vector<int64_t>{o.axis});
    }
  };
  reduce("x", "m");
  b.node(OpKind::kSub, {"x", "m"}, {"d"});
  if (o.mul_square)
    b.node(OpKind::kMul, {"d", "d"}, {"sq"});
  else
    b.node(OpKind::kPow, {"d", "two"}, {"sq"});
  reduce("sq", "v");
  b.node(OpKind::kAdd, {"v", "eps"}, {"ve"});
  b.node(OpKind::kSqrt, {"ve"}, {"sd"});
  b.node(OpKind::kDiv, {"d", "sd"}, {"n"});
  b.node(OpKind::kMul, {"gamma", "n"}, {o.beta ? "g" : "y"});
  if (o.beta) b.node(OpKind::kAdd, {"g", "beta"}, {"y"});
  b.output("y");
  if (o.d_is_output) b.output("d");
  return b.finish();
}

TEST(FuseLayerNorm, AxesAttributeWithGammaBeta) {
  auto pass = make_fuse_layer_norm_pass();
  Graph g = run_and_compare(*pass, layer_norm({}), true);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  const Node& ln = g.nodes[0];
  EXPECT_EQ(ln.op, OpKind::kLayerNormalization);
  EXPECT_EQ(ln.attrs.get_int("axis"), -1);
  EXPECT_FLOAT_EQ(ln.attrs.get_float("epsilon"), 1e-5f);
  EXPECT_EQ(ln.inputs.size(), 3u);
}

TEST(FuseLayerNorm, AxesInputMulSquareNoBeta) {
  auto pass = make_fuse_layer_norm_pass();
  LnOptions o;
  o.opset = 18;
  o.mul_square = true;
  o.beta = false;
  Graph g = run_and_compare(*pass, layer_norm(o), true);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
}

TEST(FuseLayerNorm, PositiveLastAxisIndex) {
  auto pass = make_fuse_layer_norm_pass();
  LnOptions o;
  o.axis = 2;
  EXPECT_EQ(run_and_compare(*pass, layer_norm(o), true).nodes.size(), 1u);
}

TEST(FuseLayerNorm, RuntimeGammaStaysOutside) {
  // The normalization still fuses (with a ones scale); the runtime gamma Mul and the beta Add stay.
  auto pass = make_fuse_layer_norm_pass();
  LnOptions o;
  o.runtime_gamma = true;
  Graph g = run_and_compare(*pass, layer_norm(o), true);
  EXPECT_EQ(count_ops(g, OpKind::kLayerNormalization), 1);
  EXPECT_EQ(count_ops(g, OpKind::kMul), 1);
  EXPECT_EQ(count_ops(g, OpKind::kAdd), 1);
}

TEST(FuseLayerNorm, LeavesWrongAxisAndSharedIntermediatesAlone) {
  auto pass = make_fuse_layer_norm_pass();
  LnOptions wrong;
  wrong.axis = 1;
  run_and_compare(*pass, layer_norm(wrong), false);
  LnOptions shared;
  shared.d_is_output = true;
  run_and_compare(*pass, layer_norm(shared), false);
}

}  // namespace
