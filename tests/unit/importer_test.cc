// ONNX importer: old op forms normalized, external data, Constant nodes.
#include <gtest/gtest.h>

#include <fstream>

#include "onnx/importer.h"
#include "unit_model_util.h"

namespace kiln {
namespace {

using namespace kiln_unit;

const Node* find_op(const Graph& g, OpKind op) {
  for (const auto& n : g.nodes)
    if (n.op == op) return &n;
  return nullptr;
}

const Tensor* constant_input(const Graph& g, const Node& n, size_t i) {
  if (!n.has_input(i)) return nullptr;
  auto it = g.initializers.find(n.inputs[i]);
  return it == g.initializers.end() ? nullptr : &it->second;
}

TEST(Importer, Opset7ClipAttributesBecomeInputs) {
  onnx::ModelProto m = make_model(7);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2, 3});
  auto* clip = add_node(g, "Clip", {"x"}, {"y"});
  add_float_attr(clip, "min", -0.5f);
  add_float_attr(clip, "max", 2.5f);
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {2, 3});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "clip7.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Node* n = find_op(**r, OpKind::kClip);
  ASSERT_NE(n, nullptr);
  EXPECT_FALSE(n->attrs.has("min"));
  EXPECT_FALSE(n->attrs.has("max"));
  ASSERT_EQ(n->inputs.size(), 3u);
  const Tensor* lo = constant_input(**r, *n, 1);
  const Tensor* hi = constant_input(**r, *n, 2);
  ASSERT_TRUE(lo && hi);
  EXPECT_EQ(lo->numel(), 1);
  EXPECT_FLOAT_EQ(static_cast<float>(lo->as_double(0)), -0.5f);
  EXPECT_FLOAT_EQ(static_cast<float>(hi->as_double(0)), 2.5f);
}

// paddle2onnx names every unknown dim "?": each is its own dynamic dim (an image input [N, 3, ?, ?] takes 48x192),
// while real names ("batch", "seq_len", "unk__3") still tie the dims that carry them.
TEST(Importer, PunctuationDimParamsAreAnonymous) {
  onnx::ModelProto m = make_model(13);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (const char* p : {"batch", "?", "?", "*", "unk__3"}) tt->mutable_shape()->add_dim()->set_dim_param(p);
  add_node(g, "Relu", {"x"}, {"y"});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "paddle.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Shape& s = (*r)->inputs[0].type.shape;
  ASSERT_EQ(s.dims.size(), 5u);
  EXPECT_EQ(s.dims[0].symbol, "batch");
  EXPECT_EQ(s.dims[1].symbol, "");
  EXPECT_EQ(s.dims[2].symbol, "");
  EXPECT_EQ(s.dims[3].symbol, "");
  EXPECT_EQ(s.dims[4].symbol, "unk__3");
  for (const Dim& d : s.dims) EXPECT_LT(d.value, 0);
}

TEST(Importer, Opset7ClipWithOnlyMax) {
  onnx::ModelProto m = make_model(7);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {4});
  add_float_attr(add_node(g, "Clip", {"x"}, {"y"}), "max", 1.f);
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {4});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "clip7max.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Node* n = find_op(**r, OpKind::kClip);
  ASSERT_NE(n, nullptr);
  EXPECT_FALSE(n->has_input(1));  // min left out
  const Tensor* hi = constant_input(**r, *n, 2);
  ASSERT_NE(hi, nullptr);
  EXPECT_FLOAT_EQ(static_cast<float>(hi->as_double(0)), 1.f);
}

TEST(Importer, Opset7SqueezeAxesAttributeBecomesInput) {
  onnx::ModelProto m = make_model(7);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {1, 3, 1, 2});
  add_ints_attr(add_node(g, "Squeeze", {"x"}, {"y"}), "axes", {0, 2});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {3, 2});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "squeeze7.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Node* n = find_op(**r, OpKind::kSqueeze);
  ASSERT_NE(n, nullptr);
  EXPECT_FALSE(n->attrs.has("axes"));
  const Tensor* axes = constant_input(**r, *n, 1);
  ASSERT_NE(axes, nullptr);
  ASSERT_EQ(axes->dtype(), DType::kInt64);
  ASSERT_EQ(axes->numel(), 2);
  EXPECT_EQ(axes->as_int64(0), 0);
  EXPECT_EQ(axes->as_int64(1), 2);
  const TypeInfo* y = (*r)->type_of("y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->to_string(), TypeInfo::tensor(DType::kFloat32, Shape::of({3, 2})).to_string());
}

