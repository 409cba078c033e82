// Tests of fold_qdq_fp8 (float8 DequantizeLinear pairs -> MatMul/Gemm [-> bias Add] become one FusedMatMul over the
// float8 values, weights stored [N, K]) and fold_qdq_fp8_output (an FP8 product read only by a float8 QuantizeLinear
// writes the float8 values itself): the reference's outputs stay the same up to float32 rounding (up to one float8
// step for the output fold); patterns the FP8 GEMM cannot take (transA, per-axis weight scales) stay as they are.
#include "core/float_formats.h"
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

Tensor fp8_values(const std::vector<int64_t>& dims, unsigned seed) {
  Tensor t(DType::kFloat8E4M3FN, dims);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = float_to_fp8e4m3fn(u(g), true);
  return t;
}
Tensor fp8_zero() {
  Tensor z(DType::kFloat8E4M3FN, {});
  z.data<uint8_t>()[0] = 0;
  return z;
}

struct Fp8Case {
  OpKind op = OpKind::kMatMul;
  bool trans_a = false, trans_b = false;
  bool bias_add = true;  // MatMul: a constant [N] Add after it; Gemm: C
  bool per_axis_weight = false;
};

// x [2, 3, 32] (Gemm: [6, 32]) -> Q(e4m3) -> DQ -> op(DQ(w8)) [+ bias] -> out.
Graph fp8_graph(const Fp8Case& c) {
  GraphBuilder b(21);
  const bool gemm = c.op == OpKind::kGemm;
  if (gemm)
    b.input("x", c.trans_a ? std::vector<int64_t>{32, 6} : std::vector<int64_t>{6, 32});
  else
    b.input("x", {2, 3, 32});
  b.constant("xs", scalar_f32(0.01f)).constant("xz", fp8_zero());
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  b.node(OpKind::kDequantizeLinear, {"xq", "xs", "xz"}, {"xd"});
  b.constant("wq", fp8_values(c.trans_b ? std::vector<int64_t>{48, 32} : std::vector<int64_t>{32, 48}, 3));
  if (c.per_axis_weight)
    b.floats("ws", {48}, 9);
  else
    b.constant("ws", scalar_f32(0.02f));
  Node& dw = b.node(OpKind::kDequantizeLinear, {"wq", "ws"}, {"wd"});
  if (c.per_axis_weight) dw.attrs.set("axis", int64_t{c.trans_b ? 0 : 1});
  b.floats("bias", {48}, 5);
  if (gemm) {
    Node& m = b.node(OpKind::kGemm,
                     c.bias_add ? std::vector<std::string>{"xd", "wd", "bias"} : std::vector<std::string>{"xd", "wd"},
                     {"out"});
    m.attrs.set("transA", int64_t{c.trans_a});
    m.attrs.set("transB", int64_t{c.trans_b});
    m.attrs.set("alpha", 0.5f);
    m.attrs.set("beta", 2.f);
  } else if (c.bias_add) {
    b.node(OpKind::kMatMul, {"xd", "wd"}, {"y"});
    b.node(OpKind::kAdd, {"bias", "y"}, {"out"});  // the constant first, as some exporters write it
  } else {
    b.node(OpKind::kMatMul, {"xd", "wd"}, {"out"});
  }
  b.output("out");
  return b.finish();
}

TEST(FoldQdqFp8, MatMulWithBiasAddAndGemm) {
  auto pass = make_fold_qdq_fp8_pass();
  for (Fp8Case c :
       {Fp8Case{OpKind::kMatMul}, Fp8Case{OpKind::kMatMul, false, false, false}, Fp8Case{OpKind::kGemm, false, false},
        Fp8Case{OpKind::kGemm, false, true}, Fp8Case{OpKind::kGemm, false, true, false}}) {
    SCOPED_TRACE(std::string(c.op == OpKind::kGemm ? "Gemm" : "MatMul") + (c.trans_b ? " transB" : "") +
                 (c.bias_add ? " bias" : ""));
    Graph g = run_and_compare(*pass, fp8_graph(c), true, 1e-5);
    ASSERT_EQ(count_ops(g, OpKind::kFusedMatMul), 1) << print_graph(g);
    EXPECT_EQ(count_ops(g, OpKind::kMatMul) + count_ops(g, OpKind::kGemm) + count_ops(g, OpKind::kAdd), 0);
    for (const Node& n : g.nodes) {
      if (n.op != OpKind::kFusedMatMul) continue;
      EXPECT_EQ(n.attrs.get_int("transB", 0), 1);  // the float8 weight is stored [N, K]
      ASSERT_EQ(n.inputs.size(), 3u);              // the bias is always there (zeros without one)
      EXPECT_EQ(g.type_of(n.inputs[0])->dtype, DType::kFloat8E4M3FN);
      EXPECT_EQ(g.type_of(n.inputs[1])->shape.to_string(), "[48,32]");
    }
  }
}

