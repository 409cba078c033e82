// Tests of fuse_qconv_add: QLinearConv -> QLinearAdd(conv output, R) becomes one FusedQLinearConv whose reference
// outputs stay within one output quantization step of the unfused pair (one rounding instead of two);
// conv outputs read elsewhere, a different dequantization of the conv output, a broadcast R and --exact-qdq stay.
// fuse_qmatmul_bias: QLinearMatMul -> QLinearAdd of an 8-bit constant bias becomes the QLinearMatMul's int32 bias,
// within one output step too; a wrapping (saturate=0) QLinearMatMul, a bias that is not per column and
// --exact-qdq stay. fuse_qmatmul_add: a residual Add after a QLinearMatMul joins it (Kiln's inputs 9-11).
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

constexpr float kOutScale = 0.04f;

Tensor weights(unsigned seed) {
  Tensor w(DType::kInt8, {6, 4, 3, 3});
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> u(-60, 60);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(u(g));
  return w;
}

struct Options {
  bool conv_first = true;        // the conv output is the Add's A (else B)
  bool two_convs = false;        // R is a second QLinearConv's output
  bool conv_also_output = false;  // the conv output is a graph output too
  bool other_a_scale = false;    // the Add dequantizes the conv output with another scale
  bool broadcast_r = false;      // R is [1, 6, 1, 1]
  DType r_type = DType::kUInt8;
};

// x, r (float) -> QuantizeLinear; QLinearConv(xq) [, QLinearConv(xq) as R]; QLinearAdd; DequantizeLinear -> out.
Graph residual_graph(const Options& o) {
  GraphBuilder b(13);
  b.input("x", {1, 4, 6, 6});
  b.input("r", o.broadcast_r ? std::vector<int64_t>{1, 6, 1, 1} : std::vector<int64_t>{1, 6, 6, 6});
  b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(DType::kUInt8, 128));
  b.constant("rs", scalar_f32(0.015f)).constant("rz", scalar_q8(o.r_type, o.r_type == DType::kInt8 ? 3 : 125));
  b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 120));
  b.constant("ys2", scalar_f32(0.06f));
  b.constant("cs", scalar_f32(kOutScale)).constant("cz", scalar_q8(DType::kUInt8, 100));
  b.constant("w1", weights(1)).constant("w2", weights(2)).constant("ws", scalar_f32(0.01f));
  b.constant("wz", scalar_q8(DType::kInt8, 0));
  Tensor bias(DType::kInt32, {6});
  for (int i = 0; i < 6; ++i) bias.data<int32_t>()[i] = 300 * i - 700;
  b.constant("bias", bias);
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  b.node(OpKind::kQuantizeLinear, {"r", "rs", "rz"}, {"rq"});
  const std::vector<int64_t> pads{1, 1, 1, 1};
  b.node(OpKind::kQLinearConv, {"xq", "xs", "xz", "w1", "ws", "wz", "ys", "yz", "bias"}, {"y"}).attrs.set("pads", pads);
  std::string r = "rq", r_scale = "rs", r_zp = "rz";
  if (o.two_convs) {
    b.node(OpKind::kQLinearConv, {"xq", "xs", "xz", "w2", "ws", "wz", "ys", "yz"}, {"y2"}).attrs.set("pads", pads);
    r = "y2", r_scale = "ys", r_zp = "yz";
  }
  std::vector<std::string> conv_side{"y", o.other_a_scale ? "ys2" : "ys", "yz"}, r_side{r, r_scale, r_zp};
  std::vector<std::string> in = o.conv_first ? conv_side : r_side;
  const std::vector<std::string>& second = o.conv_first ? r_side : conv_side;
  in.insert(in.end(), second.begin(), second.end());
  in.insert(in.end(), {"cs", "cz"});
  b.node(OpKind::kQLinearAdd, in, {"c"});
  b.node(OpKind::kDequantizeLinear, {"c", "cs", "cz"}, {"out"});
  b.output("out");
  if (o.conv_also_output) b.output("y");
  return b.finish();
}

