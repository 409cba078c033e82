// Tests of the attention family's Attention and RotaryEmbedding reference kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/reference/kernel.h"
#include "tests/ops/attention_test_util.h"

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// One query against keys [0, 1] with values [10, 20]: softmax weights e^0 and e^1.
const double kMix = 10.0 + 10.0 * sigmoid(1.0);

TEST(AttentionKernel, Basic4D) {
  auto r = run_op(OpKind::kAttention, {f32({1, 1, 1, 1}, {1}), f32({1, 1, 2, 1}, {0, 1}), f32({1, 1, 2, 1}, {10, 20})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 1, 1}, {kMix});
}

TEST(AttentionKernel, CausalMasksFutureKeys) {
  Attrs a;
  a.set("is_causal", int64_t{1});
  auto r = run_op(OpKind::kAttention,
                  {f32({1, 1, 2, 1}, {1, 1}), f32({1, 1, 2, 1}, {0, 1}), f32({1, 1, 2, 1}, {10, 20})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 2, 1}, {10.0, kMix});
}

TEST(AttentionKernel, BoolMaskAndShortAdditiveMask) {
  Tensor mask(DType::kBool, {2});
  mask.data<uint8_t>()[0] = 1;
  auto r = run_op(OpKind::kAttention,
                  {f32({1, 1, 1, 1}, {1}), f32({1, 1, 2, 1}, {0, 1}), f32({1, 1, 2, 1}, {10, 20}), mask});
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 1, 1}, {10.0});
  // A mask shorter than the key sequence masks the rest.
  auto r2 = run_op(OpKind::kAttention,
                   {f32({1, 1, 1, 1}, {1}), f32({1, 1, 2, 1}, {0, 1}), f32({1, 1, 2, 1}, {10, 20}), f32({1, 1}, {0})});
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  expect_values((*r2)[0], {1, 1, 1, 1}, {10.0});
}

TEST(AttentionKernel, ThreeDimensionalGroupedQuery) {
  Attrs a;
  a.set("q_num_heads", int64_t{2});
  a.set("kv_num_heads", int64_t{1});
  // Q [1, 1, 2 heads * 2], K/V [1, 1, 1 head * 2]: one key, so each head returns V.
  auto r =
      run_op(OpKind::kAttention, {f32({1, 1, 4}, {1, 2, 3, 4}), f32({1, 1, 2}, {1, 1}), f32({1, 1, 2}, {5, 6})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 4}, {5, 6, 5, 6});
}

TEST(AttentionKernel, PastAndPresentAndQkOutput) {
  Attrs a;
  a.set("scale", 2.0f);
  auto r = run_op(OpKind::kAttention,
                  {f32({1, 1, 1, 1}, {1}), f32({1, 1, 1, 1}, {1}), f32({1, 1, 1, 1}, {20}), Tensor(),
                   f32({1, 1, 1, 1}, {0}), f32({1, 1, 1, 1}, {10})},
                  a, 4);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[1], {1, 1, 2, 1}, {0, 1});
  expect_values((*r)[2], {1, 1, 2, 1}, {10, 20});
  expect_values((*r)[3], {1, 1, 1, 2}, {0, 2});
  expect_values((*r)[0], {1, 1, 1, 1}, {10.0 + 10.0 * sigmoid(2.0)});
}

TEST(AttentionKernel, SoftcapAndSoftmaxOutputMode) {
  Attrs a;
  a.set("softcap", 1.0f);
  a.set("qk_matmul_output_mode", int64_t{3});
  auto r = run_op(OpKind::kAttention, {f32({1, 1, 1, 1}, {1}), f32({1, 1, 2, 1}, {0, 1}), f32({1, 1, 2, 1}, {10, 20})},
                  a, 4);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double p1 = sigmoid(std::tanh(1.0));
  expect_values((*r)[0], {1, 1, 1, 1}, {10.0 + 10.0 * p1});
  expect_values((*r)[3], {1, 1, 1, 2}, {1 - p1, p1});
}