TEST(FoldQdqFp8, LeavesWhatTheFp8GemmCannotTake) {
  auto pass = make_fold_qdq_fp8_pass();
  run_and_compare(*pass, fp8_graph({OpKind::kGemm, true, false}), false);                 // transA
  run_and_compare(*pass, fp8_graph({OpKind::kMatMul, false, false, true, true}), false);  // per-axis weight scale
}

// FusedMatMul over float8 (float16 bias, GeluTanh) -> Q(e4m3, float16 scale) -> DQ -> out, as after precision lowering.
TEST(FoldQdqFp8, OutputFoldWritesFloat8) {
  for (bool z : {false, true}) {
    GraphBuilder b(21);
    b.input("a", {4, 32}, DType::kFloat32);
    b.constant("as", scalar_f32(0.01f)).constant("az", fp8_zero());
    b.node(OpKind::kQuantizeLinear, {"a", "as", "az"}, {"aq"});
    b.constant("w", fp8_values({48, 32}, 4));
    Tensor bias(DType::kFloat16, {48});
    for (int i = 0; i < 48; ++i) bias.data<uint16_t>()[i] = float_to_half(0.01f * static_cast<float>(i - 24));
    b.constant("bias", bias);
    std::vector<std::string> in{"aq", "w", "bias"};
    if (z) {
      b.input("z", {4, 48}, DType::kFloat32);
      b.node(OpKind::kCast, {"z"}, {"zh"}).attrs.set("to", static_cast<int64_t>(DType::kFloat16));
      in.push_back("zh");
    }
    Node& f = b.node(OpKind::kFusedMatMul, in, {"y"}, 1);
    f.attrs.set("transB", int64_t{1});
    f.attrs.set("alpha", 0.05f);
    f.attrs.set("activation", std::string("GeluTanh"));
    Tensor ys(DType::kFloat16, {});
    ys.data<uint16_t>()[0] = float_to_half(0.0625f);
    b.constant("ys", ys).constant("yz", fp8_zero());
    b.node(OpKind::kQuantizeLinear, {"y", "ys", "yz"}, {"yq"});
    b.node(OpKind::kDequantizeLinear, {"yq", "ys", "yz"}, {"out"});
    b.output("out");
    auto pass = make_fold_qdq_fp8_output_pass();
    // One float8 step of outputs up to ~2: 1/8 relative.
    Graph g = run_and_compare(*pass, b.finish(), true, 0.13);
    EXPECT_EQ(count_ops(g, OpKind::kQuantizeLinear), 1) << print_graph(g);  // a's only
    for (const Node& n : g.nodes)
      if (n.op == OpKind::kFusedMatMul) {
        ASSERT_EQ(n.inputs.size(), 5u) << print_graph(g);
        EXPECT_EQ(g.type_of(n.outputs[0])->dtype, DType::kFloat8E4M3FN);
        EXPECT_NEAR(constant_value(g, n.inputs[4])->as_double(0), 16.0, 1e-6);  // 1 / 0.0625
      }
  }
}

}  // namespace

