// Tests of fuse_conv_activation: Conv + per-channel bias + residual + every activation becomes one FusedConv; a plain
// Conv becomes FusedConv; shared intermediates and a broadcasting (not same-shape) residual stay outside.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

// x -> Conv -> [+ bias (1,M,1,1)] -> [+ r] -> act -> y. `act` is an op name or "Silu".
Graph conv_chain(const std::string& act, bool add_bias, bool residual, bool conv_is_output = false) {
  GraphBuilder b(13);
  b.input("x", {2, 4, 7, 7}).input("r", {2, 6, 4, 4}).floats("w", {6, 2, 3, 3}, 1).floats("cb", {6}, 2);
  b.floats("bias", {1, 6, 1, 1}, 3).constant("lo", scalar_f32(-0.3f)).constant("hi", scalar_f32(0.4f));
  Node& c = b.node(OpKind::kConv, {"x", "w", "cb"}, {"c"});
  c.attrs.set("group", int64_t{2});
  c.attrs.set("strides", std::vector<int64_t>{2, 2});
  c.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  std::string y = "c";
  if (add_bias) {
    b.node(OpKind::kAdd, {y, "bias"}, {"cb1"});
    y = "cb1";
  }
  if (residual) {
    b.node(OpKind::kAdd, {"r", y}, {"res"});
    y = "res";
  }
  if (act == "Silu") {
    b.node(OpKind::kSigmoid, {y}, {"sig"});
    b.node(OpKind::kMul, {y, "sig"}, {"out"});
  } else if (act == "Relu") {
    b.node(OpKind::kRelu, {y}, {"out"});
  } else if (act == "LeakyRelu") {
    b.node(OpKind::kLeakyRelu, {y}, {"out"}).attrs.set("alpha", 0.2f);
  } else if (act == "Sigmoid") {
    b.node(OpKind::kSigmoid, {y}, {"out"});
  } else if (act == "Tanh") {
    b.node(OpKind::kTanh, {y}, {"out"});
  } else if (act == "Clip") {
    b.node(OpKind::kClip, {y, "lo", "hi"}, {"out"});
  } else if (act == "HardSigmoid") {
    Node& h = b.node(OpKind::kHardSigmoid, {y}, {"out"});
    h.attrs.set("alpha", 0.3f);
    h.attrs.set("beta", 0.6f);
  } else if (act == "HardSwish") {
    b.node(OpKind::kHardSwish, {y}, {"out"});
  } else if (act == "HardSwishAsHardSigmoid") {  // PyTorch below opset 14: y * HardSigmoid(y, 1/6, 0.5)
    Node& h = b.node(OpKind::kHardSigmoid, {y}, {"hs"});
    h.attrs.set("alpha", 1.0f / 6.0f);
    h.attrs.set("beta", 0.5f);
    b.node(OpKind::kMul, {y, "hs"}, {"out"});
  } else if (act == "HardSwishAsClipScaleAfter" || act == "HardSwishAsClipScaleBefore") {  // Paddle: y*Clip(y+3,0,6)/6
    b.constant("three", scalar_f32(3.f)).constant("zero", scalar_f32(0.f)).constant("six", scalar_f32(6.f));
    b.node(OpKind::kAdd, {y, "three"}, {"p3"});
    b.node(OpKind::kClip, {"p3", "zero", "six"}, {"r6"});
    if (act == "HardSwishAsClipScaleAfter") {
      b.node(OpKind::kMul, {"r6", y}, {"prod"});
      b.node(OpKind::kDiv, {"prod", "six"}, {"out"});
    } else {
      b.constant("sixth", scalar_f32(1.f / 6.f));
      b.node(OpKind::kMul, {"r6", "sixth"}, {"gate"});
      b.node(OpKind::kMul, {y, "gate"}, {"out"});
    }
  } else if (act == "Gelu" || act == "GeluTanh") {
    b.node(OpKind::kGelu, {y}, {"out"}, 20).attrs.set("approximate", std::string(act == "Gelu" ? "none" : "tanh"));
  } else {
    b.node(OpKind::kIdentity, {y}, {"out"});
  }
  b.output("out");
  if (conv_is_output) b.output("c");
  return b.finish();
}

TEST(FuseConvActivation, BiasResidualAndEveryActivation) {
  auto pass = make_fuse_conv_activation_pass();
  for (const char* act :
       {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Silu", "Gelu", "GeluTanh"}) {
    SCOPED_TRACE(act);
    Graph g = run_and_compare(*pass, conv_chain(act, true, true), true);
    ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
    const Node& f = g.nodes[0];
    EXPECT_EQ(f.op, OpKind::kFusedConv);
    EXPECT_EQ(f.attrs.get_string("activation"), act);
    EXPECT_EQ(f.attrs.get_int("group"), 2);
    ASSERT_EQ(f.inputs.size(), 4u);
    EXPECT_EQ(f.inputs[3], "r");
  }
}

// HardSwish written out by exporters without the op: every form folds into the FusedConv as HardSwish, with the
// same outputs (run_and_compare runs both graphs on the reference backend).
TEST(FuseConvActivation, DecomposedHardSwishForms) {
  auto pass = make_fuse_conv_activation_pass();
  for (const char* form : {"HardSwishAsHardSigmoid", "HardSwishAsClipScaleAfter", "HardSwishAsClipScaleBefore"}) {
    SCOPED_TRACE(form);
    Graph g = run_and_compare(*pass, conv_chain(form, true, false), true);
    ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
    EXPECT_EQ(g.nodes[0].attrs.get_string("activation"), "HardSwish");
  }
}

TEST(FuseConvActivation, PlainConvBecomesFusedConv) {
  auto pass = make_fuse_conv_activation_pass();
  Graph g = run_and_compare(*pass, conv_chain("none", false, false), true);
  EXPECT_EQ(count_ops(g, OpKind::kFusedConv), 1);
  EXPECT_EQ(count_ops(g, OpKind::kConv), 0);
  EXPECT_EQ(count_ops(g, OpKind::kIdentity), 1);
}

TEST(FuseConvActivation, SharedConvOutputKeepsActivationOutside) {
  auto pass = make_fuse_conv_activation_pass();
  Graph g = run_and_compare(*pass, conv_chain("Relu", false, false, /*conv_is_output=*/true), true);
  EXPECT_EQ(count_ops(g, OpKind::kFusedConv), 1);
  EXPECT_EQ(count_ops(g, OpKind::kRelu), 1);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kFusedConv) EXPECT_EQ(n.attrs.get_string("activation"), "");
}

TEST(FuseConvActivation, BroadcastResidualIsNotZ) {
  GraphBuilder b;
  b.input("x", {1, 3, 5, 5}).input("r", {1, 4, 1, 5}).floats("w", {4, 3, 3, 3}, 1);
  b.node(OpKind::kConv, {"x", "w"}, {"c"}).attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node(OpKind::kAdd, {"c", "r"}, {"s"});
  b.node(OpKind::kRelu, {"s"}, {"y"});
  b.output("y");
  auto pass = make_fuse_conv_activation_pass();
  Graph g = run_and_compare(*pass, b.finish(), true);
  EXPECT_EQ(count_ops(g, OpKind::kAdd), 1);
  EXPECT_EQ(count_ops(g, OpKind::kRelu), 1);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
}

}  // namespace
