// Precision lowering (src/quant/precision.h): dtypes and Casts after the pass, and reference-backend outputs of the
// lowered graph against the float32 graph within fp16/bf16 tolerances.
#include "quant/precision.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "backends/reference/kernel.h"
#include "ir/shape_inference.h"
#include "quant/precision_ops.h"
#include "runtime/executor.h"

namespace kiln {
namespace {

constexpr int kOpset = 23;
constexpr DType kF32 = DType::kFloat32;
constexpr DType kF16 = DType::kFloat16;
constexpr DType kBF16 = DType::kBFloat16;

Node node(OpKind op, const std::string& name, std::vector<std::string> ins, std::vector<std::string> outs,
          Attrs attrs = {}) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  n.attrs = std::move(attrs);
  n.opset = kOpset;
  return n;
}

Attrs attrs(std::initializer_list<std::pair<const std::string, AttrValue>> kv) {
  Attrs a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

Tensor random_tensor(Dims dims, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(kF32, std::move(dims));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// A graph with float32 inputs of the given shapes and outputs named in order (types come from inference).
Graph make_graph(const std::vector<std::pair<std::string, Dims>>& inputs, const std::vector<std::string>& outputs) {
  Graph g;
  g.name = "main";
  g.opsets["ai.onnx"] = kOpset;
  for (const auto& [n, d] : inputs) g.inputs.push_back({n, TypeInfo::tensor(kF32, Shape::of(d))});
  for (const auto& n : outputs) g.outputs.push_back({n, TypeInfo{}});
  return g;
}

void infer(Graph& g) {
  Status st = infer_graph_types(g);
  ASSERT_TRUE(st.ok()) << st.to_string();
}

Result<std::vector<Value>> run(const Graph& g, const std::map<std::string, Tensor>& feeds) {
  Scope scope;
  for (const auto& [n, t] : feeds) scope.set(n, Value::of(t));
  return execute_graph(g, reference_kernels(), scope);
}

DType dtype(const Graph& g, const std::string& v) {
  const TypeInfo* t = g.type_of(v);
  return t ? t->dtype : DType::kUndefined;
}

int count_op(const Graph& g, OpKind op) {
  int c = 0;
  for (const Node& n : g.nodes) c += n.op == op;
  return c;
}

const Node* find_node(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

struct Tolerance {
  double rtol, atol;
};
Tolerance tolerance(DType target) { return target == kF16 ? Tolerance{1e-2, 1e-3} : Tolerance{3e-2, 1e-2}; }

// Lowers a copy of `g` to `target`, checks that it verifies and that its outputs keep their dtypes and match
// the float32 graph's outputs within the target's tolerance. Returns the lowered graph.
Graph lower_and_compare(const Graph& g, DType target, const std::map<std::string, Tensor>& feeds,
                        PrecisionReport* report = nullptr) {
  Graph low = g;
  Result<PrecisionReport> r = lower_precision(low, PrecisionOptions{target});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return low;
  if (report) *report = *r;
  Status v = verify_graph(low);
  EXPECT_TRUE(v.ok()) << v.to_string();
  auto ref = run(g, feeds);
  auto got = run(low, feeds);
  EXPECT_TRUE(ref.ok()) << ref.status().to_string();
  EXPECT_TRUE(got.ok()) << got.status().to_string() << "\n" << print_graph(low);
  if (!ref.ok() || !got.ok()) return low;
  EXPECT_EQ(ref->size(), got->size());
  const Tolerance tol = tolerance(target);
  for (size_t o = 0; o < ref->size() && o < got->size(); ++o) {
    const Tensor& a = (*ref)[o].tensor;
    const Tensor& b = (*got)[o].tensor;
    EXPECT_EQ(a.dtype(), b.dtype()) << "output " << g.outputs[o].name;
    EXPECT_EQ(dtype(low, g.outputs[o].name), dtype(g, g.outputs[o].name)) << g.outputs[o].name;
    EXPECT_EQ(a.dims(), b.dims()) << "output " << g.outputs[o].name;
    if (a.dims() != b.dims()) continue;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double x = a.as_double(i), y = b.as_double(i);
      if (std::fabs(x - y) <= tol.atol + tol.rtol * std::fabs(x)) continue;
      ADD_FAILURE() << "output " << g.outputs[o].name << "[" << i << "]: float32 " << x << " vs " << dtype_name(target)
                    << " " << y << "\n"
                    << print_graph(low);
      break;  // one mismatch per output is enough to read
    }
  }
  return low;
}

// Conv -> Relu -> MaxPool: every node lowered, weights converted in place, one Cast at each boundary.
Graph conv_relu_pool() {
  Graph g = make_graph({{"x", {1, 3, 8, 8}}}, {"y"});
  g.initializers["w"] = random_tensor({4, 3, 3, 3}, 1, -0.5f, 0.5f);
  g.initializers["b"] = random_tensor({4}, 2);
  g.nodes.push_back(
      node(OpKind::kConv, "conv", {"x", "w", "b"}, {"c"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}})));
  g.nodes.push_back(node(OpKind::kRelu, "relu", {"c"}, {"r"}));
  g.nodes.push_back(
      node(OpKind::kMaxPool, "pool", {"r"}, {"y"},
           attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}})));
  return g;
}