onnx::ModelProto external_model(const std::string& location, int64_t offset) {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {4});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = w->add_external_data();
  kv->set_key("location");
  kv->set_value(location);
  kv = w->add_external_data();
  kv->set_key("offset");
  kv->set_value(std::to_string(offset));
  kv = w->add_external_data();
  kv->set_key("length");
  kv->set_value("16");
  add_node(g, "Add", {"x", "w"}, {"y"});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {4});
  return m;
}

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(Importer, ExternalDataLoadedFromSideFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "weights");
  float vals[6] = {99.f, 99.f, 1.5f, -2.f, 3.25f, 4.f};  // tensor starts at byte offset 8
  write_file(dir.path / "weights" / "w.bin", std::string(reinterpret_cast<const char*>(vals), sizeof(vals)));
  write_file(dir.path / "model.onnx", external_model("weights/w.bin", 8).SerializeAsString());
  auto r = import_onnx_file((dir.path / "model.onnx").string());
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE((*r)->initializers.count("w"));
  const Tensor& w = (*r)->initializers.at("w");
  ASSERT_EQ(w.numel(), 4);
  EXPECT_FLOAT_EQ(w.data<float>()[0], 1.5f);
  EXPECT_FLOAT_EQ(w.data<float>()[1], -2.f);
  EXPECT_FLOAT_EQ(w.data<float>()[2], 3.25f);
  EXPECT_FLOAT_EQ(w.data<float>()[3], 4.f);
}

TEST(Importer, ExternalDataPathWithDotDotRejected) {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "model");
  float vals[4] = {1, 2, 3, 4};
  write_file(dir.path / "secret.bin", std::string(reinterpret_cast<const char*>(vals), sizeof(vals)));
  write_file(dir.path / "model" / "model.onnx", external_model("../secret.bin", 0).SerializeAsString());
  auto r = import_onnx_file((dir.path / "model" / "model.onnx").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("../secret.bin"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("'w'"), std::string::npos) << r.status().message();
}

TEST(Importer, ExternalDataAbsolutePathAndOutOfRangeRejected) {
  TempDir dir;
  write_file(dir.path / "m.onnx", external_model("/etc/passwd", 0).SerializeAsString());
  EXPECT_FALSE(import_onnx_file((dir.path / "m.onnx").string()).ok());
  write_file(dir.path / "small.bin", std::string(8, '\0'));  // needs 16 bytes
  write_file(dir.path / "m2.onnx", external_model("small.bin", 0).SerializeAsString());
  auto r = import_onnx_file((dir.path / "m2.onnx").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("small.bin"), std::string::npos) << r.status().message();
}

TEST(Importer, ConstantNodeBecomesInitializer) {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {3});
  auto* c = add_node(g, "Constant", {}, {"k"});
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(3);
  for (float v : {1.f, 2.f, 3.f}) t->add_float_data(v);
  add_ints_attr(add_node(g, "Constant", {}, {"k2"}), "value_ints", {7, 8});
  g->mutable_node(1)->mutable_attribute(0)->set_name("value_ints");
  add_node(g, "Mul", {"x", "k"}, {"y"});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {3});
  add_value(g->mutable_output(), "k2", onnx::TensorProto::INT64, {2});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "const.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Graph& graph = **r;
  EXPECT_EQ(find_op(graph, OpKind::kConstant), nullptr);
  ASSERT_EQ(graph.nodes.size(), 1u);
  ASSERT_TRUE(graph.initializers.count("k"));
  const Tensor& k = graph.initializers.at("k");
  ASSERT_EQ(k.numel(), 3);
  EXPECT_FLOAT_EQ(k.data<float>()[2], 3.f);
  ASSERT_TRUE(graph.initializers.count("k2"));
  EXPECT_EQ(graph.initializers.at("k2").dtype(), DType::kInt64);
  EXPECT_EQ(graph.initializers.at("k2").as_int64(1), 8);
}

TEST(Importer, HugeDeclaredTensorWithoutDataFailsFast) {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(1000000);
  w->add_dims(4000);  // 16 GB declared, no data
  add_node(g, "Relu", {"x"}, {"y"});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {2});
  auto r = import_onnx_bytes(m.SerializeAsString(), "", "huge.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'w'"), std::string::npos) << r.status().message();
}

TEST(Importer, GarbageAndTruncatedBytesFailCleanly) {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2});
  add_node(g, "Relu", {"x"}, {"y"});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {2});
  std::string bytes = m.SerializeAsString();
  ASSERT_TRUE(import_onnx_bytes(bytes, "", "ok.onnx").ok());
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = import_onnx_bytes(bytes.substr(0, len), "", "cut.onnx");
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("cut.onnx"), std::string::npos) << r.status().message();
    }
  }
  EXPECT_FALSE(import_onnx_bytes("hello, this is text", "", "text.onnx").ok());
}

}  // namespace
}  // namespace kiln
