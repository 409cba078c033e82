// Attention typed parameters parsed once (src/ir/attention_params.h) for shape inference, the passes and every
// backend: ONNX defaults, every attribute error, the 3-D / 4-D / packed views, and the attn_mask broadcast rule.
#include "ir/attention_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace kiln {
namespace {

std::string error_of(const Attrs& a) {
  auto p = attention_params(a);
  EXPECT_FALSE(p.ok());
  return p.ok() ? std::string() : p.status().message();
}

Attrs heads(int64_t q, int64_t kv) {
  Attrs a;
  a.set("q_num_heads", q);
  a.set("kv_num_heads", kv);
  return a;
}

TEST(AttentionParams, Defaults) {
  auto p = attention_params(Attrs{});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->q_num_heads, 0);
  EXPECT_EQ(p->kv_num_heads, 0);
  EXPECT_FALSE(p->is_causal);
  EXPECT_FALSE(p->has_scale);
  EXPECT_FALSE(p->has_softcap());
  EXPECT_EQ(p->qk_mode, AttentionQkMode::kMatMul);
  EXPECT_FALSE(p->has_softmax_precision);
  EXPECT_FALSE(p->packed_qkv);
  // Default scale: 1 / sqrt(head_size).
  EXPECT_DOUBLE_EQ(p->scale_for(64), 0.125);
  EXPECT_DOUBLE_EQ(p->scale_for(2), 1.0 / std::sqrt(2.0));
}

TEST(AttentionParams, ReadsAttributes) {
  Attrs a = heads(8, 2);
  a.set("is_causal", int64_t{1});
  a.set("scale", 0.5f);
  a.set("softcap", 30.f);
  a.set("qk_matmul_output_mode", int64_t{3});
  a.set("softmax_precision", int64_t{1});  // float
  a.set("packed_qkv", int64_t{1});
  auto p = attention_params(a);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->q_num_heads, 8);
  EXPECT_EQ(p->kv_num_heads, 2);
  EXPECT_TRUE(p->is_causal);
  EXPECT_TRUE(p->has_scale);
  EXPECT_DOUBLE_EQ(p->scale_for(64), 0.5);
  EXPECT_TRUE(p->has_softcap());
  EXPECT_FLOAT_EQ(p->softcap, 30.f);
  EXPECT_EQ(p->qk_mode, AttentionQkMode::kSoftmax);
  EXPECT_TRUE(p->has_softmax_precision);
  EXPECT_EQ(p->softmax_precision, DType::kFloat32);
  EXPECT_TRUE(p->packed_qkv);

  // ONNX's softcap applies only when positive: a negative value leaves the scores as they are.
  Attrs neg;
  neg.set("softcap", -1.f);
  EXPECT_FALSE(attention_params(neg)->has_softcap());
  for (int64_t t : {10, 11, 16}) {  // float16, double, bfloat16
    Attrs sp;
    sp.set("softmax_precision", t);
    EXPECT_TRUE(attention_params(sp).ok()) << t;
  }
}

TEST(AttentionParams, Errors) {
  EXPECT_NE(error_of(heads(-1, 0)).find("q_num_heads"), std::string::npos);
  EXPECT_NE(error_of(heads(0, -2)).find("kv_num_heads"), std::string::npos);
  EXPECT_NE(error_of(heads(6, 4)).find("multiple of kv_num_heads"), std::string::npos);

  Attrs causal;
  causal.set("is_causal", int64_t{2});
  EXPECT_NE(error_of(causal).find("is_causal"), std::string::npos);

  Attrs packed;
  packed.set("packed_qkv", int64_t{2});
  EXPECT_NE(error_of(packed).find("packed_qkv"), std::string::npos);
  Attrs packed_no_heads;
  packed_no_heads.set("packed_qkv", int64_t{1});
  EXPECT_NE(error_of(packed_no_heads).find("packed_qkv"), std::string::npos);

  for (int64_t m : {-1, 4}) {
    Attrs mode;
    mode.set("qk_matmul_output_mode", m);
    EXPECT_NE(error_of(mode).find("qk_matmul_output_mode"), std::string::npos) << m;
  }
  for (int64_t t : {0, 6, 7, 9, 999}) {  // undefined, int32, int64, bool, not a dtype
    Attrs sp;
    sp.set("softmax_precision", t);
    EXPECT_NE(error_of(sp).find("softmax_precision"), std::string::npos) << t;
  }
}