class PrecisionTarget : public ::testing::TestWithParam<DType> {};

TEST_P(PrecisionTarget, ConvReluPoolChain) {
  const DType t = GetParam();
  Graph g = conv_relu_pool();
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({1, 3, 8, 8}, 3)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 3);
  EXPECT_EQ(rep.fp32_nodes, 0);
  EXPECT_EQ(rep.casts_inserted, 2);
  EXPECT_EQ(rep.converted_weights, 2);
  EXPECT_EQ(count_op(low, OpKind::kCast), 2);
  EXPECT_EQ(low.initializers.at("w").dtype(), t);
  EXPECT_EQ(low.initializers.at("b").dtype(), t);
  EXPECT_EQ(low.initializers.size(), 2u);
  for (const char* v : {"w", "b", "c", "r"}) EXPECT_EQ(dtype(low, v), t) << v;
  EXPECT_EQ(dtype(low, "x"), kF32);
  EXPECT_EQ(dtype(low, "y"), kF32);
  const Node* conv = find_node(low, "conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(dtype(low, conv->inputs[0]), t);  // the Cast of x
  const Node* pool = find_node(low, "pool");
  ASSERT_NE(pool, nullptr);
  EXPECT_NE(pool->outputs[0], "y");  // renamed; a Cast back to float32 produces y
  EXPECT_EQ(dtype(low, pool->outputs[0]), t);
  EXPECT_EQ(low.nodes.back().op, OpKind::kCast);
  EXPECT_EQ(low.nodes.back().outputs[0], "y");
}

TEST_P(PrecisionTarget, MatMulSoftmaxLayerNormBlock) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {2, 4, 8}}}, {"y"});
  g.initializers["w"] = random_tensor({8, 8}, 4, -0.4f, 0.4f);
  g.initializers["bias"] = random_tensor({8}, 5);
  g.initializers["gamma"] = random_tensor({8}, 6, 0.5f, 1.5f);
  g.initializers["beta"] = random_tensor({8}, 7);
  g.nodes.push_back(node(OpKind::kMatMul, "mm", {"x", "w"}, {"m"}));
  g.nodes.push_back(node(OpKind::kAdd, "add", {"m", "bias"}, {"a"}));
  g.nodes.push_back(node(OpKind::kSoftmax, "sm", {"a"}, {"s"}, attrs({{"axis", int64_t{-1}}})));
  g.nodes.push_back(
      node(OpKind::kLayerNormalization, "ln", {"s", "gamma", "beta"}, {"y"}, attrs({{"axis", int64_t{-1}}})));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({2, 4, 8}, 8)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 4);
  EXPECT_EQ(rep.casts_inserted, 2);
  EXPECT_EQ(rep.converted_weights, 4);
  for (const char* v : {"w", "bias", "gamma", "beta", "m", "a", "s"}) EXPECT_EQ(dtype(low, v), t) << v;
  EXPECT_EQ(dtype(low, "y"), kF32);
}

// A graph output produced by a low node that also feeds a low node and a float32 node (ReduceSum).
TEST_P(PrecisionTarget, OutputProducedByLowNode) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {3, 5}}}, {"m", "sig", "sum"});
  g.initializers["c"] = random_tensor({5}, 9);
  g.initializers["axes"] = Tensor::from_vector<int64_t>(DType::kInt64, {1}, {1});
  g.nodes.push_back(node(OpKind::kMul, "mul", {"x", "c"}, {"m"}));
  g.nodes.push_back(node(OpKind::kSigmoid, "sigmoid", {"m"}, {"sig"}));
  g.nodes.push_back(node(OpKind::kReduceSum, "rsum", {"m", "axes"}, {"sum"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({3, 5}, 10)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 2);
  EXPECT_EQ(rep.fp32_nodes, 1);
  EXPECT_EQ(rep.casts_inserted, 3);  // x to target; m and sig back to float32
  const Node* mul = find_node(low, "mul");
  const Node* sig = find_node(low, "sigmoid");
  const Node* rsum = find_node(low, "rsum");
  ASSERT_TRUE(mul && sig && rsum);
  EXPECT_NE(mul->outputs[0], "m");
  EXPECT_EQ(sig->inputs[0], mul->outputs[0]);  // the low consumer reads the low value directly
  EXPECT_EQ(rsum->inputs[0], "m");             // the float32 consumer reads the Cast back, no second Cast
  EXPECT_EQ(rsum->inputs[1], "axes");
  EXPECT_EQ(dtype(low, mul->outputs[0]), t);
  for (const char* v : {"m", "sig", "sum", "x"}) EXPECT_EQ(dtype(low, v), kF32) << v;
  EXPECT_EQ(dtype(low, "axes"), DType::kInt64);
}

// A weight read by a low node and by a float32 ReduceSum: the low node gets a converted copy.
TEST_P(PrecisionTarget, WeightSharedWithFloat32Node) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {2, 4}}}, {"y", "wsum"});
  g.initializers["w"] = random_tensor({4}, 11);
  g.nodes.push_back(node(OpKind::kMul, "mul", {"x", "w"}, {"m"}));
  g.nodes.push_back(node(OpKind::kTanh, "tanh", {"m"}, {"y"}));
  g.nodes.push_back(node(OpKind::kReduceSum, "rsum", {"w"}, {"wsum"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({2, 4}, 12)}}, &rep);
  EXPECT_EQ(rep.converted_weights, 1);
  EXPECT_EQ(rep.lowered_nodes, 2);
  EXPECT_EQ(rep.fp32_nodes, 1);
  EXPECT_EQ(low.initializers.size(), 2u);
  EXPECT_EQ(low.initializers.at("w").dtype(), kF32);
  const Node* mul = find_node(low, "mul");
  ASSERT_NE(mul, nullptr);
  ASSERT_NE(mul->inputs[1], "w");
  ASSERT_TRUE(low.initializers.count(mul->inputs[1]));
  const Tensor& copy = low.initializers.at(mul->inputs[1]);
  EXPECT_EQ(copy.dtype(), t);
  for (int64_t i = 0; i < copy.numel(); ++i)
    EXPECT_NEAR(copy.as_double(i), low.initializers.at("w").as_double(i), tolerance(t).rtol);
  EXPECT_EQ(find_node(low, "rsum")->inputs[0], "w");
}

