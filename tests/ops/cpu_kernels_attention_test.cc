// The hand-written CPU Attention kernel vs the reference: 3-D and 4-D inputs, GQA, packed QKV, float and bool
// masks (broadcast, shorter last dim), is_causal, explicit scale, odd sizes, threads; refusals (KV cache,
// softcap, extra outputs). Tolerance |cpu - ref| <= 1e-5 + 1e-4 * |ref|.
#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

constexpr double kRel = 1e-4, kAbs = 1e-5;

Attrs heads(int64_t q, int64_t kv) {
  Attrs a;
  a.set("q_num_heads", q);
  a.set("kv_num_heads", kv);
  return a;
}

TEST(CpuKernelsAttention, FourDimensionalWithGqaAndMasks) {
  struct Case {
    int64_t b, hq, hkv, sq, skv, d, dv;
  };
  for (const Case& c : std::vector<Case>{{1, 1, 1, 1, 1, 1, 1}, {2, 4, 4, 7, 7, 16, 16}, {1, 8, 2, 5, 11, 8, 4},
                                         {3, 2, 1, 13, 3, 5, 7}, {1, 12, 12, 64, 64, 64, 64}}) {
    const std::string what = "b" + std::to_string(c.b) + " hq" + std::to_string(c.hq) + " hkv" + std::to_string(c.hkv) +
                             " sq" + std::to_string(c.sq) + " skv" + std::to_string(c.skv);
    Tensor q = random_f32({c.b, c.hq, c.sq, c.d}), k = random_f32({c.b, c.hkv, c.skv, c.d}),
           v = random_f32({c.b, c.hkv, c.skv, c.dv});
    check_vs_reference(OpKind::kAttention, {q, k, v}, {}, 1, 23, kRel, kAbs, what, 2);
    Attrs causal;
    causal.set("is_causal", int64_t{1});
    causal.set("scale", 0.3f);
    check_vs_reference(OpKind::kAttention, {q, k, v}, causal, 1, 23, kRel, kAbs, what + " causal");
    Tensor fm = random_f32({c.b, 1, 1, c.skv}, -5, 0);
    check_vs_reference(OpKind::kAttention, {q, k, v, fm}, {}, 1, 23, kRel, kAbs, what + " float mask");
    Tensor bm = random_int(DType::kBool, {c.sq, c.skv}, 0, 1);
    for (int64_t i = 0; i < c.sq; ++i) bm.data<uint8_t>()[i * c.skv] = 1;  // no fully masked row
    check_vs_reference(OpKind::kAttention, {q, k, v, bm}, {}, 1, 23, kRel, kAbs, what + " bool mask");
    if (c.skv > 1) {
      Tensor shorter = random_f32({c.b, c.hq, c.sq, c.skv - 1});
      check_vs_reference(OpKind::kAttention, {q, k, v, shorter}, {}, 1, 23, kRel, kAbs, what + " shorter mask");
    }
  }
}

TEST(CpuKernelsAttention, ThreeDimensionalAndPacked) {
  Tensor q = random_f32({2, 5, 4 * 8}), k = random_f32({2, 9, 2 * 8}), v = random_f32({2, 9, 2 * 6});
  check_vs_reference(OpKind::kAttention, {q, k, v}, heads(4, 2), 1, 23, kRel, kAbs, "3-D gqa");
  Attrs p = heads(4, 2);
  p.set("packed_qkv", int64_t{1});
  Tensor x = random_f32({2, 6, (4 + 2 * 2) * 8});
  CpuRun c = run_cpu_kernel(OpKind::kAttention, {x}, p, 1, 24);
  ASSERT_TRUE(c.supported) << c.why;
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  auto ref = run_reference_kernel(OpKind::kAttention, {x}, p, 1, 24);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  expect_close(c.outputs[0], (*ref)[0], kRel, kAbs, "packed");
}

TEST(CpuKernelsAttention, RefusesAndErrors) {
  Tensor q = random_f32({1, 2, 3, 4}), k = random_f32({1, 2, 3, 4}), v = random_f32({1, 2, 3, 4});
  Attrs cap;
  cap.set("softcap", 2.f);
  EXPECT_FALSE(run_cpu_kernel(OpKind::kAttention, {q, k, v}, cap, 1, 23).supported);
  EXPECT_FALSE(run_cpu_kernel(OpKind::kAttention, {q, k, v, Tensor(), random_f32({1, 2, 2, 4}), random_f32({1, 2, 2, 4})},
                              {}, 1, 23).supported);
  EXPECT_FALSE(run_cpu_kernel(OpKind::kAttention, {q, k, v}, {}, 2, 23).supported);
  CpuRun r = run_cpu_kernel(OpKind::kAttention, {q, random_f32({1, 2, 3, 5}), v}, {}, 1, 23);
  ASSERT_TRUE(r.supported);
  EXPECT_FALSE(r.status.ok());
}

}  // namespace
}  // namespace kiln::cpu::test
