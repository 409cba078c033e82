// Q/DQ placement (src/quant/calib/qdq_model.h) on a hand-made ONNX graph: BatchNormalization folding, the ops and
// tensors chosen, the rewritten graph's wiring, opset handling, and the Q/DQ model's outputs against FP32.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "quant/calib/qdq_model.h"
#include "runtime/builder.h"

namespace kiln::calib {
namespace {

void add_init(onnx::GraphProto* g, const std::string& name, Dims dims, unsigned seed, float lo = -0.5f,
              float hi = 0.5f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(dims_numel(dims));
  for (auto& x : v) x = d(rng);
  tensor_to_proto(Tensor::from_vector(DType::kFloat32, dims, v), name, g->add_initializer());
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::vector<std::string> ins,
                          std::vector<std::string> outs) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(op + "_" + outs[0]);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}

void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, Dims dims) {
  auto* v = list->Add();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

// x -> Conv -> BatchNormalization -> Relu (r) -> Conv (c2) -> Add(c2, r) -> Flatten (f) -> Gemm(transB) -> y
//                                                                                       f -> MatMul -> m
onnx::ModelProto make_model(int opset) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* o = m.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("placement");
  add_value(g->mutable_input(), "x", {2, 4, 6, 6});
  add_init(g, "w1", {8, 4, 3, 3}, 1);
  add_init(g, "b1", {8}, 2);
  add_init(g, "bn_scale", {8}, 3, 0.5f, 1.5f);
  add_init(g, "bn_bias", {8}, 4);
  add_init(g, "bn_mean", {8}, 5);
  add_init(g, "bn_var", {8}, 6, 0.5f, 1.0f);
  add_init(g, "w2", {8, 8, 1, 1}, 7);
  add_init(g, "w3", {10, 128}, 8, -0.1f, 0.1f);
  add_init(g, "w4", {128, 5}, 9, -0.1f, 0.1f);
  auto* c1 = add_node(g, "Conv", {"x", "w1", "b1"}, {"c1"});
  auto* pad = c1->add_attribute();
  pad->set_name("pads");
  pad->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pad->add_ints(0);
  add_node(g, "BatchNormalization", {"c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"bn"});
  add_node(g, "Relu", {"bn"}, {"r"});
  add_node(g, "Conv", {"r", "w2"}, {"c2"});
  add_node(g, "Add", {"c2", "r"}, {"a"});
  add_node(g, "Flatten", {"a"}, {"f"});
  auto* gemm = add_node(g, "Gemm", {"f", "w3"}, {"y"});
  auto* tb = gemm->add_attribute();
  tb->set_name("transB");
  tb->set_type(onnx::AttributeProto::INT);
  tb->set_i(1);
  add_node(g, "MatMul", {"f", "w4"}, {"m"});
  add_value(g->mutable_output(), "y", {2, 10});
  add_value(g->mutable_output(), "m", {2, 5});
  return m;
}

// The model's outputs (all, concatenated) on Kiln's default CPU build for a fixed random x.
std::vector<float> run_model(const onnx::ModelProto& model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  auto g = import_onnx_bytes(bytes, "", "test");
  EXPECT_TRUE(g.ok()) << g.status().message();
  auto e = build_engine_from_graph(*g, BuildOptions{}, "test");
  EXPECT_TRUE(e.ok()) << e.status().message();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(2 * 4 * 6 * 6);
  for (auto& v : x) v = d(rng);
  NamedValues in{{"x", Value::of(Tensor::from_vector(DType::kFloat32, {2, 4, 6, 6}, x))}}, out;
  auto ctx = (*e)->create_context();
  Status st = ctx->run(in, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  std::vector<float> all;
  for (const auto& [n, v] : out)
    all.insert(all.end(), v.tensor.data<float>(), v.tensor.data<float>() + v.tensor.numel());
  return all;
}

CalibCache cache_for(const QuantTargets& t) {
  CalibCache c;
  for (const auto& name : t.tensors()) c.tensors[name] = TensorRange{0.05f, 128, -6.4, 6.35};
  return c;
}

TEST(CalibPlacement, TargetsFollowTheContract) {
  onnx::ModelProto m = make_model(11);
  auto folded = prepare_for_quantization(m, "");
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_EQ(*folded, 1);
  for (const auto& n : m.graph().node()) EXPECT_NE(n.op_type(), "BatchNormalization");
  auto t = find_quant_targets(m, "");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->ops.size(), 4u);  // both Convs, the Gemm and the MatMul
  std::map<std::string, int> axis_of;
  for (const auto& op : t->ops) axis_of[m.graph().node(op.node).op_type() + ":" + op.weight] = op.axis;
  EXPECT_EQ(axis_of["Gemm:w3"], 0);  // transB = 1: B is [N, K], per output column = axis 0
  EXPECT_EQ(axis_of["MatMul:w4"], 1);
  EXPECT_EQ(axis_of["Conv:w2"], 0);
  EXPECT_EQ(t->inputs, (std::vector<std::string>{"x", "r", "f"}));
  // The first Conv's output (BN folded, so named "bn") feeds only the Relu: Q/DQ goes after the Relu. Gemm and
  // MatMul outputs are graph outputs: none.
  EXPECT_EQ(t->outputs, (std::vector<std::string>{"r", "c2"}));
}

TEST(CalibPlacement, RewriteWiresQdqAndRunsCloseToFp32) {
  onnx::ModelProto fp32 = make_model(11);
  onnx::ModelProto m = fp32;
  ASSERT_TRUE(prepare_for_quantization(m, "").ok());
  auto t = find_quant_targets(m, "");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(insert_qdq(m, *t, cache_for(*t), "").ok());
  EXPECT_EQ(m.opset_import(0).version(), 13);
  std::map<std::string, int> count;
  std::map<std::string, const onnx::NodeProto*> producer;
  std::set<std::string> known;
  for (const auto& i : m.graph().initializer()) known.insert(i.name());
  for (const auto& i : m.graph().input()) known.insert(i.name());
  for (const auto& n : m.graph().node()) {
    ++count[n.op_type()];
    for (const auto& i : n.input()) EXPECT_TRUE(known.count(i)) << n.name() << " reads " << i << " before it exists";
    for (const auto& o : n.output()) known.insert(o), producer[o] = &n;
  }
  EXPECT_EQ(count["QuantizeLinear"], 4);    // x, r, f, c2
  EXPECT_EQ(count["DequantizeLinear"], 8);  // those 4 + 4 weights
  for (const auto& n : m.graph().node()) {
    if (n.op_type() == "Conv" || n.op_type() == "Gemm" || n.op_type() == "MatMul") {
      EXPECT_EQ(producer[n.input(0)]->op_type(), "DequantizeLinear") << n.name();
      EXPECT_EQ(producer[n.input(1)]->op_type(), "DequantizeLinear") << n.name();
    }
    if (n.op_type() == "Add") {  // both operands are step-4 tensors: every consumer reads the DQ
      EXPECT_EQ(producer[n.input(0)]->op_type(), "DequantizeLinear");
      EXPECT_EQ(producer[n.input(1)]->op_type(), "DequantizeLinear");
    }
  }
  for (const auto& i : m.graph().initializer()) {
    EXPECT_NE(i.name(), "w1");  // float weights replaced, not kept beside the int8 ones
    EXPECT_NE(i.name(), "w4");
  }

  // Both models on Kiln's default CPU build: the Q/DQ model stays close to FP32 with these ranges.
  std::vector<float> a = run_model(fp32), b = run_model(m);
  ASSERT_EQ(a.size(), b.size());
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  EXPECT_GT(dot / std::sqrt(na * nb), 0.99);
}

// Signed activations (CUDA builds): int8 zero points 128 below the cache's, and the same outputs bit for bit.
TEST(CalibPlacement, SignedActivationsKeepEveryValue) {
  onnx::ModelProto m = make_model(13);
  ASSERT_TRUE(prepare_for_quantization(m, "").ok());
  auto t = find_quant_targets(m, "");
  ASSERT_TRUE(t.ok());
  onnx::ModelProto u = m, s = m;
  ASSERT_TRUE(insert_qdq(u, *t, cache_for(*t), "").ok());
  ASSERT_TRUE(insert_qdq(s, *t, cache_for(*t), "", 127, true).ok());
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& i : s.graph().initializer()) inits[i.name()] = &i;
  int signed_zps = 0;
  for (const auto& n : s.graph().node()) {
    if (n.op_type() != "QuantizeLinear") continue;
    const onnx::TensorProto* z = inits.at(n.input(2));
    EXPECT_EQ(z->data_type(), onnx::TensorProto::INT8) << n.name();
    auto zt = tensor_from_proto(*z, "");
    ASSERT_TRUE(zt.ok());
    EXPECT_EQ(zt->as_double(0), 0.0) << n.name();  // cache_for's zero point 128, shifted
    ++signed_zps;
  }
  EXPECT_EQ(signed_zps, 4);
  EXPECT_EQ(run_model(u), run_model(s));
}

TEST(CalibPlacement, OldOpsetWithChangedOpsAndQuantizedModelsAreRefused) {
  // Opset 11/12 models are upgraded to 13 (opset_upgrade.h): Softmax keeps its pre-13 meaning.
  onnx::ModelProto up = make_model(11);
  add_node(up.mutable_graph(), "Softmax", {"y"}, {"p"});
  auto u = prepare_for_quantization(up, "");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(up.opset_import(0).version(), 13);
  bool softmax_axis_set = false;
  for (const auto& n : up.graph().node())
    if (n.op_type() == "Softmax")
      for (const auto& a : n.attribute()) softmax_axis_set |= a.name() == "axis";
  EXPECT_TRUE(softmax_axis_set);
  // Earlier opsets are refused, naming the op and the conversion.
  onnx::ModelProto m = make_model(10);
  add_node(m.mutable_graph(), "Softmax", {"y"}, {"p"});
  auto r = prepare_for_quantization(m, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Softmax"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("version_converter"), std::string::npos);

  onnx::ModelProto q = make_model(13);
  ASSERT_TRUE(prepare_for_quantization(q, "").ok());
  auto t = find_quant_targets(q, "");
  ASSERT_TRUE(insert_qdq(q, *t, cache_for(*t), "").ok());
  auto again = prepare_for_quantization(q, "");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("already quantized"), std::string::npos);
}

TEST(CalibPlacement, MissingCacheEntryIsAnError) {
  onnx::ModelProto m = make_model(13);
  ASSERT_TRUE(prepare_for_quantization(m, "").ok());
  auto t = find_quant_targets(m, "");
  CalibCache c = cache_for(*t);
  c.tensors.erase("c2");
  Status st = insert_qdq(m, *t, c, "");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'c2'"), std::string::npos) << st.message();
}

// x -> Conv -> Relu (r1) -> Conv (c2) -> Add(c2, r1) -> Relu (a1) -> Conv (c3) -> Add(c3, a1) -> Relu (a2)
//   a1 -> Conv (c4) reads it too; a2 -> Conv (c5) and ReduceMean (a float reader) -> graph outputs.
// The first Add's result is read only by quantized ops and an Add: it joins (both operands through their DQ, its
// Relu's output quantized for every reader). The second Add's result also feeds the ReduceMean: it stays float, so
// that residual streams ahead of float work (LayerNorm, pools) keep their precision.
TEST(CalibPlacement, ResidualAddsJoinOnlyWhenTheirResultStaysQuantized) {
  onnx::ModelProto m = make_model(13);
  auto* g = m.mutable_graph();
  g->clear_node();
  g->clear_initializer();
  g->clear_output();
  add_init(g, "w1", {4, 4, 3, 3}, 21);
  for (const char* w : {"w2", "w3", "w4", "w5"}) add_init(g, w, {4, 4, 1, 1}, 22 + (w[1] - '2'));
  add_node(g, "Conv", {"x", "w1"}, {"c1"});
  add_node(g, "Relu", {"c1"}, {"r1"});
  add_node(g, "Conv", {"r1", "w2"}, {"c2"});
  add_node(g, "Add", {"c2", "r1"}, {"s1"});
  add_node(g, "Relu", {"s1"}, {"a1"});
  add_node(g, "Conv", {"a1", "w3"}, {"c3"});
  add_node(g, "Conv", {"a1", "w4"}, {"c4"});
  add_node(g, "Add", {"c3", "a1"}, {"s2"});
  add_node(g, "Relu", {"s2"}, {"a2"});
  add_node(g, "Conv", {"a2", "w5"}, {"c5"});
  add_node(g, "ReduceMean", {"a2"}, {"mean"});
  add_value(g->mutable_output(), "c4", {});
  add_value(g->mutable_output(), "c5", {});
  add_value(g->mutable_output(), "mean", {});
  auto t = find_quant_targets(m, "");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->adds.size(), 1u);
  EXPECT_EQ(m.graph().node(t->adds[0]).output(0), "s1");
  const std::set<std::string> outs(t->outputs.begin(), t->outputs.end());
  EXPECT_TRUE(outs.count("a1"));   // the joined Add's Relu: every reader goes through the DQ
  EXPECT_FALSE(outs.count("a2"));  // the ReduceMean keeps reading float
  ASSERT_TRUE(insert_qdq(m, *t, cache_for(*t), "").ok());
  std::map<std::string, const onnx::NodeProto*> producer;
  for (const auto& n : m.graph().node())
    for (const auto& o : n.output()) producer[o] = &n;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() == "Add") {  // s2 too: its operands (c3, and a1 now) are quantized for every reader
      EXPECT_EQ(producer[n.input(0)]->op_type(), "DequantizeLinear") << n.output(0);
      EXPECT_EQ(producer[n.input(1)]->op_type(), "DequantizeLinear") << n.output(0);
    }
    if (n.op_type() == "ReduceMean") EXPECT_EQ(n.input(0), "a2");
  }
}

}  // namespace
}  // namespace kiln::calib