// Resize follows its input into the target type; its scales stay float32.
TEST_P(PrecisionTarget, ResizeScalesStayFloat32) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {1, 2, 3, 3}}}, {"y"});
  g.initializers["scales"] = Tensor::from_vector<float>(kF32, {4}, {1.f, 1.f, 2.f, 2.f});
  g.nodes.push_back(node(OpKind::kRelu, "relu", {"x"}, {"r"}));
  g.nodes.push_back(
      node(OpKind::kResize, "resize", {"r", "", "scales"}, {"y"}, attrs({{"mode", std::string("linear")}})));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({1, 2, 3, 3}, 13)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 2);
  EXPECT_EQ(rep.converted_weights, 0);
  EXPECT_EQ(low.initializers.at("scales").dtype(), kF32);
  EXPECT_EQ(dtype(low, "scales"), kF32);
  const Node* resize = find_node(low, "resize");
  ASSERT_NE(resize, nullptr);
  EXPECT_EQ(resize->inputs[2], "scales");
  EXPECT_EQ(dtype(low, resize->inputs[0]), t);
  EXPECT_EQ(dtype(low, resize->outputs[0]), t);
}

// Data movement does not pull float32 values into the target type by itself.
TEST_P(PrecisionTarget, DataMovementFollowsItsInput) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {2, 6}}}, {"y"});
  g.initializers["shape"] = Tensor::from_vector<int64_t>(DType::kInt64, {2}, {3, 4});
  g.nodes.push_back(node(OpKind::kReshape, "reshape", {"x", "shape"}, {"r"}));
  g.nodes.push_back(node(OpKind::kReduceSum, "rsum", {"r"}, {"y"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({2, 6}, 14)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 0);
  EXPECT_EQ(rep.casts_inserted, 0);
  EXPECT_EQ(rep.fp32_nodes, 2);
  EXPECT_EQ(dtype(low, "r"), kF32);
}

// A float32 input moved (Transpose, Pad) only to feed lowered nodes is cast first: the movers run in the target
// type and copy half the bytes. A mover that also feeds a graph output stays float32.
TEST_P(PrecisionTarget, MoversFeedingLoweredNodesFollowTheirReaders) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {1, 3, 6, 6}}}, {"y", "z"});
  g.initializers["w"] = random_tensor({4, 3, 3, 3}, 21, -0.5f, 0.5f);
  g.initializers["pads"] = Tensor::from_vector<int64_t>(DType::kInt64, {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  g.nodes.push_back(
      node(OpKind::kTranspose, "to_nhwc", {"x"}, {"t"}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}})));
  g.nodes.push_back(node(OpKind::kPad, "pad", {"t", "pads"}, {"p"}));
  g.nodes.push_back(node(OpKind::kConv, "conv", {"p", "w"}, {"y"}));
  g.nodes.push_back(
      node(OpKind::kTranspose, "copy_out", {"x"}, {"z"}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}})));
  infer(g);
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({1, 3, 6, 6}, 22)}});
  EXPECT_EQ(dtype(low, "t"), t) << print_graph(low);
  EXPECT_EQ(dtype(low, "p"), t);
  EXPECT_EQ(dtype(low, "z"), kF32);
  // One Cast in (before to_nhwc), one out (after conv).
  EXPECT_EQ(count_op(low, OpKind::kCast), 2) << print_graph(low);
}

