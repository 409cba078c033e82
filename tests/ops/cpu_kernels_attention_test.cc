// The hand-written CPU Attention kernel vs the reference: 3-D and 4-D inputs, GQA, packed QKV, float and bool
// masks (broadcast, shorter last dim), is_causal, explicit scale, odd sizes, threads; refusals (KV cache,
// softcap, extra outputs). Tolerance |cpu - ref| <= 1e-5 + 1e-4 * |ref|. In bf16 engines on CPUs with native bf16
// the products are oneDNN bf16 matmuls over 64-row query blocks: checked against the reference within the bf16
// budget (docs/conformance.md), with tails, masks, causal, GQA, 3-D inputs, threads and shape changes.
#include "backends/cpu/onednn/common.h"
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

// Runs the Attention kernel with bf16 allowed (twice, then on `again` inputs of other sizes through the same state)
// and compares each run with the reference within the bf16 budget.
void check_bf16(const std::vector<Tensor>& in, const std::vector<Tensor>& again, const Attrs& attrs, int threads,
                const std::string& what) {
  Graph g;
  Node node;
  node.op = OpKind::kAttention;
  node.name = "n";
  node.attrs = attrs;
  node.opset = 23;
  for (size_t i = 0; i < in.size(); ++i) {
    node.inputs.push_back("in" + std::to_string(i));
    g.value_types[node.inputs.back()] = TypeInfo::tensor(in[i].dtype(), Shape::of(in[i].dims()));
  }
  node.outputs.push_back("out0");
  std::string why;
  const CpuKernel* k = hand_kernels().select(g, node, &why);
  ASSERT_NE(k, nullptr) << what << ": " << why;
  auto check = [&](TestCpuContext& ctx, const std::vector<Tensor>& inputs, const std::string& w) {
    ASSERT_TRUE(k->run(ctx).ok()) << w;
    auto ref = run_reference_kernel(OpKind::kAttention, inputs, attrs, 1, 23);
    ASSERT_TRUE(ref.ok()) << w << ": " << ref.status().message();
    double peak = 0;
    for (int64_t i = 0; i < (*ref)[0].numel(); ++i) peak = std::max(peak, std::fabs((*ref)[0].as_double(i)));
    expect_close(ctx.outputs()[0], (*ref)[0], 4e-2, 1.6e-2 * peak, w + " (bf16)");
  };
  TestCpuContext ctx(node, in, threads);
  ctx.set_allow_bf16(true);
  check(ctx, in, what);
  check(ctx, in, what + " (second run)");
  if (again.empty()) return;
  TestCpuContext other(node, again, threads);
  other.set_allow_bf16(true);
  other.node_state() = ctx.node_state();  // the same node with new sizes: the products are rebuilt
  check(other, again, what + " (new sizes)");
}

TEST(CpuKernelsAttention, Bf16ProductsInQueryBlocks) {
  if (!onednn::native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  // Heads above the kernel's bf16 threshold (256 x 256 x 64 multiply-adds): 300 query rows are four full 64-row
  // blocks and a 44-row tail; GQA; 260 keys. Values in [-1, 1] (the default [-3, 3] makes scores of +-20 whose
  // near-ties bf16's 8-bit mantissa cannot order within the budget; real attention inputs come out of a norm).
  auto u = [](const Dims& d) { return random_f32(d, -1.f, 1.f); };
  Tensor q = u({1, 2, 300, 64}), k = u({1, 1, 260, 64}), v = u({1, 1, 260, 48});
  Tensor q2 = u({1, 2, 256, 64}), k2 = u({1, 1, 300, 64}), v2 = u({1, 1, 300, 48});
  check_bf16({q, k, v}, {q2, k2, v2}, {}, 1, "4-D gqa");
  Attrs causal;
  causal.set("is_causal", int64_t{1});
  causal.set("scale", 0.1f);
  check_bf16({q, k, v}, {}, causal, 1, "causal");
  check_bf16({q, k, v}, {}, {}, 2, "2 threads");
  Tensor fm = random_f32({1, 1, 300, 260}, -5, 0);
  check_bf16({q, k, v, fm}, {}, {}, 1, "float mask");
  Tensor bm = random_int(DType::kBool, {300, 260}, 0, 1);
  for (int64_t i = 0; i < 300; ++i) bm.data<uint8_t>()[i * 260 + i % 260] = 1;  // no fully masked row
  check_bf16({q, k, v, bm}, {}, {}, 2, "bool mask");
  Tensor q3 = u({1, 270, 2 * 64}), k3 = u({1, 260, 64}), v3 = u({1, 260, 32});
  check_bf16({q3, k3, v3}, {}, heads(2, 1), 1, "3-D gqa");
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
