// Tests of fold_qdq_lookup: DequantizeLinear -> element-wise float ops (through inner Q/DQ pairs) -> QuantizeLinear
// over one 8-bit value becomes one LookupTable with bit-identical outputs (SiLU as quantize_static writes it,
// HardSwish, Clip, composed tables, uint8 and int8); functions of two values, per-channel parameters and shapes
// the constants broadcast stay as they are.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

// Builds x (float [1,4,6,6]) -> Q(xs, xz) -> "xq" and the scale/zero-point constants used below.
GraphBuilder quantized_input(DType t, int zp) {
  GraphBuilder b(19);
  b.input("x", {1, 4, 6, 6});
  b.constant("xs", scalar_f32(0.021f)).constant("xz", scalar_q8(t, zp));
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  b.node(OpKind::kDequantizeLinear, {"xq", "xs", "xz"}, {"xd"});
  return b;
}

// Runs fold_qdq_lookup then eliminate_dead_code; outputs must be exactly the original's.
Graph fold(const Graph& g, bool changes) {
  auto pass = make_fold_qdq_lookup_pass();
  Graph after = run_and_compare(*pass, g, changes, 0.0);
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, after);
  expect_same_outputs(g, after, 0.0);
  return after;
}

TEST(FoldQdqLookup, SiluAsQuantizeStaticWritesIt) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    GraphBuilder b = quantized_input(t, t == DType::kInt8 ? -7 : 131);
    b.constant("ss", scalar_f32(1.f / 256)).constant("sz", scalar_q8(t, t == DType::kInt8 ? -128 : 0));
    b.constant("ms", scalar_f32(0.017f)).constant("mz", scalar_q8(t, t == DType::kInt8 ? -20 : 100));
    b.node(OpKind::kSigmoid, {"xd"}, {"s"});
    b.node(OpKind::kQuantizeLinear, {"s", "ss", "sz"}, {"sq"});
    b.node(OpKind::kDequantizeLinear, {"sq", "ss", "sz"}, {"sd"});
    b.node(OpKind::kMul, {"xd", "sd"}, {"m"});
    b.node(OpKind::kQuantizeLinear, {"m", "ms", "mz"}, {"mq"});
    b.node(OpKind::kDequantizeLinear, {"mq", "ms", "mz"}, {"out"});
    b.output("out");
    Graph g = fold(b.finish(), true);
    EXPECT_EQ(count_ops(g, OpKind::kLookupTable), 1) << print_graph(g);
    EXPECT_EQ(count_ops(g, OpKind::kSigmoid), 0);
    EXPECT_EQ(count_ops(g, OpKind::kMul), 0);
    EXPECT_EQ(count_ops(g, OpKind::kQuantizeLinear), 1);  // x's own
    // fold_qdq_binary runs after the tables: nothing left for it (SiLU's Mul is inside the table).
    auto binary = make_fold_qdq_binary_pass();
    run_pass_checked(*binary, g);
    EXPECT_EQ(count_ops(g, OpKind::kQLinearMul), 0) << print_graph(g);
  }
}

TEST(FoldQdqLookup, HardSwishAndClipWithConstantBounds) {
  for (bool clip : {false, true}) {
    GraphBuilder b = quantized_input(DType::kInt8, 3);
    b.constant("ys", scalar_f32(0.013f)).constant("yz", scalar_q8(DType::kInt8, -30));
    if (clip) {
      b.constant("lo", scalar_f32(0.f)).constant("hi", scalar_f32(1.5f));
      b.node(OpKind::kClip, {"xd", "lo", "hi"}, {"a"});
    } else {
      b.node(OpKind::kHardSwish, {"xd"}, {"a"});
    }
    b.node(OpKind::kQuantizeLinear, {"a", "ys", "yz"}, {"aq"});
    b.node(OpKind::kDequantizeLinear, {"aq", "ys", "yz"}, {"out"});
    b.output("out");
    Graph g = fold(b.finish(), true);
    EXPECT_EQ(count_ops(g, OpKind::kLookupTable), 1) << print_graph(g);
    EXPECT_EQ(count_ops(g, clip ? OpKind::kClip : OpKind::kHardSwish), 0);
  }
}

