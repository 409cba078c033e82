// Tests of the control family's shape inference: subgraph outputs, scan axes, sequences, strings, random ops.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "ir/shape_inference.h"

namespace {

using kiln::Dim;
using kiln::DType;
using kiln::OpKind;
using kiln::Shape;
using kiln::Tensor;
using kiln::TypeInfo;

struct Inferred {
  kiln::Status status;
  std::vector<TypeInfo> outputs;
};

// Infers one node; inputs listed in `absent` are left out ("").
Inferred infer(OpKind op, std::vector<TypeInfo> types, kiln::Attrs attrs = {}, size_t num_outputs = 1,
               std::vector<const Tensor*> values = {}, std::set<size_t> absent = {}, int opset = 21) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = opset;
  for (size_t i = 0; i < types.size(); ++i) node.inputs.push_back(absent.count(i) ? "" : "in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  values.resize(types.size(), nullptr);
  std::map<std::string, TypeInfo> scope;
  kiln::InferContext ctx(node, types, values, &scope);
  Inferred r;
  r.status = kiln::infer_registry().find(op)(ctx);
  r.outputs = ctx.output_types();
  return r;
}

TypeInfo t(DType dt, std::vector<Dim> dims) { return TypeInfo::tensor(dt, Shape::of_dims(std::move(dims))); }
Dim k(int64_t v) { return Dim::known(v); }
Dim sym(const char* s) { return Dim::named(s); }

kiln::GraphPtr concat_body(std::vector<std::string> ins, std::vector<std::string> outs, std::string a, std::string b,
                           std::string o) {
  auto g = std::make_shared<kiln::Graph>();
  for (auto& i : ins) g->inputs.push_back({i, {}});
  for (auto& x : outs) g->outputs.push_back({x, {}});
  kiln::Node n;
  n.op = OpKind::kStringConcat;
  n.name = "c";
  n.inputs = {a, b};
  n.outputs = {o};
  g->nodes.push_back(n);
  return g;
}

TEST(ControlInfer, LoopCarriedAndScanOutputs) {
  kiln::Attrs a;
  a.set("body", concat_body({"i", "c", "s"}, {"c", "s2", "s2"}, "s", "s", "s2"));
  Tensor m = Tensor::scalar<int64_t>(DType::kInt64, 5);
  auto r = infer(OpKind::kLoop, {t(DType::kInt64, {}), TypeInfo{}, t(DType::kString, {sym("n")})}, a, 2,
                 {&m, nullptr, nullptr}, {1});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "string[n]");
  EXPECT_EQ(r.outputs[1].to_string(), "string[5,n]");
}

TEST(ControlInfer, IfJoinsBranches) {
  kiln::Attrs a;
  auto then_g = concat_body({}, {"o"}, "x", "x", "o");
  auto else_g = concat_body({}, {"o"}, "y", "y", "o");
  then_g->initializers["x"] = Tensor(DType::kString, {2, 3});
  else_g->initializers["y"] = Tensor(DType::kString, {2, 4});
  a.set("then_branch", then_g);
  a.set("else_branch", else_g);
  auto r = infer(OpKind::kIf, {t(DType::kBool, {})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "string[2,?]");
  EXPECT_FALSE(infer(OpKind::kIf, {t(DType::kFloat32, {})}, a).status.ok());
}

TEST(ControlInfer, ScanAxes) {
  kiln::Attrs a;
  a.set("body", concat_body({"s", "x"}, {"s2", "s2"}, "s", "x", "s2"));
  a.set("num_scan_inputs", int64_t{1});
  a.set("scan_input_axes", std::vector<int64_t>{1});
  a.set("scan_output_axes", std::vector<int64_t>{-1});
  auto r = infer(OpKind::kScan, {t(DType::kString, {k(4)}), t(DType::kString, {k(4), sym("T")})}, a, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "string[4]");
  EXPECT_EQ(r.outputs[1].to_string(), "string[4,T]");
  a.set("scan_input_axes", std::vector<int64_t>{2});
  EXPECT_FALSE(infer(OpKind::kScan, {t(DType::kString, {k(4)}), t(DType::kString, {k(4), sym("T")})}, a, 2).status.ok());
}

TEST(ControlInfer, SequenceOps) {
  kiln::Attrs a;
  a.set("axis", int64_t{1});
  a.set("keepdims", int64_t{0});
  auto s = infer(OpKind::kSplitToSequence, {t(DType::kFloat32, {sym("b"), k(3)})}, a);
  ASSERT_TRUE(s.status.ok());
  EXPECT_EQ(s.outputs[0].to_string(), "seq(float32[b])");
  auto at = infer(OpKind::kSequenceAt, {s.outputs[0], t(DType::kInt64, {})});
  EXPECT_EQ(at.outputs[0].to_string(), "float32[b]");
  kiln::Attrs c;
  c.set("axis", int64_t{0});
  c.set("new_axis", int64_t{1});
  auto cat = infer(OpKind::kConcatFromSequence, {s.outputs[0]}, c);
  EXPECT_EQ(cat.outputs[0].to_string(), "float32[?,b]");
  EXPECT_FALSE(infer(OpKind::kSequenceAt, {t(DType::kFloat32, {k(2)}), t(DType::kInt64, {})}).status.ok());
  EXPECT_FALSE(infer(OpKind::kSequenceInsert, {s.outputs[0], t(DType::kInt64, {k(1)})}).status.ok());
  kiln::Attrs o;
  o.set("type", std::string("seq:tensor:int64"));
  auto opt = infer(OpKind::kOptional, {TypeInfo{}}, o, 1, {}, {0});
  EXPECT_EQ(opt.outputs[0].kind, kiln::ValueKind::kOptional);
  auto got = infer(OpKind::kOptionalGetElement, {opt.outputs[0]});
  EXPECT_EQ(got.outputs[0].kind, kiln::ValueKind::kSequence);
}

TEST(ControlInfer, StringsAndRandom) {
  auto sp = infer(OpKind::kStringSplit, {t(DType::kString, {sym("n"), k(2)})}, {}, 2);
  ASSERT_TRUE(sp.status.ok());
  EXPECT_EQ(sp.outputs[0].to_string(), "string[n,2,?]");
  EXPECT_EQ(sp.outputs[1].to_string(), "int64[n,2]");
  EXPECT_FALSE(infer(OpKind::kRegexFullMatch, {t(DType::kString, {k(1)})}).status.ok());  // no pattern
  kiln::Attrs tf;
  tf.set("ngram_indexes", std::vector<int64_t>{0, 4, 2});
  EXPECT_EQ(infer(OpKind::kTfIdfVectorizer, {t(DType::kInt32, {sym("n"), k(9)})}, tf).outputs[0].to_string(),
            "float32[n,5]");
  kiln::Attrs rn;
  rn.set("shape", std::vector<int64_t>{2, 3});
  rn.set("dtype", int64_t{11});
  EXPECT_EQ(infer(OpKind::kRandomNormal, {}, rn).outputs[0].to_string(), "float64[2,3]");
  kiln::Attrs mn;
  mn.set("sample_size", int64_t{4});
  EXPECT_EQ(infer(OpKind::kMultinomial, {t(DType::kFloat32, {sym("b"), k(10)})}, mn).outputs[0].to_string(),
            "int32[b,4]");
}

}  // namespace
