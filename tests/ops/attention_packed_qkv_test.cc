// Attention with packed_qkv = 1 (one [B, S, (Hq + 2 Hkv) * D] input): the reference kernel equals the unpacked
// 3-D form on the split tensors, shape inference gives the unpacked shapes, and bad packed inputs are errors.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "ir/shape_inference.h"
#include "tests/ops/attention_test_util.h"

namespace {

using kiln::Dim;
using kiln::Shape;
using kiln::TypeInfo;

Tensor random_f32(Dims dims, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  int64_t n = 1;
  for (int64_t x : dims) n *= x;
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(gen);
  return f32(std::move(dims), v);
}

// Columns [from, from + width) of a [B, S, W] tensor, as [B, S, width].
Tensor columns(const Tensor& x, int64_t from, int64_t width) {
  Tensor out(x.dtype(), {x.dim(0), x.dim(1), width});
  const size_t es = kiln::dtype_size(x.dtype());
  for (int64_t r = 0; r < x.dim(0) * x.dim(1); ++r)
    std::memcpy(static_cast<uint8_t*>(out.raw()) + r * width * es,
                static_cast<const uint8_t*>(x.raw()) + (r * x.dim(2) + from) * es, width * es);
  return out;
}

struct Case {
  int64_t hq = 3, hkv = 3, d = 4, batch = 2, seq = 7;
  bool causal = false, mask = false;
  DType dt = DType::kFloat32;
};

void check_packed_equals_unpacked(const Case& c) {
  Tensor packed = random_f32({c.batch, c.seq, (c.hq + 2 * c.hkv) * c.d}, 5);
  if (c.dt == DType::kFloat16) {
    Attrs to;
    to.set("to", int64_t{10});  // ONNX FLOAT16
    auto h = run_op(OpKind::kCast, {packed}, to);
    ASSERT_TRUE(h.ok()) << h.status().message();
    packed = (*h)[0];
  }
  Attrs a;
  a.set("q_num_heads", c.hq);
  a.set("kv_num_heads", c.hkv);
  if (c.causal) a.set("is_causal", int64_t{1});
  Tensor mask = c.mask ? random_f32({c.batch, 1, 1, c.seq}, 9) : Tensor();
  Tensor q = columns(packed, 0, c.hq * c.d), k = columns(packed, c.hq * c.d, c.hkv * c.d),
         v = columns(packed, (c.hq + c.hkv) * c.d, c.hkv * c.d);
  auto want = run_op(OpKind::kAttention, {q, k, v, mask}, a);
  ASSERT_TRUE(want.ok()) << want.status().message();
  Attrs pa = a;
  pa.set("packed_qkv", int64_t{1});
  auto got = run_op(OpKind::kAttention, {packed, Tensor(), Tensor(), mask}, pa);
  ASSERT_TRUE(got.ok()) << got.status().message();
  const Tensor &w = (*want)[0], &g = (*got)[0];
  ASSERT_EQ(g.dims(), (Dims{c.batch, c.seq, c.hq * c.d}));
  ASSERT_EQ(g.dtype(), c.dt);
  for (int64_t i = 0; i < w.numel(); ++i) ASSERT_EQ(w.as_double(i), g.as_double(i)) << "element " << i;
}

TEST(AttentionPackedQkv, EqualsUnpacked) { check_packed_equals_unpacked(Case{}); }

TEST(AttentionPackedQkv, MaskCausalGqaFloat16) {
  Case c;
  c.mask = true;
  check_packed_equals_unpacked(c);
  c.causal = true;
  c.hq = 4;
  c.hkv = 2;
  check_packed_equals_unpacked(c);
  c.dt = DType::kFloat16;
  c.seq = 1;
  check_packed_equals_unpacked(c);
}

TEST(AttentionPackedQkv, BadInputs) {
  Attrs a;
  a.set("q_num_heads", int64_t{2});
  a.set("kv_num_heads", int64_t{2});
  a.set("packed_qkv", int64_t{1});
  // Width 10 is not (2 + 2 * 2) * D.
  EXPECT_FALSE(run_op(OpKind::kAttention, {random_f32({1, 2, 10}, 1), Tensor(), Tensor()}, a).ok());
  // 4-D packed input.
  EXPECT_FALSE(run_op(OpKind::kAttention, {random_f32({1, 1, 2, 12}, 1), Tensor(), Tensor()}, a).ok());
  // K given as well.
  EXPECT_FALSE(run_op(OpKind::kAttention, {random_f32({1, 2, 12}, 1), random_f32({1, 2, 4}, 2), Tensor()}, a).ok());
  Attrs no_heads;
  no_heads.set("packed_qkv", int64_t{1});
  EXPECT_FALSE(run_op(OpKind::kAttention, {random_f32({1, 2, 12}, 1), Tensor(), Tensor()}, no_heads).ok());
}

// Inference of a packed node: Y [B, S, Hq*D] with symbolic B and S, presents [B, Hkv, S, D].
TEST(AttentionPackedQkv, ShapeInference) {
  kiln::Node node;
  node.op = OpKind::kAttention;
  node.name = "n";
  node.opset = 23;
  node.inputs = {"x", "", ""};
  node.outputs = {"y", "pk", "pv"};
  node.attrs.set("q_num_heads", int64_t{4});
  node.attrs.set("kv_num_heads", int64_t{2});
  node.attrs.set("packed_qkv", int64_t{1});
  std::vector<TypeInfo> types = {
      TypeInfo::tensor(DType::kFloat16, Shape::of_dims({Dim::named("b"), Dim::named("s"), Dim::known(64)})), TypeInfo{},
      TypeInfo{}};
  std::vector<const Tensor*> values(3, nullptr);
  kiln::InferContext ctx(node, types, values, nullptr);
  kiln::Status st = kiln::infer_registry().find(OpKind::kAttention)(ctx);
  ASSERT_TRUE(st.ok()) << st.message();
  const auto& out = ctx.output_types();
  EXPECT_EQ(out[0].dtype, DType::kFloat16);
  EXPECT_EQ(out[0].shape.to_string(), Shape::of_dims({Dim::named("b"), Dim::named("s"), Dim::known(32)}).to_string());
  EXPECT_EQ(out[1].shape.to_string(),
            Shape::of_dims({Dim::named("b"), Dim::known(2), Dim::named("s"), Dim::known(8)}).to_string());
  // 60 is not a multiple of Hq + 2 Hkv = 8.
  types[0] = TypeInfo::tensor(DType::kFloat16, Shape::of({1, 3, 60}));
  kiln::InferContext bad(node, types, values, nullptr);
  EXPECT_FALSE(kiln::infer_registry().find(OpKind::kAttention)(bad).ok());
}

}  // namespace