// xq -> Relu table -> rq (read by a graph output) -> Tanh table: both tables read xq (the second composes both).
TEST(FoldQdqLookup, TablesComposeThroughInnerQuantization) {
  GraphBuilder b = quantized_input(DType::kUInt8, 120);
  b.constant("rs", scalar_f32(0.011f)).constant("rz", scalar_q8(DType::kUInt8, 0));
  b.constant("ts", scalar_f32(1.f / 128)).constant("tz", scalar_q8(DType::kUInt8, 128));
  b.node(OpKind::kRelu, {"xd"}, {"r"});
  b.node(OpKind::kQuantizeLinear, {"r", "rs", "rz"}, {"rq"});
  b.node(OpKind::kDequantizeLinear, {"rq", "rs", "rz"}, {"out_relu"});
  b.node(OpKind::kMul, {"out_relu", "rs"}, {"scaled"});  // a scalar constant operand
  b.node(OpKind::kTanh, {"scaled"}, {"t"});
  b.node(OpKind::kQuantizeLinear, {"t", "ts", "tz"}, {"tq"});
  b.node(OpKind::kDequantizeLinear, {"tq", "ts", "tz"}, {"out_tanh"});
  b.output("out_relu").output("out_tanh");
  Graph g = fold(b.finish(), true);
  EXPECT_EQ(count_ops(g, OpKind::kLookupTable), 2) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kTanh), 0);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kLookupTable) EXPECT_EQ(n.inputs[0], "xq") << print_graph(g);
}

TEST(FoldQdqLookup, LeavesFunctionsOfTwoValuesPerChannelAndBroadcasts) {
  {  // residual Add of two different 8-bit values
    GraphBuilder b = quantized_input(DType::kUInt8, 128);
    b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 128));
    b.node(OpKind::kRelu, {"xd"}, {"r"});
    b.node(OpKind::kQuantizeLinear, {"r", "ys", "yz"}, {"rq"});
    b.node(OpKind::kDequantizeLinear, {"rq", "ys", "yz"}, {"rd"});
    b.node(OpKind::kSigmoid, {"x"}, {"xs_float"});  // a float value from outside any Q/DQ
    b.node(OpKind::kAdd, {"rd", "xs_float"}, {"a"});
    b.node(OpKind::kQuantizeLinear, {"a", "ys", "yz"}, {"aq"});
    b.node(OpKind::kDequantizeLinear, {"aq", "ys", "yz"}, {"out"});
    b.output("out");
    Graph g = fold(b.finish(), true);  // the Relu's table folds, the Add does not
    EXPECT_EQ(count_ops(g, OpKind::kLookupTable), 1) << print_graph(g);
    EXPECT_EQ(count_ops(g, OpKind::kAdd), 1);
  }
  {  // per-channel DequantizeLinear
    GraphBuilder b(19);
    b.input("x", {1, 4, 6, 6});
    Tensor s(DType::kFloat32, {4});
    Tensor z(DType::kUInt8, {4});
    for (int c = 0; c < 4; ++c) s.data<float>()[c] = 0.01f * static_cast<float>(c + 1), z.data<uint8_t>()[c] = 100;
    b.constant("s", s).constant("z", z).constant("ys", scalar_f32(0.01f)).constant("yz", scalar_q8(DType::kUInt8, 0));
    b.node(OpKind::kQuantizeLinear, {"x", "s", "z"}, {"xq"}).attrs.set("axis", int64_t{1});
    b.node(OpKind::kDequantizeLinear, {"xq", "s", "z"}, {"xd"}).attrs.set("axis", int64_t{1});
    b.node(OpKind::kSigmoid, {"xd"}, {"sg"});
    b.node(OpKind::kQuantizeLinear, {"sg", "ys", "yz"}, {"sq"});
    b.node(OpKind::kDequantizeLinear, {"sq", "ys", "yz"}, {"out"});
    b.output("out");
    fold(b.finish(), false);
  }
  {  // a single-element constant of higher rank broadcasts the output to [1,1,4,6,6]
    GraphBuilder b = quantized_input(DType::kUInt8, 128);
    b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 128));
    b.constant("k", filled({1, 1, 1, 1, 1}, 2.f));
    b.node(OpKind::kMul, {"xd", "k"}, {"m"});
    b.node(OpKind::kQuantizeLinear, {"m", "ys", "yz"}, {"mq"});
    b.node(OpKind::kDequantizeLinear, {"mq", "ys", "yz"}, {"out"});
    b.output("out");
    fold(b.finish(), false);
  }
}

}  // namespace
