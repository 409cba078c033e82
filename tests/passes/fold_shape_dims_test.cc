// fold_shape_dims: a channel shuffle exported with a dynamic batch (Shape -> Gather -> Div/Unsqueeze -> Concat ->
// Reshape, twice) ends with constant Reshape targets ([0, 2, C/2, H, W], [0, -1, H, W]) and no shape subgraph, with
// the same outputs at several batch sizes; a target that takes a dim of another tensor, or allowzero, stays dynamic.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

Tensor scalar_index(int64_t k) { return Tensor::scalar<int64_t>(DType::kInt64, k); }

// y = channel_shuffle(Relu(x), 2) written as torch's legacy exporter writes it for x [batch, 8, 4, 4].
Graph channel_shuffle_graph() {
  GraphBuilder b;
  b.batched_input("x", {8, 4, 4});
  for (int64_t k = 0; k < 4; ++k) b.constant("k" + std::to_string(k), scalar_index(k));
  b.constant("two", scalar_index(2)).ints("ax0", {0}).ints("c2", {2}).ints("m1", {-1});
  b.node(OpKind::kRelu, {"x"}, {"a"});
  b.node(OpKind::kShape, {"a"}, {"s"});
  const char* parts[4] = {"n", "c", "h", "w"};
  for (int64_t k = 0; k < 4; ++k) b.node(OpKind::kGather, {"s", "k" + std::to_string(k)}, {parts[k]});
  b.node(OpKind::kDiv, {"c", "two"}, {"half"});
  for (const char* p : {"n", "half", "h", "w"}) b.node(OpKind::kUnsqueeze, {p, "ax0"}, {std::string("u") + p});
  b.node(OpKind::kConcat, {"un", "c2", "uhalf", "uh", "uw"}, {"t5"}).attrs.set("axis", int64_t{0});
  b.node(OpKind::kReshape, {"a", "t5"}, {"r"});
  b.node(OpKind::kTranspose, {"r"}, {"tr"}).attrs.set("perm", std::vector<int64_t>{0, 2, 1, 3, 4});
  b.node(OpKind::kConcat, {"un", "m1", "uh", "uw"}, {"t4"}).attrs.set("axis", int64_t{0});
  b.node(OpKind::kReshape, {"tr", "t4"}, {"y"});
  b.output("y");
  return b.finish();
}

void expect_same_at_batches(const Graph& before, const Graph& after) {
  for (int64_t batch : {1, 3}) {
    auto in = random_inputs(before, 5, batch);
    auto a = run_graph(before, in);
    auto c = run_graph(after, in);
    ASSERT_TRUE(a.ok() && c.ok()) << print_graph(after);
    ASSERT_EQ((*a)[0].tensor.dims(), (*c)[0].tensor.dims()) << "batch " << batch;
    for (int64_t k = 0; k < (*a)[0].tensor.numel(); ++k)
      ASSERT_EQ((*a)[0].tensor.as_double(k), (*c)[0].tensor.as_double(k)) << "batch " << batch << " at " << k;
  }
}

TEST(FoldShapeDims, DynamicBatchChannelShuffleGetsConstantTargets) {
  Graph g = channel_shuffle_graph();
  Graph before = g;
  auto pass = make_fold_shape_dims_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  for (OpKind op : {OpKind::kShape, OpKind::kGather, OpKind::kUnsqueeze, OpKind::kConcat, OpKind::kDiv})
    EXPECT_EQ(count_ops(g, op), 0) << op_name(op) << "\n" << print_graph(g);
  std::vector<std::vector<int64_t>> targets;
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kReshape) targets.push_back(*int_constant(g, n.inputs[1]));
  ASSERT_EQ(targets.size(), 2u) << print_graph(g);
  EXPECT_EQ(targets[0], (std::vector<int64_t>{0, 2, 4, 4, 4}));
  EXPECT_EQ(targets[1], (std::vector<int64_t>{0, -1, 4, 4}));
  // The output's batch dim is known to be the input's again.
  EXPECT_EQ(g.type_of("y")->shape.dims[0].symbol, "batch");
  expect_same_at_batches(before, g);
}

TEST(FoldShapeDims, OtherTensorsDimsAndAllowzeroStayDynamic) {
  // Reshape(z, [Shape(x)[0], -1]) where z's first dim is not x's: must not become [0, -1].
  GraphBuilder b;
  b.batched_input("x", {8});
  b.input("z", {6, 4});
  b.constant("k0", scalar_index(0)).ints("ax0", {0}).ints("m1", {-1});
  b.node(OpKind::kShape, {"x"}, {"s"});
  b.node(OpKind::kGather, {"s", "k0"}, {"n"});
  b.node(OpKind::kUnsqueeze, {"n", "ax0"}, {"un"});
  b.node(OpKind::kConcat, {"un", "m1"}, {"t"}).attrs.set("axis", int64_t{0});
  b.node(OpKind::kReshape, {"z", "t"}, {"y"});
  b.node(OpKind::kReshape, {"x", "t"}, {"y2"}).attrs.set("allowzero", int64_t{1});
  b.output("y").output("y2");
  Graph g = b.finish();
  auto pass = make_fold_shape_dims_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g)) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kShape), 1);
}

}  // namespace
}  // namespace kiln_pass_test