TEST(AttentionKernel, SoftcapKeepsMaskedKeysOut) {
  Attrs a;
  a.set("softcap", 1.0f);
  a.set("is_causal", int64_t{1});
  auto r = run_op(OpKind::kAttention,
                  {f32({1, 1, 2, 1}, {1, 1}), f32({1, 1, 2, 1}, {0, 1}), f32({1, 1, 2, 1}, {10, 20})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 2, 1}, {10.0, 10.0 + 10.0 * sigmoid(std::tanh(1.0))});
}

TEST(AttentionKernel, Float16) {
  Tensor q(DType::kFloat16, {1, 1, 1, 1}), k(DType::kFloat16, {1, 1, 1, 1}), v(DType::kFloat16, {1, 1, 1, 1});
  q.data<uint16_t>()[0] = 0x3C00;  // 1.0
  k.data<uint16_t>()[0] = 0x3C00;
  v.data<uint16_t>()[0] = 0x4000;  // 2.0
  auto r = run_op(OpKind::kAttention, {q, k, v});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat16);
  EXPECT_EQ((*r)[0].data<uint16_t>()[0], 0x4000);
}

TEST(AttentionKernel, BadInputs) {
  EXPECT_FALSE(run_op(OpKind::kAttention, {f32({1, 1}, {1}), f32({1, 1}, {1}), f32({1, 1}, {1})}).ok());
  EXPECT_FALSE(
      run_op(OpKind::kAttention, {f32({1, 1, 1, 2}, {1, 1}), f32({1, 1, 1, 1}, {1}), f32({1, 1, 1, 1}, {1})}).ok());
  EXPECT_FALSE(
      run_op(OpKind::kAttention, {f32({1, 1, 2}, {1, 1}), f32({1, 1, 2}, {1, 1}), f32({1, 1, 2}, {1, 1})}).ok());
  // A mask whose broadcast dims do not fit [B, H, Sq, total].
  EXPECT_FALSE(run_op(OpKind::kAttention, {f32({1, 1, 1, 1}, {1}), f32({1, 1, 2, 1}, {0, 1}),
                                           f32({1, 1, 2, 1}, {10, 20}), f32({3, 2}, {0, 0, 0, 0, 0, 0})})
                   .ok());
}

TEST(RotaryEmbeddingKernel, HalvesWithCacheRows) {
  const double c = 0.6, s = 0.8;
  auto r = run_op(OpKind::kRotaryEmbedding,
                  {f32({1, 1, 1, 4}, {1, 2, 3, 4}), f32({1, 1, 2}, {float(c), 1}), f32({1, 1, 2}, {float(s), 0})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Pairs (0, 2) and (1, 3); the second pair has angle 0.
  expect_values((*r)[0], {1, 1, 1, 4}, {c * 1 - s * 3, 2, s * 1 + c * 3, 4});
}

TEST(RotaryEmbeddingKernel, InterleavedPositionIdsPartial3D) {
  const double c = 0.6, s = 0.8;
  Attrs a;
  a.set("interleaved", int64_t{1});
  a.set("rotary_embedding_dim", int64_t{2});
  a.set("num_heads", int64_t{1});
  // 3-D input [1, 1, 4], caches [2 positions, 1]; position 1 is the rotation, dims 2..3 stay.
  auto r = run_op(
      OpKind::kRotaryEmbedding,
      {f32({1, 1, 4}, {1, 2, 3, 4}), f32({2, 1}, {1, float(c)}), f32({2, 1}, {0, float(s)}), i64({1, 1}, {1})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 4}, {c * 1 - s * 2, s * 1 + c * 2, 3, 4});
}

TEST(RotaryEmbeddingKernel, BadInputs) {
  // Position id out of range of the cache.
  EXPECT_FALSE(run_op(OpKind::kRotaryEmbedding,
                      {f32({1, 1, 1, 2}, {1, 2}), f32({1, 1}, {1}), f32({1, 1}, {0}), i64({1, 1}, {5})})
                   .ok());
  // Cache last dim must be rotary_dim / 2.
  EXPECT_FALSE(
      run_op(OpKind::kRotaryEmbedding, {f32({1, 1, 1, 2}, {1, 2}), f32({1, 1, 2}, {1, 1}), f32({1, 1, 2}, {0, 0})})
          .ok());
}

}  // namespace
