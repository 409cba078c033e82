// Tests of the math family's shape inference: symbolic batch dims, constant axes, known-dim mismatches.
#include <gtest/gtest.h>

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

Inferred infer(OpKind op, std::vector<TypeInfo> types, std::vector<const Tensor*> values = {}, kiln::Attrs attrs = {},
               int opset = 25, size_t num_outputs = 1) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = opset;
  for (size_t i = 0; i < types.size(); ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  values.resize(types.size(), nullptr);
  kiln::InferContext ctx(node, types, values, nullptr);
  Inferred r;
  r.status = kiln::infer_registry().find(op)(ctx);
  r.outputs = ctx.output_types();
  return r;
}

TypeInfo t(DType dt, std::vector<Dim> dims) { return TypeInfo::tensor(dt, Shape::of_dims(std::move(dims))); }
Dim k(int64_t v) { return Dim::known(v); }
Dim sym(const char* s) { return Dim::named(s); }

TEST(MathInfer, MatMulSymbolicBatch) {
  auto r = infer(OpKind::kMatMul, {t(DType::kFloat32, {sym("batch"), k(3), k(4)}), t(DType::kFloat32, {k(4), k(5)})});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "float32[batch,3,5]");
  auto v = infer(OpKind::kMatMul, {t(DType::kFloat32, {k(4)}), t(DType::kFloat32, {sym("b"), k(4), k(2)})});
  EXPECT_EQ(v.outputs[0].to_string(), "float32[b,2]");
  EXPECT_FALSE(
      infer(OpKind::kMatMul, {t(DType::kFloat32, {k(3), k(4)}), t(DType::kFloat32, {k(5), k(2)})}).status.ok());
  auto mi = infer(OpKind::kMatMulInteger, {t(DType::kUInt8, {k(2), k(3)}), t(DType::kUInt8, {k(3), k(4)})});
  EXPECT_EQ(mi.outputs[0].to_string(), "int32[2,4]");
}

TEST(MathInfer, GemmEinsumDet) {
  kiln::Attrs ta;
  ta.set("transA", int64_t{1});
  auto g = infer(OpKind::kGemm, {t(DType::kFloat32, {k(4), sym("m")}), t(DType::kFloat32, {k(4), k(6)})}, {}, ta);
  EXPECT_EQ(g.outputs[0].to_string(), "float32[m,6]");
  kiln::Attrs eq;
  eq.set("equation", std::string("...ij,jk"));
  auto e =
      infer(OpKind::kEinsum, {t(DType::kFloat64, {sym("n"), k(2), k(3)}), t(DType::kFloat64, {k(3), k(7)})}, {}, eq);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(e.outputs[0].to_string(), "float64[n,2,7]");
  auto d = infer(OpKind::kDet, {t(DType::kFloat32, {sym("b"), k(3), k(3)})});
  EXPECT_EQ(d.outputs[0].to_string(), "float32[b]");
  EXPECT_FALSE(infer(OpKind::kDet, {t(DType::kFloat32, {k(2), k(3)})}).status.ok());
}

TEST(MathInfer, ReduceWithConstantAndRuntimeAxes) {
  Tensor axes = Tensor::from_vector<int64_t>(DType::kInt64, {1}, {-1});
  kiln::Attrs keep0;
  keep0.set("keepdims", int64_t{0});
  auto r = infer(OpKind::kReduceSum, {t(DType::kFloat32, {sym("b"), k(3), k(4)}), t(DType::kInt64, {k(1)})},
                 {nullptr, &axes}, keep0);
  EXPECT_EQ(r.outputs[0].to_string(), "float32[b,3]");
  auto rt = infer(OpKind::kReduceMax, {t(DType::kFloat32, {sym("b"), k(1), k(4)}), t(DType::kInt64, {k(1)})});
  EXPECT_EQ(rt.outputs[0].to_string(), "float32[?,1,?]");
  auto bad = infer(OpKind::kReduceMean, {t(DType::kFloat32, {k(2)}), t(DType::kInt64, {k(1)})}, {nullptr, &axes});
  EXPECT_TRUE(bad.status.ok());
  Tensor out_of_range = Tensor::from_vector<int64_t>(DType::kInt64, {1}, {3});
  EXPECT_FALSE(
      infer(OpKind::kReduceMean, {t(DType::kFloat32, {k(2)}), t(DType::kInt64, {k(1)})}, {nullptr, &out_of_range})
          .status.ok());
}

TEST(MathInfer, LossesAndSignal) {
  kiln::Attrs none;
  none.set("reduction", std::string("none"));
  auto l = infer(OpKind::kSoftmaxCrossEntropyLoss,
                 {t(DType::kFloat32, {sym("n"), k(5), k(2)}), t(DType::kInt64, {sym("n"), k(2)})}, {}, none, 13, 2);
  EXPECT_EQ(l.outputs[0].to_string(), "float32[n,2]");
  EXPECT_EQ(l.outputs[1].to_string(), "float32[n,5,2]");
  Tensor len = Tensor::scalar<int64_t>(DType::kInt64, 8);
  kiln::Attrs one;
  one.set("onesided", int64_t{1});
  auto d =
      infer(OpKind::kDFT, {t(DType::kFloat32, {sym("b"), k(6), k(1)}), t(DType::kInt64, {})}, {nullptr, &len}, one);
  EXPECT_EQ(d.outputs[0].to_string(), "float32[b,5,2]");
  Tensor size = Tensor::scalar<int64_t>(DType::kInt64, 10);
  kiln::Attrs dt;
  dt.set("output_datatype", int64_t{11});
  auto w = infer(OpKind::kHannWindow, {t(DType::kInt64, {})}, {&size}, dt);
  EXPECT_EQ(w.outputs[0].to_string(), "float64[10]");
}

}  // namespace