// LayerNormalization's Mean and InvStdDev outputs keep the stash type (float32): no Cast for them.
TEST_P(PrecisionTarget, LayerNormStashOutputsStayFloat32) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {3, 16}}}, {"y", "mean", "inv"});
  g.initializers["gamma"] = random_tensor({16}, 15, 0.5f, 1.5f);
  g.initializers["shift"] = random_tensor({16}, 16);
  g.nodes.push_back(node(OpKind::kAdd, "add", {"x", "shift"}, {"a"}));
  g.nodes.push_back(
      node(OpKind::kLayerNormalization, "ln", {"a", "gamma"}, {"y", "mean", "inv"}, attrs({{"axis", int64_t{-1}}})));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({3, 16}, 17)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 2);
  EXPECT_EQ(rep.casts_inserted, 2);  // x in, y out
  const Node* ln = find_node(low, "ln");
  ASSERT_NE(ln, nullptr);
  EXPECT_NE(ln->outputs[0], "y");
  EXPECT_EQ(ln->outputs[1], "mean");
  EXPECT_EQ(ln->outputs[2], "inv");
  EXPECT_EQ(dtype(low, ln->outputs[0]), t);
  EXPECT_EQ(dtype(low, "mean"), kF32);
  EXPECT_EQ(dtype(low, "inv"), kF32);
}

