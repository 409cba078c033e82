// Tests of the elementwise_unary shape/type inference functions.
#include <gtest/gtest.h>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

struct Inferred {
  Status status;
  std::vector<TypeInfo> types;
  std::vector<Tensor> values;
};

Inferred infer(OpKind op, std::vector<TypeInfo> in_types, const Attrs& attrs = {},
               std::vector<const Tensor*> values = {}) {
  Node n;
  n.op = op;
  n.name = "n";
  n.opset = 25;
  n.attrs = attrs;
  for (size_t i = 0; i < in_types.size(); ++i) n.inputs.push_back("x" + std::to_string(i));
  n.outputs = {"y"};
  values.resize(in_types.size(), nullptr);
  InferContext ctx(n, in_types, values, nullptr);
  InferFn fn = infer_registry().find(op);
  if (!fn) return {unimplemented("no infer fn"), {}, {}};
  Status st = fn(ctx);
  return {st, ctx.output_types(), ctx.output_values()};
}

Shape batch_by_3() { return Shape::of_dims({Dim::named("batch"), Dim::known(3)}); }

TEST(ElementwiseUnaryInfer, SameTypeKeepsSymbolicDims) {
  Inferred r = infer(OpKind::kTanh, {TypeInfo::tensor(DType::kFloat16, batch_by_3())});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0].to_string(), "float16[batch,3]");
  EXPECT_FALSE(infer(OpKind::kTanh, {TypeInfo::tensor(DType::kInt32, batch_by_3())}).status.ok());
  EXPECT_TRUE(infer(OpKind::kAbs, {TypeInfo::tensor(DType::kInt32, batch_by_3())}).status.ok());
}

TEST(ElementwiseUnaryInfer, BoolOutputs) {
  Inferred r = infer(OpKind::kIsNaN, {TypeInfo::tensor(DType::kFloat32, batch_by_3())});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0].dtype, DType::kBool);
  EXPECT_EQ(r.types[0].shape.to_string(), "[batch,3]");
  EXPECT_FALSE(infer(OpKind::kNot, {TypeInfo::tensor(DType::kFloat32, batch_by_3())}).status.ok());
  // Unknown input type: still a bool output of unknown shape.
  Inferred u = infer(OpKind::kNot, {TypeInfo{}});
  ASSERT_TRUE(u.status.ok());
  EXPECT_EQ(u.types[0].dtype, DType::kBool);
}

TEST(ElementwiseUnaryInfer, CastAndCastLike) {
  Attrs a;
  a.set("to", static_cast<int64_t>(DType::kInt64));
  Inferred r = infer(OpKind::kCast, {TypeInfo::tensor(DType::kFloat32, batch_by_3())}, a);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0].to_string(), "int64[batch,3]");
  EXPECT_FALSE(infer(OpKind::kCast, {TypeInfo::tensor(DType::kFloat32, batch_by_3())}).status.ok());  // no 'to'
  Inferred l = infer(OpKind::kCastLike, {TypeInfo::tensor(DType::kFloat32, batch_by_3()),
                                         TypeInfo::tensor(DType::kFloat16, Shape::of({}))});
  ASSERT_TRUE(l.status.ok());
  EXPECT_EQ(l.types[0].to_string(), "float16[batch,3]");
}

TEST(ElementwiseUnaryInfer, CastFoldsConstants) {
  Tensor c = Tensor::from_vector<int64_t>(DType::kInt64, {2}, {4, 6});
  Attrs a;
  a.set("to", static_cast<int64_t>(DType::kFloat32));
  Inferred r = infer(OpKind::kCast, {TypeInfo::tensor(DType::kInt64, Shape::of({2}))}, a, {&c});
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.values[0].defined());
  EXPECT_EQ(r.values[0].dtype(), DType::kFloat32);
  EXPECT_EQ(r.values[0].data<float>()[1], 6.0f);
}

TEST(ElementwiseUnaryInfer, ClipBoundsMustBeScalars) {
  TypeInfo x = TypeInfo::tensor(DType::kFloat32, batch_by_3());
  TypeInfo scalar = TypeInfo::tensor(DType::kFloat32, Shape::of({}));
  EXPECT_TRUE(infer(OpKind::kClip, {x, scalar, scalar}).status.ok());
  EXPECT_FALSE(infer(OpKind::kClip, {x, TypeInfo::tensor(DType::kFloat32, Shape::of({3}))}).status.ok());
}

}  // namespace
}  // namespace kiln
