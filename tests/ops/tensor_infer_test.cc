// Tests of the tensor family's shape inference: symbolic dims and constant folding of shape subgraphs.
#include <gtest/gtest.h>

#include "ir/shape_inference.h"

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

// x: float32[batch, 3, 4]
Graph base_graph() {
  Graph g;
  g.inputs.push_back({"x", TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim::named("batch"), Dim::known(3), Dim::known(4)}))});
  return g;
}

TEST(TensorInfer, ReshapeKeepsSymbolicBatch) {
  Graph g = base_graph();
  g.initializers["s"] = i64({0, -1});
  g.nodes.push_back(make_node(OpKind::kReshape, {"x", "s"}, {"y"}));
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["y"].shape.to_string(), "[batch,12]");
}

TEST(TensorInfer, ShapeSliceFoldsToConstant) {
  Graph g = base_graph();
  g.initializers["st"] = i64({1});
  g.initializers["en"] = i64({3});
  g.initializers["ax"] = i64({0});
  Node sh = make_node(OpKind::kShape, {"x"}, {"shp"});
  sh.attrs.set("start", int64_t{1});
  g.nodes.push_back(sh);
  // Concat([-1], Shape(x)[1:]) -> constant [-1, 3, 4]; Reshape with it infers [batch, 3, 4].
  g.initializers["m1"] = i64({-1});
  Node cat = make_node(OpKind::kConcat, {"m1", "shp"}, {"newshape"});
  cat.attrs.set("axis", int64_t{0});
  g.nodes.push_back(cat);
  g.nodes.push_back(make_node(OpKind::kReshape, {"x", "newshape"}, {"y"}));
  g.nodes.push_back(make_node(OpKind::kSlice, {"newshape", "st", "en", "ax"}, {"tail"}));
  g.nodes.push_back(make_node(OpKind::kUnsqueeze, {"tail", "ax"}, {"tail2"}));
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["shp"].shape.to_string(), "[2]");
  EXPECT_EQ(g.value_types["newshape"].shape.to_string(), "[3]");
  EXPECT_EQ(g.value_types["y"].shape.to_string(), "[batch,3,4]");
  EXPECT_EQ(g.value_types["tail2"].shape.to_string(), "[1,2]");
}

TEST(TensorInfer, GatherSplitTopKShapes) {
  Graph g = base_graph();
  g.initializers["idx"] = i64({0, 2});
  g.initializers["k"] = i64({2});
  g.initializers["sp"] = i64({1, 3});
  Node ga = make_node(OpKind::kGather, {"x", "idx"}, {"g"});
  ga.attrs.set("axis", int64_t{2});
  g.nodes.push_back(ga);
  Node sp = make_node(OpKind::kSplit, {"x", "sp"}, {"a", "b"});
  sp.attrs.set("axis", int64_t{-1});
  g.nodes.push_back(sp);
  g.nodes.push_back(make_node(OpKind::kTopK, {"x", "k"}, {"v", "i"}));
  ASSERT_TRUE(kiln::infer_graph_types(g).ok());
  EXPECT_EQ(g.value_types["g"].shape.to_string(), "[batch,3,2]");
  EXPECT_EQ(g.value_types["b"].shape.to_string(), "[batch,3,3]");
  EXPECT_EQ(g.value_types["i"].to_string(), "int64[batch,3,2]");
}

TEST(TensorInfer, BadInputsAreErrors) {
  Graph g = base_graph();
  g.initializers["s"] = i64({5, -1});
  g.nodes.push_back(make_node(OpKind::kReshape, {"x", "s"}, {"y"}));
  // [batch, 3, 4] -> [5, ?] is possible (batch unknown), so this is fine...
  EXPECT_TRUE(kiln::infer_graph_types(g).ok());
  Graph h = base_graph();
  h.initializers["ax"] = i64({1});
  h.nodes.push_back(make_node(OpKind::kSqueeze, {"x", "ax"}, {"y"}));  // dim 3 cannot be squeezed
  EXPECT_FALSE(kiln::infer_graph_types(h).ok());
}

}  // namespace
