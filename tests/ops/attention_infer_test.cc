// Tests of the attention family's shape inference: symbolic batch/sequence dims flow through, bad shapes fail.
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

// Inputs with an unknown TypeInfo are left out of the node (optional inputs).
Inferred infer(OpKind op, std::vector<TypeInfo> types, kiln::Attrs attrs = {}, size_t num_outputs = 1) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = 24;
  for (size_t i = 0; i < types.size(); ++i) node.inputs.push_back(types[i].known() ? "in" + std::to_string(i) : "");
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  std::vector<const Tensor*> values(types.size(), nullptr);
  kiln::InferContext ctx(node, types, values, nullptr);
  Inferred r;
  r.status = kiln::infer_registry().find(op)(ctx);
  r.outputs = ctx.output_types();
  return r;
}

TypeInfo t(DType dt, std::vector<Dim> dims) { return TypeInfo::tensor(dt, Shape::of_dims(std::move(dims))); }
Dim k(int64_t v) { return Dim::known(v); }
Dim sym(const char* s) { return Dim::named(s); }
const DType f = DType::kFloat32;

TEST(AttentionInfer, FourDimensionalWithPast) {
  auto r = infer(OpKind::kAttention,
                 {t(f, {sym("B"), k(8), sym("S"), k(16)}), t(f, {sym("B"), k(2), k(5), k(16)}),
                  t(f, {sym("B"), k(2), k(5), k(32)}), TypeInfo{}, t(f, {sym("B"), k(2), k(3), k(16)}),
                  t(f, {sym("B"), k(2), k(3), k(32)})},
                 {}, 4);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "float32[B,8,S,32]");
  EXPECT_EQ(r.outputs[1].to_string(), "float32[B,2,8,16]");
  EXPECT_EQ(r.outputs[2].to_string(), "float32[B,2,8,32]");
  EXPECT_EQ(r.outputs[3].to_string(), "float32[B,8,S,8]");
}

TEST(AttentionInfer, ThreeDimensionalAndErrors) {
  kiln::Attrs a;
  a.set("q_num_heads", int64_t{4});
  a.set("kv_num_heads", int64_t{2});
  auto r = infer(
      OpKind::kAttention,
      {t(f, {sym("B"), sym("S"), k(32)}), t(f, {sym("B"), sym("T"), k(16)}), t(f, {sym("B"), sym("T"), k(24)})}, a, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "float32[B,S,48]");
  EXPECT_EQ(r.outputs[1].to_string(), "float32[B,2,T,8]");
  // Hidden size not divisible by the number of heads.
  EXPECT_FALSE(
      infer(OpKind::kAttention, {t(f, {k(1), k(1), k(30)}), t(f, {k(1), k(1), k(16)}), t(f, {k(1), k(1), k(16)})}, a)
          .status.ok());
  // Q/K head size mismatch.
  EXPECT_FALSE(infer(OpKind::kAttention,
                     {t(f, {k(1), k(1), k(1), k(4)}), t(f, {k(1), k(1), k(1), k(8)}), t(f, {k(1), k(1), k(1), k(8)})})
                   .status.ok());
}

TEST(AttentionInfer, RecurrentLayouts) {
  kiln::Attrs a;
  a.set("direction", std::string("bidirectional"));
  auto r = infer(OpKind::kLSTM,
                 {t(f, {sym("S"), sym("B"), k(3)}), t(f, {k(2), k(20), k(3)}), t(f, {k(2), k(20), k(5)})}, a, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[0].to_string(), "float32[S,2,B,5]");
  EXPECT_EQ(r.outputs[2].to_string(), "float32[2,B,5]");
  kiln::Attrs b;
  b.set("layout", int64_t{1});
  b.set("hidden_size", int64_t{4});
  auto g = infer(OpKind::kGRU, {t(f, {sym("B"), sym("S"), k(3)}), t(f, {k(1), k(12), k(3)}), t(f, {k(1), k(12), k(4)})},
                 b, 2);
  ASSERT_TRUE(g.status.ok()) << g.status.message();
  EXPECT_EQ(g.outputs[0].to_string(), "float32[B,S,1,4]");
  EXPECT_EQ(g.outputs[1].to_string(), "float32[B,1,4]");
  b.set("hidden_size", int64_t{5});
  EXPECT_FALSE(infer(OpKind::kGRU, {t(f, {k(1), k(1), k(3)}), t(f, {k(1), k(12), k(3)}), t(f, {k(1), k(12), k(4)})}, b)
                   .status.ok());
}

TEST(AttentionInfer, MlOps) {
  kiln::Attrs a;
  a.set("keys_strings", std::vector<std::string>{"a"});
  a.set("values_tensor", Tensor::from_vector<int32_t>(DType::kInt32, {1}, {1}));
  auto le = infer(OpKind::kMlLabelEncoder, {t(DType::kString, {sym("N")})}, a);
  EXPECT_EQ(le.outputs[0].to_string(), "int32[N]");
  kiln::Attrs c;
  c.set("coefficients", std::vector<float>{1, 2, 3, 4, 5, 6});
  c.set("classlabels_strings", std::vector<std::string>{"a", "b"});
  auto lc = infer(OpKind::kMlLinearClassifier, {t(f, {sym("N"), k(3)})}, c, 2);
  ASSERT_TRUE(lc.status.ok()) << lc.status.message();
  EXPECT_EQ(lc.outputs[0].to_string(), "string[N]");
  EXPECT_EQ(lc.outputs[1].to_string(), "float32[N,2]");
  auto fe = infer(OpKind::kMlArrayFeatureExtractor, {t(f, {sym("N"), k(5)}), t(DType::kInt64, {k(3)})});
  EXPECT_EQ(fe.outputs[0].to_string(), "float32[N,3]");
  EXPECT_FALSE(infer(OpKind::kMlNormalizer, {t(f, {k(1), k(2), k(3)})}).status.ok() &&
               infer(OpKind::kMlLinearRegressor, {t(f, {k(1), k(2), k(3)})}).status.ok());
}

TEST(AttentionInfer, Optimizers) {
  auto r = infer(OpKind::kTrainAdam,
                 {t(f, {}), t(DType::kInt64, {}), t(f, {k(3)}), t(f, {k(3)}), t(f, {k(3)}), t(f, {k(3)})}, {}, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outputs[2].to_string(), "float32[3]");
  EXPECT_FALSE(infer(OpKind::kTrainAdam, {t(f, {}), t(DType::kInt64, {}), t(f, {k(3)})}).status.ok());
}

}  // namespace