// Pow lowers its base only: a constant exponent stays float32, a computed low-precision one is cast back.
TEST_P(PrecisionTarget, PowExponentKeepsItsType) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {2, 5}}}, {"y", "z"});
  g.initializers["e"] = Tensor::scalar<float>(kF32, 2.f);
  g.initializers["half"] = Tensor::scalar<float>(kF32, 0.5f);
  g.nodes.push_back(node(OpKind::kAbs, "abs", {"x"}, {"a"}));
  g.nodes.push_back(node(OpKind::kPow, "pow_const", {"a", "e"}, {"y"}));
  g.nodes.push_back(node(OpKind::kMul, "mul", {"a", "half"}, {"h"}));
  g.nodes.push_back(node(OpKind::kPow, "pow_low", {"a", "h"}, {"z"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({2, 5}, 18)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 4);
  EXPECT_EQ(rep.converted_weights, 1);  // `half` only
  EXPECT_EQ(low.initializers.at("e").dtype(), kF32);
  const Node* pc = find_node(low, "pow_const");
  const Node* pl = find_node(low, "pow_low");
  ASSERT_TRUE(pc && pl);
  EXPECT_EQ(pc->inputs[1], "e");
  EXPECT_EQ(dtype(low, pc->inputs[0]), t);
  EXPECT_EQ(dtype(low, pl->inputs[0]), t);
  EXPECT_EQ(dtype(low, pl->inputs[1]), kF32);  // a Cast of h back to float32
  EXPECT_NE(pl->inputs[1], "h");
  EXPECT_EQ(rep.casts_inserted, 4);  // x in; h back; y and z out
}

// An If node is float32; its branches read a low-precision value through its float32 name.
TEST_P(PrecisionTarget, IfNodeAndBodyLeftAlone) {
  const DType t = GetParam();
  Graph g = make_graph({{"x", {4}}}, {"y"});
  g.inputs.push_back({"cond", TypeInfo::tensor(DType::kBool, Shape::of({}))});
  g.initializers["one"] = Tensor::scalar<float>(kF32, 1.f);
  auto branch = [](OpKind op, const std::string& name) {
    auto b = std::make_shared<Graph>();
    b->name = name;
    b->outputs.push_back({name + "_out", TypeInfo::tensor(kF32, Shape::of({4}))});
    b->nodes.push_back(node(op, name + "_op", {"r", "one"}, {name + "_out"}));
    return b;
  };
  GraphPtr then_b = branch(OpKind::kAdd, "then"), else_b = branch(OpKind::kMul, "else");
  g.nodes.push_back(node(OpKind::kRelu, "relu", {"x"}, {"r"}));
  g.nodes.push_back(
      node(OpKind::kIf, "if", {"cond"}, {"y"}, attrs({{"then_branch", then_b}, {"else_branch", else_b}})));
  infer(g);
  const std::string then_before = print_graph(*then_b);
  PrecisionReport rep;
  Tensor cond = Tensor::scalar<uint8_t>(DType::kBool, 1);
  Graph low = lower_and_compare(g, t, {{"x", random_tensor({4}, 19)}, {"cond", cond}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 1);
  EXPECT_EQ(rep.fp32_nodes, 1);
  EXPECT_EQ(low.initializers.at("one").dtype(), kF32);
  const Node* relu = find_node(low, "relu");
  const Node* ifn = find_node(low, "if");
  ASSERT_TRUE(relu && ifn);
  EXPECT_NE(relu->outputs[0], "r");
  EXPECT_EQ(dtype(low, "r"), kF32);  // recreated by a Cast back, for the branches
  EXPECT_EQ(print_graph(*ifn->attrs.get_graph("then_branch")), then_before);
  EXPECT_EQ(ifn->attrs.get_graph("else_branch")->nodes[0].inputs[0], "r");
}

INSTANTIATE_TEST_SUITE_P(Targets, PrecisionTarget, ::testing::Values(kF16, kBF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// A weight beyond float16's range keeps its node in float32 for fp16 (reported); bf16 has the range.
TEST(Precision, Float16OverflowGuard) {
  Graph g = make_graph({{"x", {4}}}, {"y"});
  g.initializers["big"] = Tensor::from_vector<float>(kF32, {4}, {1.f, -1e5f, 3.f, 4.f});
  g.nodes.push_back(node(OpKind::kMul, "mul_big", {"x", "big"}, {"m"}));
  g.nodes.push_back(node(OpKind::kSigmoid, "sig", {"m"}, {"y"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, kF16, {{"x", random_tensor({4}, 20, -1e-4f, 1e-4f)}}, &rep);
  EXPECT_EQ(rep.overflow_guarded_nodes, std::vector<std::string>{"mul_big"});
  EXPECT_EQ(rep.lowered_nodes, 1);
  EXPECT_EQ(low.initializers.at("big").dtype(), kF32);
  EXPECT_EQ(dtype(low, "m"), kF32);
  Graph low_bf = g;
  auto r = lower_precision(low_bf, PrecisionOptions{kBF16});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->overflow_guarded_nodes.empty());
  EXPECT_EQ(r->lowered_nodes, 2);
  EXPECT_EQ(low_bf.initializers.at("big").dtype(), kBF16);
}

// A Where selecting -FLT_MAX into a float16 attention mask runs in float16 (the boundary Cast would give -inf
// anyway): no float32 [.., S] tensor, no Cast; nothing is reported as guarded.
TEST(Precision, GuardedMoverFeedingHalfReadersIsLowered) {
  Graph g = make_graph({{"q", {1, 2, 4, 8}}, {"keep", {1, 1, 1, 4}}}, {"y"});
  g.inputs[1].type.dtype = DType::kBool;
  g.initializers["zero"] = Tensor::from_vector<float>(kF32, {}, {0.f});
  g.initializers["lowest"] = Tensor::from_vector<float>(kF32, {}, {-3.4028234663852886e38f});
  g.nodes.push_back(node(OpKind::kWhere, "where", {"keep", "zero", "lowest"}, {"bias"}));
  g.nodes.push_back(node(OpKind::kAttention, "attn", {"q", "q", "q", "bias"}, {"y"}));
  infer(g);
  Graph low = g;
  auto r = lower_precision(low, PrecisionOptions{kF16});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->overflow_guarded_nodes.empty());
  EXPECT_EQ(dtype(low, find_node(low, "where")->outputs[0]), kF16);
  EXPECT_EQ(find_node(low, "attn")->inputs[3], find_node(low, "where")->outputs[0]);
  EXPECT_EQ(count_op(low, OpKind::kCast), 2);  // q in, y out; none for the mask
}

// One Cast per value, shared by every low consumer.
TEST(Precision, OneCastPerValue) {
  Graph g = make_graph({{"x", {3}}}, {"y"});
  g.nodes.push_back(node(OpKind::kExp, "exp", {"x"}, {"e"}));
  g.nodes.push_back(node(OpKind::kNeg, "neg", {"x"}, {"n"}));
  g.nodes.push_back(node(OpKind::kMul, "mul", {"x", "x"}, {"s"}));
  g.nodes.push_back(node(OpKind::kAdd, "add1", {"e", "n"}, {"a"}));
  g.nodes.push_back(node(OpKind::kAdd, "add2", {"a", "s"}, {"y"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, kF16, {{"x", random_tensor({3}, 21)}}, &rep);
  EXPECT_EQ(rep.casts_inserted, 2);
  EXPECT_EQ(count_op(low, OpKind::kCast), 2);
  EXPECT_EQ(find_node(low, "exp")->inputs[0], find_node(low, "mul")->inputs[1]);
}

// Attention's mask is T only when it is float: a bool mask is left alone while Q/K/V are lowered.
TEST(Precision, AttentionBoolMaskUntouched) {
  Graph g = make_graph({{"q", {1, 2, 4, 8}}}, {"y"});
  Tensor mask(DType::kBool, {4, 4});
  for (int64_t i = 0; i < 16; ++i) mask.data<uint8_t>()[i] = i % 4 <= i / 4;  // causal
  g.initializers["mask"] = mask;
  g.nodes.push_back(node(OpKind::kAttention, "attn", {"q", "q", "q", "mask"}, {"y"}));
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, kF16, {{"q", random_tensor({1, 2, 4, 8}, 22)}}, &rep);
  EXPECT_EQ(rep.lowered_nodes, 1);
  EXPECT_EQ(rep.converted_weights, 0);
  EXPECT_EQ(low.initializers.at("mask").dtype(), DType::kBool);
  EXPECT_EQ(find_node(low, "attn")->inputs[3], "mask");
}

// A lowered FusedMatMul's erf GELU becomes the tanh form (fused by cuBLASLt's epilogue) unless asked not to;
// the result stays within float16 tolerance of the float32 erf graph.
Graph fused_matmul_gelu() {
  Graph g = make_graph({{"x", {4, 16}}}, {"y"});
  g.initializers["w"] = random_tensor({16, 8}, 31, -0.5f, 0.5f);
  g.initializers["b"] = random_tensor({8}, 32);
  g.nodes.push_back(
      node(OpKind::kFusedMatMul, "fc", {"x", "w", "b"}, {"y"}, attrs({{"activation", std::string("Gelu")}})));
  g.nodes.back().opset = 1;
  return g;
}

TEST(Precision, FusedMatMulGeluBecomesTanhForm) {
  Graph g = fused_matmul_gelu();
  infer(g);
  PrecisionReport rep;
  Graph low = lower_and_compare(g, kF16, {{"x", random_tensor({4, 16}, 33, -3.f, 3.f)}}, &rep);
  EXPECT_EQ(rep.approximated_gelu, 1);
  EXPECT_EQ(find_node(low, "fc")->attrs.get_string("activation"), "GeluTanh");
}

TEST(Precision, ExactGeluKeepsErfForm) {
  Graph g = fused_matmul_gelu();
  infer(g);
  PrecisionOptions o{kF16};
  o.approximate_gelu = false;
  Result<PrecisionReport> r = lower_precision(g, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->approximated_gelu, 0);
  EXPECT_EQ(find_node(g, "fc")->attrs.get_string("activation"), "Gelu");
}

TEST(Precision, RejectsOtherTargets) {
  Graph g = conv_relu_pool();
  infer(g);
  auto r = lower_precision(g, PrecisionOptions{DType::kInt8});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  Graph untyped = conv_relu_pool();
  EXPECT_FALSE(lower_precision(untyped, PrecisionOptions{}).ok());
}

// Every allow-listed op, alone after a low producer where it is data movement: the reference kernels accept the
// target types, the op is lowered and its outputs match float32. A kernel that fails here must come off the list.
struct OpCase {
  std::string label;
  OpKind op;
  Dims x_dims;
  std::vector<std::string> inputs;  // "X" = the data value; other names are constants from `consts`
  std::map<std::string, Tensor> consts;
  Attrs attrs;
  float lo = -2.f, hi = 2.f;
  bool mover = false;  // prefix a Neg so the op receives a low-precision value
  int num_outputs = 1;
};

Tensor ints(Dims dims, std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v);
}
using I64s = std::vector<int64_t>;

std::vector<OpCase> op_cases() {
  using K = OpKind;
  const Dims d = {2, 3, 4}, img = {1, 3, 4, 4};
  std::vector<OpCase> c;
  auto math = [&](K op, Dims xd, std::vector<std::string> ins, std::map<std::string, Tensor> consts, Attrs a = {}) {
    c.push_back({op_name(op), op, std::move(xd), std::move(ins), std::move(consts), std::move(a)});
  };
  for (K op : {K::kRelu, K::kLeakyRelu, K::kSigmoid,     K::kTanh,       K::kErf,       K::kGelu,     K::kElu,
               K::kSelu, K::kSoftplus,  K::kHardSigmoid, K::kHardSwish,  K::kMish,      K::kExp,      K::kNeg,
               K::kAbs,  K::kSoftmax,   K::kLogSoftmax,  K::kReduceMean, K::kReduceMax, K::kReduceMin})
    math(op, d, {"X"}, {});
  for (K op : {K::kLog, K::kSqrt, K::kReciprocal}) c.push_back({op_name(op), op, d, {"X"}, {}, {}, 0.5f, 2.f});
  for (K op : {K::kGlobalAveragePool, K::kGlobalMaxPool}) math(op, img, {"X"}, {});
  math(K::kAveragePool, img, {"X"}, {}, attrs({{"kernel_shape", I64s{2, 2}}}));
  math(K::kSub, d, {"X", "b"}, {{"b", random_tensor({4}, 30)}});
  math(K::kDiv, d, {"X", "b"}, {{"b", random_tensor({4}, 31, 0.5f, 2.f)}});
  math(K::kClip, d, {"X", "lo", "hi"},
       {{"lo", Tensor::scalar<float>(kF32, -0.5f)}, {"hi", Tensor::scalar<float>(kF32, 0.7f)}});
  math(K::kBatchNormalization, img, {"X", "s", "b", "m", "v"},
       {{"s", random_tensor({3}, 32)},
        {"b", random_tensor({3}, 33)},
        {"m", random_tensor({3}, 34)},
        {"v", random_tensor({3}, 35, 0.5f, 2.f)}});
  math(K::kInstanceNormalization, img, {"X", "s", "b"}, {{"s", random_tensor({3}, 36)}, {"b", random_tensor({3}, 37)}});
  math(K::kGroupNormalization, {1, 4, 3, 3}, {"X", "s", "b"},
       {{"s", random_tensor({4}, 38)}, {"b", random_tensor({4}, 39)}}, attrs({{"num_groups", int64_t{2}}}));
  math(K::kRMSNormalization, d, {"X", "s"}, {{"s", random_tensor({4}, 40)}});
  math(K::kConvTranspose, {1, 2, 3, 3}, {"X", "w"}, {{"w", random_tensor({2, 3, 3, 3}, 41, -0.5f, 0.5f)}});
  math(K::kGemm, {3, 4}, {"X", "w", "c"}, {{"w", random_tensor({4, 5}, 42)}, {"c", random_tensor({5}, 43)}});
  math(K::kAttention, {1, 2, 4, 8}, {"X", "X", "X", "mask"}, {{"mask", random_tensor({4, 4}, 44)}});
  math(K::kFusedConv, img, {"X", "w", "b"},
       {{"w", random_tensor({2, 3, 3, 3}, 45, -0.5f, 0.5f)}, {"b", random_tensor({2}, 46)}},
       attrs({{"activation", std::string("Relu")}}));
  math(K::kFusedMatMul, {3, 4}, {"X", "w", "b"}, {{"w", random_tensor({4, 5}, 47)}, {"b", random_tensor({5}, 48)}},
       attrs({{"activation", std::string("Sigmoid")}}));
  math(K::kFusedElementwise, d, {"X"}, {}, attrs({{"program", std::vector<std::string>{"Sigmoid i0", "Mul i0 s0"}}}));
  math(K::kFusedAddLayerNorm, d, {"X", "r", "s", "b"},
       {{"r", random_tensor({4}, 49)}, {"s", random_tensor({4}, 50)}, {"b", random_tensor({4}, 52)}},
       attrs({{"axis", int64_t{-1}}}));
  auto mover = [&](const char* label, K op, Dims xd, std::vector<std::string> ins, std::map<std::string, Tensor> consts,
                   Attrs a = {}, int outs = 1) {
    OpCase oc{label, op, std::move(xd), std::move(ins), std::move(consts), std::move(a)};
    oc.mover = true;
    oc.num_outputs = outs;
    c.push_back(std::move(oc));
  };
  mover("Reshape", K::kReshape, d, {"X", "shape"}, {{"shape", ints({2}, {6, 4})}});
  mover("Transpose", K::kTranspose, d, {"X"}, {}, attrs({{"perm", I64s{2, 0, 1}}}));
  mover("Concat", K::kConcat, d, {"X", "other"}, {{"other", random_tensor(d, 49)}}, attrs({{"axis", int64_t{1}}}));
  mover("Slice", K::kSlice, d, {"X", "st", "en"}, {{"st", ints({1}, {1})}, {"en", ints({1}, {3})}});
  mover("Gather", K::kGather, d, {"X", "idx"}, {{"idx", ints({2}, {2, 0})}}, attrs({{"axis", int64_t{1}}}));
  mover("Squeeze", K::kSqueeze, {2, 1, 4}, {"X", "ax"}, {{"ax", ints({1}, {1})}});
  mover("Unsqueeze", K::kUnsqueeze, d, {"X", "ax"}, {{"ax", ints({1}, {0})}});
  mover("Flatten", K::kFlatten, d, {"X"}, {});
  mover("Split", K::kSplit, {4, 3}, {"X", "sp"}, {{"sp", ints({2}, {1, 3})}}, {}, 2);
  mover("Expand", K::kExpand, {3, 1}, {"X", "shape"}, {{"shape", ints({2}, {3, 4})}});
  mover("Identity", K::kIdentity, d, {"X"}, {});
  mover("Tile", K::kTile, d, {"X", "rep"}, {{"rep", ints({3}, {1, 2, 1})}});
  mover("Resize", K::kResize, img, {"X", "", "", "sizes"}, {{"sizes", ints({4}, {1, 3, 6, 6})}},
        attrs({{"mode", std::string("linear")}}));
  mover("Pad", K::kPad, d, {"X", "pads", "val"},
        {{"pads", ints({6}, {0, 1, 0, 0, 1, 2})}, {"val", Tensor::scalar<float>(kF32, 0.25f)}});
  Tensor cond(DType::kBool, d);
  for (int64_t i = 0; i < cond.numel(); ++i) cond.data<uint8_t>()[i] = i % 3 == 0;
  mover("Where", K::kWhere, d, {"cond", "X", "other"}, {{"cond", cond}, {"other", random_tensor(d, 50)}});
  mover("DepthToSpace", K::kDepthToSpace, {1, 4, 2, 2}, {"X"}, {}, attrs({{"blocksize", int64_t{2}}}));
  mover("SpaceToDepth", K::kSpaceToDepth, {1, 1, 4, 4}, {"X"}, {}, attrs({{"blocksize", int64_t{2}}}));
  return c;
}

TEST_P(PrecisionTarget, EveryAllowListedOpRunsInTarget) {
  const DType t = GetParam();
  std::set<OpKind> covered;
  for (const OpCase& oc : op_cases()) {
    SCOPED_TRACE(oc.label);
    covered.insert(oc.op);
    std::vector<std::string> outs;
    for (int k = 0; k < oc.num_outputs; ++k) outs.push_back("y" + std::to_string(k));
    Graph g = make_graph({{"x", oc.x_dims}}, outs);
    if (oc.mover) g.nodes.push_back(node(OpKind::kNeg, "pre", {"x"}, {"p"}));
    std::vector<std::string> ins;
    for (const std::string& in : oc.inputs) ins.push_back(in == "X" ? (oc.mover ? "p" : "x") : in);
    for (const auto& [n, v] : oc.consts) g.initializers[n] = v;
    g.nodes.push_back(node(oc.op, "op", ins, outs, oc.attrs));
    Status st = infer_graph_types(g);
    ASSERT_TRUE(st.ok()) << st.to_string();
    Graph low = lower_and_compare(g, t, {{"x", random_tensor(oc.x_dims, 51, oc.lo, oc.hi)}});
    const Node* op = find_node(low, "op");
    ASSERT_NE(op, nullptr);
    for (const std::string& o : op->outputs) EXPECT_EQ(dtype(low, o), t) << "op not lowered";
  }
  for (const LowPrecisionOp& e : low_precision_ops())
    if (e.op != OpKind::kConv && e.op != OpKind::kMatMul && e.op != OpKind::kAdd && e.op != OpKind::kMul &&
        e.op != OpKind::kPow && e.op != OpKind::kMaxPool && e.op != OpKind::kLayerNormalization &&
        e.op != OpKind::kQuantizeLinear && e.op != OpKind::kDequantizeLinear)  // covered above or below
      EXPECT_TRUE(covered.count(e.op)) << op_name(e.op) << " has no case here";
}

// x -> Neg -> QuantizeLinear -> DequantizeLinear -> Relu with scale `scale` (the shape of an int8 graph's float
// island boundaries). Inputs sit a quarter step off the quantization grid, so float16 rounding never crosses a tie.
Graph qdq_chain(float scale) {
  Graph g = make_graph({{"x", {2, 8}}}, {"y"});
  g.initializers["s"] = Tensor::scalar<float>(kF32, scale);
  g.initializers["z"] = Tensor::scalar<int8_t>(DType::kInt8, 3);
  g.nodes.push_back(node(OpKind::kNeg, "neg", {"x"}, {"n"}));
  g.nodes.push_back(node(OpKind::kQuantizeLinear, "q", {"n", "s", "z"}, {"q8"}));
  g.nodes.push_back(node(OpKind::kDequantizeLinear, "dq", {"q8", "s", "z"}, {"d"}));
  g.nodes.push_back(node(OpKind::kRelu, "relu", {"d"}, {"y"}));
  infer(g);
  return g;
}
Tensor off_grid_input(float scale) {
  Tensor x(kF32, {2, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = (static_cast<float>(i) - 7.f + 0.25f) * 3.f * scale;
  return x;
}

TEST(Precision, QuantizeDequantizeLowerToHalfOnly) {
  const float scale = 0.02f;
  Graph half = lower_and_compare(qdq_chain(scale), kF16, {{"x", off_grid_input(scale)}});
  EXPECT_EQ(dtype(half, "n"), kF16);  // Q reads the lowered Neg's output directly: no Cast between
  EXPECT_EQ(dtype(half, find_node(half, "q")->inputs[1]), kF16);
  EXPECT_EQ(dtype(half, "d"), kF16);                // DQ writes the target type for the lowered Relu
  EXPECT_EQ(find_node(half, "q")->inputs[0], "n");  // no Cast between the float16 ops and Q / DQ
  EXPECT_EQ(find_node(half, "relu")->inputs[0], "d");
  // bfloat16's 8-bit mantissa would move the calibrated scale: Q and DQ stay float32 there.
  Graph bf = lower_and_compare(qdq_chain(scale), DType::kBFloat16, {{"x", off_grid_input(scale)}});
  EXPECT_EQ(dtype(bf, "d"), kF32);
  EXPECT_EQ(dtype(bf, find_node(bf, "q")->inputs[1]), kF32);
}

TEST(Precision, QuantizeDequantizeKeepScalesFloat16CannotHold) {
  const float scale = 1e-6f;  // below float16's smallest normal (an int32 bias's scale can be this small)
  Graph low = lower_and_compare(qdq_chain(scale), kF16, {{"x", off_grid_input(scale)}});
  EXPECT_EQ(dtype(low, "d"), kF32);
  EXPECT_EQ(dtype(low, find_node(low, "q")->inputs[1]), kF32);
}

TEST(Precision, AllowListHasOneEntryPerOp) {
  std::set<OpKind> seen;
  for (const LowPrecisionOp& e : low_precision_ops()) EXPECT_TRUE(seen.insert(e.op).second) << op_name(e.op);
  for (OpKind kept : {OpKind::kReduceSum, OpKind::kReduceSumSquare, OpKind::kReduceL2, OpKind::kReduceLogSumExp,
                      OpKind::kReduceProd, OpKind::kCumSum, OpKind::kRange, OpKind::kIf, OpKind::kLoop, OpKind::kScan,
                      OpKind::kRandomNormal, OpKind::kCast})
    EXPECT_EQ(find_low_precision_op(kept), nullptr) << op_name(kept);
}

}  // namespace
}  // namespace kiln