// Runs the pass; every output value within one output step of the unfused graph's. The unfused conv output's own
// rounding (up to half of its step, 0.05 here, against the output's 0.04) moves about a third of them; at most half.
Graph run_within_one_step(const Graph& g, bool changes, const PassOptions& options = {}) {
  auto pass = make_fuse_qconv_add_pass();
  Graph after = g;
  EXPECT_EQ(run_pass_checked(*pass, after, options), changes) << print_graph(after);
  for (unsigned seed : {1u, 2u, 3u}) {
    auto inputs = random_inputs(g, seed);
    auto a = run_graph(g, inputs);
    auto b = run_graph(after, inputs);
    EXPECT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.status().message() : a.status().message());
    if (!a.ok() || !b.ok()) return after;
    const Tensor& x = (*a)[0].tensor;
    const Tensor& y = (*b)[0].tensor;
    EXPECT_EQ(x.dims(), y.dims());
    int64_t moved = 0;
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double d = std::fabs(x.as_double(k) - y.as_double(k));
      EXPECT_LE(d, kOutScale * 1.001) << "element " << k;
      moved += d > 0;
    }
    EXPECT_LE(moved, x.numel() / 2) << "values that moved one step";
  }
  return after;
}

TEST(FuseQConvAdd, ConvOutputAsEitherOperand) {
  for (DType rt : {DType::kUInt8, DType::kInt8}) {
    for (bool first : {true, false}) {
      Options o;
      o.conv_first = first;
      o.r_type = rt;
      Graph g = run_within_one_step(residual_graph(o), true);
      EXPECT_EQ(count_ops(g, OpKind::kFusedQLinearConv), 1) << print_graph(g);
      EXPECT_EQ(count_ops(g, OpKind::kQLinearAdd) + count_ops(g, OpKind::kQLinearConv), 0);
      for (const Node& n : g.nodes)
        if (n.op == OpKind::kFusedQLinearConv) {
          EXPECT_EQ(n.inputs[6], "cs");  // the Add's output quantization
          EXPECT_EQ(n.inputs[9], "rq");
          EXPECT_EQ(n.attrs.get_ints("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
        }
    }
  }
}

// Both operands are conv outputs (a downsampling block): the later conv takes the Add, the earlier one is its R.
TEST(FuseQConvAdd, TwoConvsFuseTheLaterOne) {
  Options o;
  o.two_convs = true;
  Graph g = run_within_one_step(residual_graph(o), true);
  ASSERT_EQ(count_ops(g, OpKind::kFusedQLinearConv), 1) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kQLinearConv), 1);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kFusedQLinearConv) EXPECT_EQ(n.inputs[9], "y");
}

TEST(FuseQConvAdd, PatternsThatStay) {
  Options read_twice;
  read_twice.conv_also_output = true;
  Options other_scale;
  other_scale.other_a_scale = true;
  Options broadcast;
  broadcast.broadcast_r = true;
  for (const Options& o : {read_twice, other_scale, broadcast}) {
    Graph g = run_within_one_step(residual_graph(o), false);
    EXPECT_EQ(count_ops(g, OpKind::kFusedQLinearConv), 0) << print_graph(g);
  }
  PassOptions exact;
  exact.exact_qdq = true;
  Graph g = run_within_one_step(residual_graph(Options{}), false, exact);
  EXPECT_EQ(count_ops(g, OpKind::kFusedQLinearConv), 0);
}

