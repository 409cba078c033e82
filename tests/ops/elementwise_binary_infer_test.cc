// Tests of the elementwise_binary family's shape inference, constant folding and legacy normalization.
#include <gtest/gtest.h>

#include "ir/shape_inference.h"
#include "onnx/ops/normalize.h"

namespace {

using kiln::Dim;
using kiln::DType;
using kiln::Graph;
using kiln::Node;
using kiln::OpKind;
using kiln::Shape;
using kiln::Tensor;
using kiln::TypeInfo;

Node make_node(OpKind op, std::vector<std::string> in, std::vector<std::string> out, int opset = 25) {
  Node n;
  n.op = op;
  n.name = out[0] + "_node";
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.opset = opset;
  return n;
}

Tensor i64(std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

Graph graph_with(std::vector<std::pair<std::string, TypeInfo>> inputs) {
  Graph g;
  for (auto& [n, t] : inputs) g.inputs.push_back({n, t});
  return g;
}

TypeInfo f32(std::vector<Dim> dims) { return TypeInfo::tensor(DType::kFloat32, Shape::of_dims(std::move(dims))); }

TEST(ElementwiseBinaryInfer, BroadcastKeepsSymbols) {
  Graph g = graph_with(
      {{"a", f32({Dim::named("batch"), Dim::known(1), Dim::known(4)})}, {"b", f32({Dim::known(3), Dim::known(1)})}});
  g.nodes.push_back(make_node(OpKind::kAdd, {"a", "b"}, {"y"}));
  g.nodes.push_back(make_node(OpKind::kLess, {"a", "b"}, {"c"}));
  g.nodes.push_back(make_node(OpKind::kWhere, {"c", "a", "b"}, {"w"}));
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["y"].to_string(), "float32[batch,3,4]");
  EXPECT_EQ(g.value_types["c"].dtype, DType::kBool);
  EXPECT_EQ(g.value_types["w"].to_string(), "float32[batch,3,4]");
}

TEST(ElementwiseBinaryInfer, MismatchedKnownDimsFail) {
  Graph g = graph_with({{"a", f32({Dim::known(2)})}, {"b", f32({Dim::known(3)})}});
  g.nodes.push_back(make_node(OpKind::kMul, {"a", "b"}, {"y"}));
  EXPECT_FALSE(kiln::infer_graph_types(g).ok());
  Graph h = graph_with({{"a", f32({Dim::known(2)})}, {"b", TypeInfo::tensor(DType::kInt64, Shape::of({2}))}});
  h.nodes.push_back(make_node(OpKind::kSub, {"a", "b"}, {"y"}));
  EXPECT_FALSE(kiln::infer_graph_types(h).ok());
}

TEST(ElementwiseBinaryInfer, FoldsSmallIntConstants) {
  Graph g;
  g.initializers["s"] = i64({2, 3, -1});
  g.initializers["k"] = i64({2});
  g.nodes.push_back(make_node(OpKind::kMul, {"s", "k"}, {"m"}));
  g.nodes.push_back(make_node(OpKind::kEqual, {"s", "k"}, {"e"}));
  g.nodes.push_back(make_node(OpKind::kWhere, {"e", "k", "m"}, {"w"}));
  g.nodes.push_back(make_node(OpKind::kMax, {"m", "k"}, {"x"}));
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["w"].to_string(), "int64[3]");
  EXPECT_EQ(g.value_types["x"].to_string(), "int64[3]");
}

TEST(ElementwiseBinaryInfer, QuantizeDtypes) {
  Graph g = graph_with({{"x", f32({Dim::named("n"), Dim::known(4)})}});
  g.initializers["s"] = Tensor::scalar<float>(DType::kFloat32, 1.f);
  g.initializers["zp"] = Tensor::scalar<int8_t>(DType::kInt8, 0);
  g.nodes.push_back(make_node(OpKind::kQuantizeLinear, {"x", "s", "zp"}, {"q"}));
  g.nodes.push_back(make_node(OpKind::kDequantizeLinear, {"q", "s", "zp"}, {"d"}));
  Node dq = make_node(OpKind::kQuantizeLinear, {"x", "s"}, {"q4"});
  dq.attrs.set("output_dtype", int64_t{22});
  g.nodes.push_back(dq);
  g.nodes.push_back(make_node(OpKind::kDynamicQuantizeLinear, {"x"}, {"y", "ys", "yz"}));
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["q"].to_string(), "int8[n,4]");
  EXPECT_EQ(g.value_types["d"].to_string(), "float32[n,4]");
  EXPECT_EQ(g.value_types["q4"].dtype, DType::kInt4);
  EXPECT_EQ(g.value_types["ys"].to_string(), "float32[]");
  EXPECT_EQ(g.value_types["yz"].dtype, DType::kUInt8);
}

TEST(ElementwiseBinaryInfer, LegacyBroadcastNormalizerReshapesInitializer) {
  Graph g = graph_with({{"a", f32({Dim::known(2), Dim::known(3), Dim::known(4)})}});
  g.value_types["a"] = g.inputs[0].type;
  g.initializers["b"] = Tensor::from_vector<float>(DType::kFloat32, {3}, {1, 2, 3});
  Node n = make_node(OpKind::kAdd, {"a", "b"}, {"y"}, 6);
  n.attrs.set("broadcast", int64_t{1});
  n.attrs.set("axis", int64_t{1});
  kiln::NormalizeContext ctx{g, n, 6};
  kiln::NormalizeFn fn = kiln::normalize_registry().find(OpKind::kAdd);
  ASSERT_NE(fn, nullptr);
  ASSERT_TRUE(fn(ctx).ok());
  EXPECT_FALSE(n.attrs.has("axis"));
  EXPECT_EQ(g.initializers[n.inputs[1]].dims(), (kiln::Dims{3, 1}));
  g.nodes.push_back(n);
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["y"].to_string(), "float32[2,3,4]");
}

}  // namespace