TEST(AttentionParams, Shape4D) {
  auto p = attention_params(Attrs{});
  ASSERT_TRUE(p.ok());
  auto s = attention_shape(*p, {2, 8, 5, 16}, {2, 2, 7, 16}, {2, 2, 7, 32});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->q.three_d);
  EXPECT_FALSE(s->packed);
  EXPECT_EQ(s->q.heads, 8);
  EXPECT_EQ(s->k.seq, 7);
  EXPECT_EQ(s->v.head_size, 32);
  EXPECT_EQ(s->group(), 4);
  EXPECT_EQ(s->y_dims(), (Dims{2, 8, 5, 32}));
}

TEST(AttentionParams, Shape3D) {
  auto p = attention_params(heads(4, 2));
  ASSERT_TRUE(p.ok());
  auto s = attention_shape(*p, {1, 3, 32}, {1, 6, 16}, {1, 6, 24});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->q.three_d);
  EXPECT_EQ(s->q.heads, 4);
  EXPECT_EQ(s->q.head_size, 8);
  EXPECT_EQ(s->q.row, 32);
  EXPECT_EQ(s->k.heads, 2);
  EXPECT_EQ(s->v.head_size, 12);
  EXPECT_EQ(s->y_dims(), (Dims{1, 3, 48}));
}

TEST(AttentionParams, ShapeErrors) {
  auto none = attention_params(Attrs{});
  auto two = attention_params(heads(2, 2));
  ASSERT_TRUE(none.ok() && two.ok());
  auto msg = [](const Result<AttentionShape>& r) {
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(msg(attention_shape(*none, {1, 2}, {1, 2}, {1, 2})).find("3-D or 4-D"), std::string::npos);
  EXPECT_NE(msg(attention_shape(*none, {1, 2, 3, 4}, {1, 2, 3}, {1, 2, 3, 4})).find("same rank"), std::string::npos);
  EXPECT_NE(msg(attention_shape(*none, {1, 3, 8}, {1, 3, 8}, {1, 3, 8})).find("q_num_heads"), std::string::npos);
  EXPECT_NE(msg(attention_shape(*two, {1, 3, 7}, {1, 3, 8}, {1, 3, 8})).find("not divisible"), std::string::npos);
  EXPECT_NE(msg(attention_shape(*none, {1, 2, 3, 4}, {2, 2, 3, 4}, {1, 2, 3, 4})).find("batch"), std::string::npos);
  EXPECT_NE(msg(attention_shape(*none, {1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 5, 4})).find("sequence length"),
            std::string::npos);
  EXPECT_NE(msg(attention_shape(*none, {1, 2, 3, 4}, {1, 2, 3, 8}, {1, 2, 3, 4})).find("head size"), std::string::npos);
  EXPECT_NE(msg(attention_shape(*none, {1, 3, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4})).find("multiple"), std::string::npos);
}

TEST(AttentionParams, PackedShape) {
  Attrs a = heads(4, 2);
  a.set("packed_qkv", int64_t{1});
  auto p = attention_params(a);
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto s = attention_packed_shape(*p, {2, 5, 64});  // (4 + 2 * 2) * 8
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->packed);
  EXPECT_EQ(s->q.head_size, 8);
  EXPECT_EQ(s->k.heads, 2);
  EXPECT_EQ(s->v.row, 64);
  EXPECT_EQ(s->k_col, 32);
  EXPECT_EQ(s->v_col, 48);
  EXPECT_EQ(s->y_dims(), (Dims{2, 5, 32}));
  EXPECT_FALSE(attention_packed_shape(*p, {2, 5, 60}).ok());     // not a multiple of 8
  EXPECT_FALSE(attention_packed_shape(*p, {2, 1, 5, 64}).ok());  // 4-D
}

TEST(AttentionParams, MaskDims) {
  const Dims target = {2, 4, 3, 5};
  auto d = attention_mask_dims({3, 5}, target);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(*d, (Dims{1, 1, 3, 5}));
  EXPECT_TRUE(attention_mask_dims({2, 1, 1, 4}, target).ok());  // last dim shorter: the rest is masked
  EXPECT_FALSE(attention_mask_dims({2, 1, 1, 6}, target).ok());
  EXPECT_FALSE(attention_mask_dims({3, 3, 5}, target).ok());
  EXPECT_FALSE(attention_mask_dims({1, 2, 4, 3, 5}, target).ok());
}

}  // namespace
}  // namespace kiln