// x [2, 3, 8] -> QuantizeLinear -> QLinearMatMul(saturate) -> QLinearAdd(bias | Y) -> DequantizeLinear -> out.
Graph bias_graph(bool bias_first, int saturate, const std::vector<int64_t>& bias_dims, bool existing_bias = false) {
  GraphBuilder b(13);
  b.input("x", {2, 3, 8});
  b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(DType::kUInt8, 128));
  b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 120));
  b.constant("cs", scalar_f32(kOutScale)).constant("cz", scalar_q8(DType::kUInt8, 100));
  Tensor w(DType::kInt8, {8, 5});
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> u(-60, 60);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(u(gen));
  Tensor ws(DType::kFloat32, {5}), wz(DType::kInt8, {5});
  for (int c = 0; c < 5; ++c) ws.data<float>()[c] = 0.01f + 0.002f * c, wz.data<int8_t>()[c] = 0;
  b.constant("w", w).constant("ws", ws).constant("wz", wz);
  Tensor bias(DType::kUInt8, bias_dims);
  for (int64_t i = 0; i < bias.numel(); ++i) bias.data<uint8_t>()[i] = static_cast<uint8_t>(40 + 37 * i % 180);
  b.constant("bq", bias).constant("bs", scalar_f32(0.01f)).constant("bz", scalar_q8(DType::kUInt8, 128));
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  std::vector<std::string> mm_in{"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"};
  if (existing_bias) {
    Tensor i32(DType::kInt32, {5});
    for (int c = 0; c < 5; ++c) i32.data<int32_t>()[c] = 400 * c - 900;
    b.constant("b32", i32);
    mm_in.push_back("b32");
  }
  b.node(OpKind::kQLinearMatMul, mm_in, {"y"}).attrs.set("saturate", int64_t{saturate});
  std::vector<std::string> in = bias_first ? std::vector<std::string>{"bq", "bs", "bz", "y", "ys", "yz"}
                                           : std::vector<std::string>{"y", "ys", "yz", "bq", "bs", "bz"};
  in.insert(in.end(), {"cs", "cz"});
  b.node(OpKind::kQLinearAdd, in, {"c"});
  b.node(OpKind::kDequantizeLinear, {"c", "cs", "cz"}, {"out"});
  b.output("out");
  return b.finish();
}

Graph run_bias_pass(const Graph& g, bool changes, const PassOptions& options = {}) {
  auto pass = make_fuse_qmatmul_bias_pass();
  Graph after = g;
  EXPECT_EQ(run_pass_checked(*pass, after, options), changes) << print_graph(after);
  auto inputs = random_inputs(g, 4);
  auto a = run_graph(g, inputs);
  auto b = run_graph(after, inputs);
  EXPECT_TRUE(a.ok() && b.ok());
  if (!a.ok() || !b.ok()) return after;
  for (int64_t k = 0; k < (*a)[0].tensor.numel(); ++k)
    EXPECT_LE(std::fabs((*a)[0].tensor.as_double(k) - (*b)[0].tensor.as_double(k)), kOutScale * 1.001) << k;
  return after;
}

TEST(FuseQMatMulBias, BiasAddBecomesTheInt32Bias) {
  for (bool first : {true, false}) {
    for (bool existing : {false, true}) {
      for (const std::vector<int64_t>& dims : {std::vector<int64_t>{5}, std::vector<int64_t>{1, 1, 5}}) {
        Graph g = run_bias_pass(bias_graph(first, 1, dims, existing), true);
        EXPECT_EQ(count_ops(g, OpKind::kQLinearAdd), 0) << print_graph(g);
        ASSERT_EQ(count_ops(g, OpKind::kQLinearMatMul), 1);
        for (const Node& n : g.nodes)
          if (n.op == OpKind::kQLinearMatMul) {
            EXPECT_EQ(n.inputs.size(), 9u);
            EXPECT_EQ(n.inputs[6], "cs");
            EXPECT_EQ(n.attrs.get_int("saturate"), 1);
          }
      }
    }
  }
}

TEST(FuseQMatMulBias, PatternsThatStay) {
  EXPECT_EQ(count_ops(run_bias_pass(bias_graph(false, 0, {5}), false), OpKind::kQLinearAdd), 1);     // wraps
  EXPECT_EQ(count_ops(run_bias_pass(bias_graph(false, 1, {3, 5}), false), OpKind::kQLinearAdd), 1);  // per row too
  PassOptions exact;
  exact.exact_qdq = true;
  EXPECT_EQ(count_ops(run_bias_pass(bias_graph(false, 1, {5}), false, exact), OpKind::kQLinearAdd), 1);
}

