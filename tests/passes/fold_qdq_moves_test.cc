// Tests of fold_qdq_moves: QuantizeLinear(M(DequantizeLinear(x)...)) with M a move or selection (MaxPool, Concat,
// Reshape -> Transpose chains) runs M on the 8-bit values with bit-identical outputs: directly where the parameters
// match, through a requantizing QuantizeLinear (a table after fold_qdq_lookup) where they do not; arithmetic M
// (Resize, AveragePool) and per-channel parameters stay.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

// x, w float [1,4,8,8] -> Q -> DQ each ("xd", "wd"), with scales/zero points "xs/xz" and "ws/wz".
GraphBuilder two_inputs(DType t, bool same_params) {
  GraphBuilder b(19);
  b.input("x", {1, 4, 8, 8}).input("w", {1, 4, 8, 8});
  b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(t, t == DType::kInt8 ? 0 : 128));
  b.constant("ws", scalar_f32(same_params ? 0.02f : 0.031f))
      .constant("wz", scalar_q8(t, same_params ? (t == DType::kInt8 ? 0 : 128) : (t == DType::kInt8 ? -9 : 100)));
  for (const char* v : {"x", "w"}) {
    const std::string n(v);
    b.node(OpKind::kQuantizeLinear, {n, n + "s", n + "z"}, {n + "q"});
    b.node(OpKind::kDequantizeLinear, {n + "q", n + "s", n + "z"}, {n + "d"});
  }
  return b;
}

// Appends Q(value; xs, xz) -> DQ -> graph output `out`.
void quantized_output(GraphBuilder& b, const std::string& value, const std::string& out) {
  b.node(OpKind::kQuantizeLinear, {value, "xs", "xz"}, {value + "_q"});
  b.node(OpKind::kDequantizeLinear, {value + "_q", "xs", "xz"}, {out});
  b.output(out);
}

Graph fold(const Graph& g, bool changes) {
  auto moves = make_fold_qdq_moves_pass();
  Graph after = run_and_compare(*moves, g, changes, 0.0);
  auto lookup = make_fold_qdq_lookup_pass();
  run_pass_checked(*lookup, after);
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, after);
  expect_same_outputs(g, after, 0.0);
  return after;
}

bool reads_8bit(const Graph& g, OpKind op) {
  for (const Node& n : g.nodes)
    if (n.op == op) {
      const TypeInfo* t = g.type_of(n.inputs[0]);
      return t && (t->dtype == DType::kUInt8 || t->dtype == DType::kInt8);
    }
  return false;
}

TEST(FoldQdqMoves, MaxPoolConcatReshapeTransposeResize) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (bool same : {true, false}) {
      GraphBuilder b = two_inputs(t, same);
      Node& mp = b.node(OpKind::kMaxPool, {"xd"}, {"mp"});
      mp.attrs.set("kernel_shape", std::vector<int64_t>{3, 3});
      mp.attrs.set("strides", std::vector<int64_t>{2, 2});
      mp.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
      b.node(OpKind::kConcat, {"xd", "wd"}, {"cat"}).attrs.set("axis", int64_t{1});
      b.ints("shape", {1, 2, 2, 64});
      b.node(OpKind::kReshape, {"wd", "shape"}, {"rs"});
      b.node(OpKind::kTranspose, {"rs"}, {"tr"}).attrs.set("perm", std::vector<int64_t>{0, 3, 1, 2});
      quantized_output(b, "mp", "out_mp");
      quantized_output(b, "cat", "out_cat");
      quantized_output(b, "tr", "out_tr");
      Graph g = fold(b.finish(), true);
      for (OpKind op : {OpKind::kMaxPool, OpKind::kConcat, OpKind::kReshape, OpKind::kTranspose})
        EXPECT_TRUE(reads_8bit(g, op)) << op_name(op) << "\n" << print_graph(g);
      // Different parameters: Concat's w input is requantized by a table; the Reshape -> Transpose chain moves
      // with w's parameters and its output's DequantizeLinear -> QuantizeLinear becomes a table too.
      EXPECT_EQ(count_ops(g, OpKind::kLookupTable), same ? 0 : 2) << print_graph(g);
      EXPECT_EQ(count_ops(g, OpKind::kQuantizeLinear), 2) << print_graph(g);  // x's and w's own
    }
  }
}

