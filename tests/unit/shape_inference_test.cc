// Shape inference: symbolic batch dims flow through a small imported model.
#include <gtest/gtest.h>

#include "ir/shape_inference.h"
#include "onnx/importer.h"
#include "unit_model_util.h"

namespace kiln {
namespace {

using namespace kiln_unit;

// x[batch,3] -MatMul W[3,4]-> h[batch,4] -Relu-> r -Transpose-> t[4,batch]
//   -Shape-> s; Concat(x, x, axis 0) -> c[2*batch? unknown or derived, 3]; Flatten(x, axis 1) -> f[batch,3]
std::string batch_model() {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {-1, 3}, {"batch"});
  add_float_initializer(g, "W", {3, 4}, std::vector<float>(12, 0.5f));
  add_node(g, "MatMul", {"x", "W"}, {"h"});
  add_node(g, "Relu", {"h"}, {"r"});
  add_node(g, "Transpose", {"r"}, {"t"});
  add_node(g, "Shape", {"x"}, {"s"});
  add_node(g, "Add", {"x", "x"}, {"a"});
  add_value(g->mutable_output(), "t", onnx::TensorProto::FLOAT, {});
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  add_value(g->mutable_output(), "s", onnx::TensorProto::INT64, {});
  g->mutable_output(1)->mutable_type()->mutable_tensor_type()->clear_shape();
  add_value(g->mutable_output(), "a", onnx::TensorProto::FLOAT, {});
  g->mutable_output(2)->mutable_type()->mutable_tensor_type()->clear_shape();
  return m.SerializeAsString();
}

TEST(ShapeInference, SymbolicBatchFlowsThroughModel) {
  auto g = import_onnx_bytes(batch_model(), "", "batch.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  const Graph& graph = **g;

  const TypeInfo* h = graph.type_of("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->dtype, DType::kFloat32);
  ASSERT_TRUE(h->shape.rank_known);
  ASSERT_EQ(h->shape.rank(), 2u);
  EXPECT_EQ(h->shape.dims[0].symbol, "batch") << h->to_string();
  EXPECT_EQ(h->shape.dims[1].value, 4) << h->to_string();

  const TypeInfo* r = graph.type_of("r");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->to_string(), h->to_string());

  const TypeInfo* t = graph.type_of("t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->shape.rank(), 2u) << t->to_string();
  EXPECT_EQ(t->shape.dims[0].value, 4) << t->to_string();
  EXPECT_EQ(t->shape.dims[1].symbol, "batch") << t->to_string();

  const TypeInfo* s = graph.type_of("s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dtype, DType::kInt64);
  ASSERT_EQ(s->shape.rank(), 1u) << s->to_string();
  EXPECT_EQ(s->shape.dims[0].value, 2) << s->to_string();

  const TypeInfo* a = graph.type_of("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->shape.rank(), 2u) << a->to_string();
  EXPECT_EQ(a->shape.dims[0].symbol, "batch") << a->to_string();
  EXPECT_EQ(a->shape.dims[1].value, 3) << a->to_string();
}

TEST(ShapeInference, ReinferAfterChangingInputType) {
  auto g = import_onnx_bytes(batch_model(), "", "batch.onnx", ImportOptions{false});
  ASSERT_TRUE(g.ok()) << g.status().message();
  Graph& graph = **g;
  graph.inputs[0].type = TypeInfo::tensor(DType::kFloat32, Shape::of({5, 3}));
  graph.value_types["x"] = graph.inputs[0].type;
  ASSERT_TRUE(infer_graph_types(graph).ok());
  const TypeInfo* t = graph.type_of("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->to_string(), TypeInfo::tensor(DType::kFloat32, Shape::of({4, 5})).to_string());
}

TEST(ShapeInference, ContradictionNamesTheNode) {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {-1, 3}, {"batch"});
  add_float_initializer(g, "W", {5, 4}, std::vector<float>(20, 1.f));  // inner dims 3 vs 5
  add_node(g, "MatMul", {"x", "W"}, {"y"}, "bad_matmul");
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {-1, 4}, {"batch"});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "mismatch.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad_matmul"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("mismatch.onnx"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kiln