// fuse_qmatmul_add: QLinearMatMul (saturate=1, with or without its int32 bias) -> QLinearAdd(Y, r) becomes the
// QLinearMatMul with r as its residual inputs 9-11, within one output step; a wrapping QLinearMatMul stays.
TEST(FuseQMatMulAdd, ResidualJoinsTheMatMul) {
  for (int saturate : {1, 0}) {
    for (bool bias : {false, true}) {
      GraphBuilder b(13);
      b.input("x", {2, 3, 8}).input("r", {2, 3, 5});
      b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(DType::kUInt8, 128));
      b.constant("rs", scalar_f32(0.015f)).constant("rz", scalar_q8(DType::kInt8, -4));
      b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 120));
      b.constant("cs", scalar_f32(kOutScale)).constant("cz", scalar_q8(DType::kUInt8, 100));
      Tensor w(DType::kInt8, {8, 5});
      for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>((i * 37) % 121 - 60);
      Tensor i32(DType::kInt32, {5});
      for (int c = 0; c < 5; ++c) i32.data<int32_t>()[c] = 500 * c - 1100;
      b.constant("w", w).constant("ws", scalar_f32(0.012f)).constant("wz", scalar_q8(DType::kInt8, 0)).constant("b32", i32);
      b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
      b.node(OpKind::kQuantizeLinear, {"r", "rs", "rz"}, {"rq"});
      std::vector<std::string> mm{"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"};
      if (bias) mm.push_back("b32");
      b.node(OpKind::kQLinearMatMul, mm, {"y"}).attrs.set("saturate", int64_t{saturate});
      b.node(OpKind::kQLinearAdd, {"rq", "rs", "rz", "y", "ys", "yz", "cs", "cz"}, {"c"});
      b.node(OpKind::kDequantizeLinear, {"c", "cs", "cz"}, {"out"});
      b.output("out");
      const Graph before = b.finish();
      auto pass = make_fuse_qmatmul_add_pass();
      Graph after = before;
      EXPECT_EQ(run_pass_checked(*pass, after), saturate == 1) << print_graph(after);
      auto inputs = random_inputs(before, 6);
      auto x = run_graph(before, inputs);
      auto y = run_graph(after, inputs);
      ASSERT_TRUE(x.ok() && y.ok()) << (x.ok() ? y.status().message() : x.status().message());
      for (int64_t k = 0; k < (*x)[0].tensor.numel(); ++k)
        EXPECT_LE(std::fabs((*x)[0].tensor.as_double(k) - (*y)[0].tensor.as_double(k)), kOutScale * 1.001) << k;
      if (saturate != 1) continue;
      EXPECT_EQ(count_ops(after, OpKind::kQLinearAdd), 0) << print_graph(after);
      for (const Node& n : after.nodes)
        if (n.op == OpKind::kQLinearMatMul) {
          ASSERT_EQ(n.inputs.size(), 12u);
          EXPECT_EQ(n.inputs[8], bias ? "b32" : "");
          EXPECT_EQ(n.inputs[9], "rq");
          EXPECT_EQ(n.inputs[6], "cs");
        }
    }
  }
}

// Only the CPU backend asks for them: CUDA has no FusedQLinearConv kernel.
TEST(FuseQConvAdd, InTheCpuPipelineOnly) {
  PassOptions cpu, cuda;
  cpu.device = "cpu";
  cuda.device = "cuda";
  auto has = [](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), "fuse_qconv_add") != names.end();
  };
  auto has_bias = [](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), "fuse_qmatmul_bias") != names.end() &&
           std::find(names.begin(), names.end(), "fuse_qmatmul_add") != names.end();
  };
  EXPECT_TRUE(has(pass_names(cpu)));
  EXPECT_TRUE(has_bias(pass_names(cpu)));
  EXPECT_FALSE(has(pass_names(cuda)));
  EXPECT_FALSE(has_bias(pass_names(cuda)));
  cpu.exact_qdq = true;
  EXPECT_FALSE(has(pass_names(cpu)));
  EXPECT_FALSE(has_bias(pass_names(cpu)));
}

}  // namespace
