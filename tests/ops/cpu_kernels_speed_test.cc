// Timing probes of the hand-written CPU kernels (disabled by default; run with
// OMP_NUM_THREADS=1 build/bin/kiln_tests --gtest_also_run_disabled_tests --gtest_filter='*CpuKernelsSpeed*'): microseconds
// per call, 1 thread (oneDNN calls included), next to
// the reference kernel, so a regression or a slow kernel shows up in numbers.
#include <chrono>
#include <cstdio>

#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

double time_us(const std::function<void()>& f, int reps) {
  f();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
}

void probe(const char* what, OpKind op, const std::vector<Tensor>& in, const Attrs& a, int opset, int reps = 20) {
  Graph g;
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = a;
  node.opset = opset;
  for (size_t i = 0; i < in.size(); ++i) {
    node.inputs.push_back(in[i].defined() ? "in" + std::to_string(i) : "");
    if (in[i].defined()) g.value_types["in" + std::to_string(i)] = TypeInfo::tensor(in[i].dtype(), Shape::of(in[i].dims()));
  }
  node.outputs.push_back("out0");
  std::string why;
  const CpuKernel* k = hand_kernels().select(g, node, &why);
  ASSERT_NE(k, nullptr) << why;
  TestCpuContext ctx(node, in, 1);
  ctx.reuse_outputs(true);
  const double cpu = time_us([&] { ASSERT_TRUE(k->run(ctx).ok()); }, reps);
  const double ref = time_us([&] { ASSERT_TRUE(run_reference_kernel(op, in, a, 1, opset).ok()); }, 2);
  std::printf("%-40s cpu %10.1f us   reference %10.1f us   x%.0f\n", what, cpu, ref, ref / cpu);
}

TEST(CpuKernelsSpeed, DISABLED_Probes) {
  Tensor none;
  Attrs lin;
  lin.set("mode", std::string("linear"));
  probe("Resize linear 1x21x40x40 -> 320x320", OpKind::kResize,
        {random_f32({1, 21, 40, 40}), none, none, Tensor::from_vector<int64_t>(DType::kInt64, {4}, {1, 21, 320, 320})},
        lin, 19);
  probe("Softmax 6x1500x1500 (last axis)", OpKind::kSoftmax, {random_f32({6, 1500, 1500})}, {}, 13, 3);
  probe("Gelu 128x3072", OpKind::kGelu, {random_f32({128, 3072})}, {}, 20);
  probe("Sigmoid 1x64x80x80", OpKind::kSigmoid, {random_f32({1, 64, 80, 80})}, {}, 13);
  Attrs ln;
  ln.set("axis", int64_t{-1});
  probe("LayerNorm 128x768", OpKind::kLayerNormalization, {random_f32({128, 768}), random_f32({768}), random_f32({768})},
        ln, 17);
  probe("Add 1x64x80x80 + 1x64x1x1", OpKind::kAdd, {random_f32({1, 64, 80, 80}), random_f32({1, 64, 1, 1})}, {}, 14);
  Attrs perm;
  perm.set("perm", std::vector<int64_t>{0, 2, 1, 3});
  probe("Transpose 1x128x12x64 (0,2,1,3)", OpKind::kTranspose, {random_f32({1, 128, 12, 64})}, perm, 13);
  Attrs perm2;
  perm2.set("perm", std::vector<int64_t>{0, 2, 3, 1});
  probe("Transpose 1x64x80x80 (0,2,3,1)", OpKind::kTranspose, {random_f32({1, 64, 80, 80})}, perm2, 13);
  probe("Attention 1x12x128x64", OpKind::kAttention,
        {random_f32({1, 12, 128, 64}), random_f32({1, 12, 128, 64}), random_f32({1, 12, 128, 64})}, {}, 23, 5);
  Attrs red;
  red.set("keepdims", int64_t{1});
  probe("ReduceMean 1x256x40x40 over (2,3)", OpKind::kReduceMean,
        {random_f32({1, 256, 40, 40}), Tensor::from_vector<int64_t>(DType::kInt64, {2}, {2, 3})}, red, 18);
}

}  // namespace
}  // namespace kiln::cpu::test
