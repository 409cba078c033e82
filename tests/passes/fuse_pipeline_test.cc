// End-to-end tests of the fusion passes inside optimize_graph (cpu and cuda pass lists, verifier after every
// pass): a small CNN and a transformer block built as exporters write them keep their outputs and end up as the
// fused ops.
#include <cmath>

#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

Graph small_cnn() {
  GraphBuilder b;
  b.input("image", {2, 3, 8, 8}).floats("w1", {8, 3, 3, 3}, 1).floats("b1", {8}, 2).floats("bn_s", {8}, 3);
  b.floats("bn_b", {8}, 4).floats("bn_m", {8}, 5).constant("bn_v", GraphBuilder::random_tensor({8}, 6, 0.5f, 1.5f));
  b.floats("w2", {16, 4, 3, 3}, 7).floats("b2", {16}, 8).floats("ws", {16, 8, 1, 1}, 9);
  b.floats("fc", {10, 16}, 10).floats("fcb", {10}, 11).constant("half", scalar_f32(0.5f));
  b.constant("one", scalar_f32(1.f));
  const std::vector<int64_t> pad1{1, 1, 1, 1};
  b.node(OpKind::kConv, {"image", "w1", "b1"}, {"c1"}).attrs.set("pads", pad1);
  b.node(OpKind::kBatchNormalization, {"c1", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"});
  b.node(OpKind::kRelu, {"bn"}, {"r1"});
  Node& mp = b.node(OpKind::kMaxPool, {"r1"}, {"p1"});
  mp.attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
  mp.attrs.set("strides", std::vector<int64_t>{2, 2});
  Node& c2 = b.node(OpKind::kConv, {"p1", "w2", "b2"}, {"c2"});
  c2.attrs.set("pads", pad1);
  c2.attrs.set("group", int64_t{2});
  b.node(OpKind::kRelu, {"c2"}, {"r2"});
  b.node(OpKind::kConv, {"p1", "ws"}, {"sc"});
  b.node(OpKind::kAdd, {"r2", "sc"}, {"res"});
  b.node(OpKind::kRelu, {"res"}, {"r3"});
  b.node(OpKind::kGlobalAveragePool, {"r3"}, {"gap"});
  b.node(OpKind::kFlatten, {"gap"}, {"fl"}).attrs.set("axis", int64_t{1});
  b.node(OpKind::kGemm, {"fl", "fc", "fcb"}, {"logits"}).attrs.set("transB", int64_t{1});
  b.node(OpKind::kMul, {"logits", "half"}, {"m"});
  b.node(OpKind::kAdd, {"m", "one"}, {"a"});
  b.node(OpKind::kSigmoid, {"a"}, {"gate"});
  b.output("logits").output("gate");
  return b.finish();
}

Graph transformer_block() {
  const int64_t B = 2, S = 5, D = 16, H = 2, Dh = 8, F = 32;
  GraphBuilder b;
  b.input("x", {B, S, D}).input("mask", {B, 1, 1, S});
  b.constant("two", scalar_f32(2.f)).constant("eps", scalar_f32(1e-5f)).constant("sqrt2", scalar_f32(std::sqrt(2.f)));
  b.constant("one", scalar_f32(1.f)).constant("half", scalar_f32(0.5f)).constant("dk", scalar_f32(std::sqrt(8.f)));
  b.ints("heads", {B, S, H, Dh}).ints("model", {B, S, D});
  unsigned seed = 20;
  auto layer_norm = [&](const std::string& in, const std::string& tag) {
    b.floats(tag + "_g", {D}, seed++).floats(tag + "_b", {D}, seed++);
    b.node(OpKind::kReduceMean, {in}, {tag + "_m"}).attrs.set("axes", std::vector<int64_t>{-1});
    b.node(OpKind::kSub, {in, tag + "_m"}, {tag + "_d"});
    b.node(OpKind::kPow, {tag + "_d", "two"}, {tag + "_sq"});
    b.node(OpKind::kReduceMean, {tag + "_sq"}, {tag + "_v"}).attrs.set("axes", std::vector<int64_t>{-1});
    b.node(OpKind::kAdd, {tag + "_v", "eps"}, {tag + "_ve"});
    b.node(OpKind::kSqrt, {tag + "_ve"}, {tag + "_sd"});
    b.node(OpKind::kDiv, {tag + "_d", tag + "_sd"}, {tag + "_n"});
    b.node(OpKind::kMul, {tag + "_n", tag + "_g"}, {tag + "_gn"});
    b.node(OpKind::kAdd, {tag + "_gn", tag + "_b"}, {tag});
    return tag;
  };
  auto linear = [&](const std::string& in, int64_t din, int64_t dout, const std::string& tag) {
    b.floats(tag + "_w", {din, dout}, seed++).floats(tag + "_bias", {dout}, seed++);
    b.node(OpKind::kMatMul, {in, tag + "_w"}, {tag + "_mm"});
    b.node(OpKind::kAdd, {tag + "_mm", tag + "_bias"}, {tag});
    return tag;
  };
  auto heads = [&](const std::string& in, std::vector<int64_t> perm, const std::string& tag) {
    b.node(OpKind::kReshape, {in, "heads"}, {tag + "_r"});
    b.node(OpKind::kTranspose, {tag + "_r"}, {tag}).attrs.set("perm", perm);
    return tag;
  };
  const std::string h = layer_norm("x", "ln1");
  const std::string q = heads(linear(h, D, D, "q"), {0, 2, 1, 3}, "qh");
  const std::string k = heads(linear(h, D, D, "k"), {0, 2, 3, 1}, "kh");
  const std::string v = heads(linear(h, D, D, "v"), {0, 2, 1, 3}, "vh");
  b.node(OpKind::kMatMul, {q, k}, {"s0"});
  b.node(OpKind::kDiv, {"s0", "dk"}, {"s1"});
  b.node(OpKind::kAdd, {"s1", "mask"}, {"s2"});
  b.node(OpKind::kSoftmax, {"s2"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", v}, {"ctx"});
  b.node(OpKind::kTranspose, {"ctx"}, {"ctx_t"}).attrs.set("perm", std::vector<int64_t>{0, 2, 1, 3});
  b.node(OpKind::kReshape, {"ctx_t", "model"}, {"ctx_r"});
  b.node(OpKind::kAdd, {"x", linear("ctx_r", D, D, "proj")}, {"x1"});
  const std::string h2 = layer_norm("x1", "ln2");
  const std::string f = linear(h2, D, F, "fc1");
  b.node(OpKind::kDiv, {f, "sqrt2"}, {"ga"});
  b.node(OpKind::kErf, {"ga"}, {"ge"});
  b.node(OpKind::kAdd, {"ge", "one"}, {"gp"});
  b.node(OpKind::kMul, {f, "gp"}, {"gm"});
  b.node(OpKind::kMul, {"gm", "half"}, {"gelu"});
  b.node(OpKind::kAdd, {"x1", linear("gelu", F, D, "fc2")}, {"out"});
  b.output("out");
  return b.finish();
}

Graph optimized(const Graph& g, const std::string& device) {
  Graph after = g;
  PassOptions o;
  o.opt_level = 3;
  o.device = device;
  o.verify_each_pass = true;
  Status st = optimize_graph(after, o);
  EXPECT_TRUE(st.ok()) << st.message();
  return after;
}

TEST(FusePipeline, SmallCnnCpuAndCuda) {
  const Graph g = small_cnn();
  Graph cpu = optimized(g, "cpu");
  expect_same_outputs(g, cpu, 1e-4);
  EXPECT_EQ(count_ops(cpu, OpKind::kFusedConv), 3) << print_graph(cpu);
  EXPECT_EQ(count_ops(cpu, OpKind::kBatchNormalization), 0);
  EXPECT_EQ(count_ops(cpu, OpKind::kRelu), 0);
  EXPECT_EQ(count_ops(cpu, OpKind::kGemm), 0);
  EXPECT_EQ(count_ops(cpu, OpKind::kFusedMatMul), 1);
  EXPECT_EQ(count_ops(cpu, OpKind::kFusedElementwise), 0);  // cuda only
  Graph cuda = optimized(g, "cuda");
  expect_same_outputs(g, cuda, 1e-4);
  EXPECT_EQ(count_ops(cuda, OpKind::kFusedConv), 3) << print_graph(cuda);
  EXPECT_EQ(count_ops(cuda, OpKind::kFusedElementwise), 1) << print_graph(cuda);
  EXPECT_EQ(count_ops(cuda, OpKind::kSigmoid), 0);
}

TEST(FusePipeline, TransformerBlock) {
  const Graph g = transformer_block();
  for (const char* device : {"cpu", "cuda"}) {
    SCOPED_TRACE(device);
    Graph o = optimized(g, device);
    expect_same_outputs(g, o, 1e-4);
    EXPECT_EQ(count_ops(o, OpKind::kLayerNormalization), 2) << print_graph(o);
    EXPECT_EQ(count_ops(o, OpKind::kAttention), 1);
    EXPECT_EQ(count_ops(o, OpKind::kSoftmax), 0);
    EXPECT_EQ(count_ops(o, OpKind::kMatMul), 0);
    EXPECT_EQ(count_ops(o, OpKind::kErf), 0);
    EXPECT_EQ(count_ops(o, OpKind::kFusedMatMul), 4);  // Q, K, V projections as one (fuse_qkv_projection)
    EXPECT_EQ(count_ops(o, OpKind::kAdd), 0);  // biases and both residuals are inside FusedMatMul
  }
}

}  // namespace