namespace {

// fold_qdq_fp8_norm. x [2, 5, 64] float32 -> Cast to `dt` -> LayerNormalization (or FusedAddLayerNorm with r) -> y;
// Q(y, scale of `scale_dt`) to float8 -> DQ -> out0, and y + x -> out1 when `residual_reader`.
struct NormCase {
  DType dt = DType::kFloat16;
  DType scale_dt = DType::kFloat16;
  bool fused_add = false;
  bool residual_reader = true;
  int64_t axis = -1;
  int64_t saturate = 1;
};

Tensor scalar_of(DType dt, float v) {
  Tensor t(dt, {});
  if (dt == DType::kFloat16) t.data<uint16_t>()[0] = float_to_half(v);
  else t.data<float>()[0] = v;
  return t;
}

Graph norm_q_graph(const NormCase& c) {
  GraphBuilder b(21);
  b.input("x", {2, 5, 64});
  b.node(OpKind::kCast, {"x"}, {"xh"}).attrs.set("to", static_cast<int64_t>(c.dt));
  Tensor scale(c.dt, {64}), bias(c.dt, {64});
  for (int i = 0; i < 64; ++i) {
    const float s = 0.5f + 0.01f * static_cast<float>(i), o = 0.02f * static_cast<float>(i - 32);
    if (c.dt == DType::kFloat16) {
      scale.data<uint16_t>()[i] = float_to_half(s);
      bias.data<uint16_t>()[i] = float_to_half(o);
    } else {
      scale.data<float>()[i] = s;
      bias.data<float>()[i] = o;
    }
  }
  b.constant("scale", scale).constant("bias", bias);
  if (c.fused_add) {
    b.input("r", {5, 64});
    b.node(OpKind::kCast, {"r"}, {"rh"}).attrs.set("to", static_cast<int64_t>(c.dt));
    b.node(OpKind::kFusedAddLayerNorm, {"xh", "rh", "scale", "bias"}, {"y"}, 1);
  } else {
    b.node(OpKind::kLayerNormalization, {"xh", "scale", "bias"}, {"y"}).attrs.set("axis", c.axis);
  }
  b.constant("ys", scalar_of(c.scale_dt, 0.02f)).constant("yz", fp8_zero());
  b.node(OpKind::kQuantizeLinear, {"y", "ys", "yz"}, {"yq"}).attrs.set("saturate", c.saturate);
  b.node(OpKind::kDequantizeLinear, {"yq", "ys", "yz"}, {"out0"});
  b.output("out0");
  if (c.residual_reader) {
    b.node(OpKind::kAdd, {"y", "xh"}, {"out1"});
    b.output("out1");
  }
  return b.finish();
}

const Node* find_op(const Graph& g, OpKind op) {
  for (const Node& n : g.nodes)
    if (n.op == op) return &n;
  return nullptr;
}

TEST(FoldQdqFp8Norm, LayerNormWritesFloat8AndKeepsYForItsOtherReader) {
  auto pass = make_fold_qdq_fp8_norm_pass();
  for (DType scale_dt : {DType::kFloat16, DType::kFloat32}) {
    NormCase c;
    c.scale_dt = scale_dt;
    Graph g = run_and_compare(*pass, norm_q_graph(c), true, 0.0);  // the same float8 codes and Y, exactly
    EXPECT_EQ(count_ops(g, OpKind::kQuantizeLinear), 0) << print_graph(g);
    const Node* f = find_op(g, OpKind::kFusedAddLayerNorm);
    ASSERT_NE(f, nullptr) << print_graph(g);
    ASSERT_EQ(f->outputs.size(), 2u);
    EXPECT_EQ(f->outputs[0], "y");  // the residual still reads it
    EXPECT_FALSE(f->has_input(1));
    EXPECT_EQ(g.type_of(f->outputs[1])->dtype, DType::kFloat8E4M3FN);
    EXPECT_EQ(f->attrs.get_int("fp8_round_to_x", -1), scale_dt == DType::kFloat16 ? 1 : 0);
    EXPECT_NEAR(f->attrs.get_float("fp8_scale", 0.f), 0.02f, 1e-5);  // (the float16 scale is 0.0200043)
  }
}

TEST(FoldQdqFp8Norm, SoleQuantizeReaderDropsYAndFusedAddKeepsR) {
  auto pass = make_fold_qdq_fp8_norm_pass();
  NormCase c;
  c.residual_reader = false;
  Graph g = run_and_compare(*pass, norm_q_graph(c), true, 0.0);
  const Node* f = find_op(g, OpKind::kFusedAddLayerNorm);
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->has_output(0)) << print_graph(g);
  c = NormCase{};
  c.dt = DType::kFloat32;
  c.scale_dt = DType::kFloat32;
  c.fused_add = true;
  g = run_and_compare(*pass, norm_q_graph(c), true, 0.0);
  f = find_op(g, OpKind::kFusedAddLayerNorm);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->has_input(1));
  EXPECT_EQ(f->outputs.size(), 2u);
}

TEST(FoldQdqFp8Norm, LeavesOtherAxesAndNonSaturatingQuantizeAlone) {
  auto pass = make_fold_qdq_fp8_norm_pass();
  NormCase c;
  c.axis = 1;  // normalizes [5, 64]: not the last axis alone
  run_and_compare(*pass, norm_q_graph(c), false);
  c = NormCase{};
  c.saturate = 0;
  run_and_compare(*pass, norm_q_graph(c), false);
}

}  // namespace
