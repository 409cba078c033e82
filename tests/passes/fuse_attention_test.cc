// Tests of fuse_attention: Q K^T [scale] [+mask] softmax V in the [B,S,H,D] key layout (a K transpose is inserted)
// and the [B,H,S,D] layout, scale on the scores or on Q; non-last-axis softmax and shared scores stay unfused.
#include <cmath>

#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

struct AttnOptions {
  bool bshd_keys = true;  // K' is [B, S, H, D] and Kt = Transpose(K', [0,2,3,1])
  bool div_scale = true;  // scores / sqrt(D), else scores * 0.3
  bool mask = true;
  bool scale_on_q = false;  // Q * 0.5 before the MatMul (and no scores scale)
  int64_t softmax_axis = -1;
  bool scores_is_output = false;
};

Graph attention(const AttnOptions& o) {
  GraphBuilder b;
  b.input("q", {2, 3, 5, 8}).input("v", {2, 3, 6, 4});
  if (o.bshd_keys)
    b.input("k", {2, 6, 3, 8});
  else
    b.input("k", {2, 3, 6, 8});
  if (o.mask) b.input("mask", {2, 1, 1, 6});
  b.constant("c", scalar_f32(o.div_scale ? std::sqrt(8.f) : 0.3f)).constant("half", scalar_f32(0.5f));
  b.node(OpKind::kTranspose, {"k"}, {"kt"})
      .attrs.set("perm", o.bshd_keys ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 1, 3, 2});
  std::string q = "q";
  if (o.scale_on_q) {
    b.node(OpKind::kMul, {"q", "half"}, {"qs"});
    q = "qs";
  }
  b.node(OpKind::kMatMul, {q, "kt"}, {"s0"});
  std::string s = "s0";
  if (!o.scale_on_q) {
    b.node(o.div_scale ? OpKind::kDiv : OpKind::kMul, {"s0", "c"}, {"s1"});
    s = "s1";
  }
  if (o.mask) {
    b.node(OpKind::kAdd, {"mask", s}, {"s2"});
    s = "s2";
  }
  b.node(OpKind::kSoftmax, {s}, {"p"}).attrs.set("axis", o.softmax_axis);
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  if (o.scores_is_output) b.output("s0");
  return b.finish();
}

const Node* find(const Graph& g, OpKind op) {
  for (const Node& n : g.nodes)
    if (n.op == op) return &n;
  return nullptr;
}

TEST(FuseAttention, BshdKeysDivScaleAndMask) {
  auto pass = make_fuse_attention_pass();
  Graph g = run_and_compare(*pass, attention({}), true);
  EXPECT_EQ(count_ops(g, OpKind::kSoftmax), 0);
  EXPECT_EQ(count_ops(g, OpKind::kMatMul), 0);
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 1);  // K' [B,S,H,D] -> [B,H,S,D]
  const Node* a = find(g, OpKind::kAttention);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->inputs.size(), 4u);
  EXPECT_NEAR(a->attrs.get_float("scale"), 1.0 / std::sqrt(8.0), 1e-6);
  EXPECT_EQ(g.nodes.size(), 2u);
}

TEST(FuseAttention, BhsdKeysMulScaleNoMask) {
  auto pass = make_fuse_attention_pass();
  AttnOptions o;
  o.bshd_keys = false;
  o.div_scale = false;
  o.mask = false;
  Graph g = run_and_compare(*pass, attention(o), true);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].op, OpKind::kAttention);
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"q", "k", "v"}));
  EXPECT_NEAR(g.nodes[0].attrs.get_float("scale"), 0.3, 1e-6);
}

TEST(FuseAttention, ScaleOnQ) {
  auto pass = make_fuse_attention_pass();
  AttnOptions o;
  o.scale_on_q = true;
  Graph g = run_and_compare(*pass, attention(o), true);
  const Node* a = find(g, OpKind::kAttention);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->inputs[0], "q");
  EXPECT_NEAR(a->attrs.get_float("scale"), 0.5, 1e-6);
  EXPECT_EQ(count_ops(g, OpKind::kMul), 0);
}

TEST(FuseAttention, LeavesOtherAxisAndSharedScoresAlone) {
  auto pass = make_fuse_attention_pass();
  AttnOptions axis;
  axis.softmax_axis = 2;
  run_and_compare(*pass, attention(axis), false);
  AttnOptions shared;
  shared.scores_is_output = true;
  run_and_compare(*pass, attention(shared), false);
}

}  // namespace