// A Reshape whose shape is computed at run time (Shape -> Gather -> Concat, as exporters write it): inference alone
// gives its output unknown dimensions, but the importer declared them (ONNX value_info). The moved 8-bit Reshape keeps
// the float value's declared shape, so the Sigmoid after it (same shape) still becomes a table.
TEST(FoldQdqMoves, MovedReshapeKeepsTheDeclaredShape) {
  GraphBuilder b(19);
  b.batched_input("x", {4, 6});
  b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(DType::kUInt8, 128));
  b.constant("ys", scalar_f32(1.f / 256)).constant("yz", scalar_q8(DType::kUInt8, 0));
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  b.node(OpKind::kDequantizeLinear, {"xq", "xs", "xz"}, {"xd"});
  b.node(OpKind::kShape, {"x"}, {"sh"});
  b.ints("zero", {0}).ints("flat", {24});
  b.node(OpKind::kGather, {"sh", "zero"}, {"n"});
  b.node(OpKind::kConcat, {"n", "flat"}, {"shape"}).attrs.set("axis", int64_t{0});
  b.node(OpKind::kReshape, {"xd", "shape"}, {"rs"});
  b.node(OpKind::kQuantizeLinear, {"rs", "xs", "xz"}, {"rq"});
  b.node(OpKind::kDequantizeLinear, {"rq", "xs", "xz"}, {"rd"});
  b.node(OpKind::kSigmoid, {"rd"}, {"sg"});
  b.node(OpKind::kQuantizeLinear, {"sg", "ys", "yz"}, {"sq"});
  b.node(OpKind::kDequantizeLinear, {"sq", "ys", "yz"}, {"out"});
  b.output("out");
  Graph g0 = b.finish();
  const TypeInfo declared = TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim::named("batch"), Dim::known(24)}));
  for (const char* v : {"rs", "rd", "sg", "out"}) g0.value_types[v] = declared;
  g0.value_types["rq"] = g0.value_types["sq"] = TypeInfo::tensor(DType::kUInt8, declared.shape);
  g0.outputs[0].type = declared;
  Graph g = fold(g0, true);
  EXPECT_TRUE(reads_8bit(g, OpKind::kReshape)) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kLookupTable), 1) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kSigmoid), 0) << print_graph(g);
}

TEST(FoldQdqMoves, ArithmeticAndPerChannelStay) {
  GraphBuilder b = two_inputs(DType::kUInt8, true);
  b.constant("scales", filled({4}, 2.f));
  b.node(OpKind::kResize, {"xd", "", "scales"}, {"up"});
  Node& ap = b.node(OpKind::kAveragePool, {"xd"}, {"ap"});
  ap.attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
  quantized_output(b, "up", "out_up");
  quantized_output(b, "ap", "out_ap");
  // A per-channel DequantizeLinear in front of a Transpose.
  Tensor s(DType::kFloat32, {4});
  Tensor z(DType::kUInt8, {4});
  for (int c = 0; c < 4; ++c) s.data<float>()[c] = 0.01f * static_cast<float>(c + 1), z.data<uint8_t>()[c] = 128;
  b.constant("cs", s).constant("cz", z);
  b.node(OpKind::kDequantizeLinear, {"xq", "cs", "cz"}, {"xc"}).attrs.set("axis", int64_t{1});
  b.node(OpKind::kTranspose, {"xc"}, {"tc"}).attrs.set("perm", std::vector<int64_t>{0, 2, 3, 1});
  quantized_output(b, "tc", "out_tc");
  Graph g = fold(b.finish(), false);
  EXPECT_FALSE(reads_8bit(g, OpKind::kResize));
  EXPECT_FALSE(reads_8bit(g, OpKind::kTranspose));
}

}  // namespace
