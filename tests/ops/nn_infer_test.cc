// Tests of the nn family's shape inference: symbolic batch dims through windows, constant Resize scales, errors.
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
               size_t num_outputs = 1) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = 25;
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

TEST(NnInfer, ConvAndPoolKeepSymbolicBatch) {
  kiln::Attrs a;
  a.set("strides", std::vector<int64_t>{2, 2});
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  auto c = infer(OpKind::kConv, {t(DType::kFloat32, {sym("N"), k(3), k(7), Dim{}}), t(DType::kFloat32, {k(8), k(3), k(3), k(3)})},
                 {}, a);
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_EQ(c.outputs[0].to_string(), "float32[N,8,4,?]");
  kiln::Attrs p;
  p.set("kernel_shape", std::vector<int64_t>{2});
  p.set("auto_pad", std::string("SAME_UPPER"));
  auto m = infer(OpKind::kMaxPool, {t(DType::kFloat16, {sym("b"), k(2), k(5)})}, {}, p, 2);
  EXPECT_EQ(m.outputs[0].to_string(), "float16[b,2,5]");
  EXPECT_EQ(m.outputs[1].to_string(), "int64[b,2,5]");
  kiln::Attrs big;
  big.set("kernel_shape", std::vector<int64_t>{9});
  EXPECT_FALSE(infer(OpKind::kAveragePool, {t(DType::kFloat32, {k(1), k(1), k(4)})}, {}, big).status.ok());
}

TEST(NnInfer, ResizeConstantScalesAndLayerNormStats) {
  Tensor scales = Tensor::from_vector<float>(DType::kFloat32, {4}, {1, 1, 2, 0.5f});
  auto r = infer(OpKind::kResize, {t(DType::kFloat32, {sym("N"), k(3), k(4), k(6)}), TypeInfo{}, t(DType::kFloat32, {k(4)})},
                 {nullptr, nullptr, &scales});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "float32[N,3,8,3]");
  auto l = infer(OpKind::kLayerNormalization, {t(DType::kFloat16, {sym("B"), k(5)}), t(DType::kFloat16, {k(5)})}, {}, {}, 3);
  EXPECT_EQ(l.outputs[1].to_string(), "float32[B,1]");
  auto nms = infer(OpKind::kNonMaxSuppression, {t(DType::kFloat32, {k(1), k(3), k(4)}), t(DType::kFloat32, {k(1), k(1), k(3)})});
  EXPECT_EQ(nms.outputs[0].to_string(), "int64[?,3]");
}

}  // namespace
