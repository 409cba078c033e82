// fold_attention_heads: head split/merge transposes around Attention become its 3-D form; partial patterns stay.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

// Q/K/V projections [2, 5, 8] split into 2 heads of 4, attention with an additive mask, heads merged back.
Graph attention_block(bool merge_output, bool merge_2d = false) {
  GraphBuilder b(23);
  b.input("q", {2, 5, 8}).input("k", {2, 5, 8}).input("v", {2, 5, 8}).input("mask", {2, 1, 1, 5});
  b.ints("split", {2, 5, 2, 4});
  if (merge_2d) b.ints("merge", {10, 8});
  else b.ints("merge", {2, 5, 8});
  for (const char* x : {"q", "k", "v"}) {
    std::string s = x;
    b.node(OpKind::kReshape, {s, "split"}, {s + "_r"});
    b.node(OpKind::kTranspose, {s + "_r"}, {s + "_h"}).attrs.set("perm", std::vector<int64_t>{0, 2, 1, 3});
  }
  b.node(OpKind::kAttention, {"q_h", "k_h", "v_h", "mask"}, {"y"}).attrs.set("scale", 0.5f);
  if (merge_output) {
    b.node(OpKind::kTranspose, {"y"}, {"y_t"}).attrs.set("perm", std::vector<int64_t>{0, 2, 1, 3});
    b.node(OpKind::kReshape, {"y_t", "merge"}, {"out"});
    b.output("out");
  } else {
    b.node(OpKind::kRelu, {"y"}, {"out"});
    b.output("out");
  }
  return b.finish();
}

TEST(FoldAttentionHeads, SplitAndMergeTransposesDisappear) {
  Graph g = attention_block(true);
  Graph before = g;
  ASSERT_EQ(count_ops(g, OpKind::kTranspose), 4);
  auto pass = make_fold_attention_heads_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kReshape), 0) << print_graph(g);
  ASSERT_EQ(count_ops(g, OpKind::kAttention), 1);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kAttention) {
      EXPECT_EQ(n.attrs.get_int("q_num_heads"), 2);
      EXPECT_EQ(n.attrs.get_int("kv_num_heads"), 2);
      EXPECT_EQ(n.outputs[0], "out");
    }
  expect_same_outputs(before, g);
}

// The heads merged to 2-D [B*S, H*D] (GPT-2's Conv1D feeds a 2-D Gemm): every Transpose goes, that Reshape stays.
TEST(FoldAttentionHeads, MergeTo2DKeepsItsReshape) {
  Graph g = attention_block(true, true);
  Graph before = g;
  auto pass = make_fold_attention_heads_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kReshape), 1) << print_graph(g);
  expect_same_outputs(before, g);
}

TEST(FoldAttentionHeads, OutputUsedIn4DStaysAsIs) {
  Graph g = attention_block(false);
  auto pass = make_fold_attention_heads_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 3);
}

}  // namespace
}  // namespace kiln_pass_test
