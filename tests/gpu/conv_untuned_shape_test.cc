// GPU test of convolutions at shapes other than the one their tactics were tuned for: the engine records the tuned
// input dims (kiln_tactic_dims) and, at any other batch size, a graph convolution runs cuDNN's first plan for that
// shape. Outputs at tuned and untuned batch sizes must match the CPU engine's. With several profiles
// (--tune-batch-sizes) each opt shape gets its own tactics (NodePlan::shape_tactics), kept through the engine file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/builder.h"
#include "runtime/engine_access.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

// x [N,8,12,12] -> Conv 3x3 pads 1 (16 channels, bias) -> Relu -> y, N dynamic.
std::shared_ptr<Graph> conv_relu_graph() {
  auto g = std::make_shared<Graph>();
  g->name = "conv_relu";
  g->opsets[""] = 17;
  g->initializers["w"] = random_tensor(DType::kFloat32, {16, 8, 3, 3}, 5, -0.3, 0.3);
  g->initializers["b"] = random_tensor(DType::kFloat32, {16}, 6, -0.3, 0.3);
  ValueInfo vi;
  vi.name = "x";
  vi.type.kind = ValueKind::kTensor;
  vi.type.dtype = DType::kFloat32;
  vi.type.shape.rank_known = true;
  vi.type.shape.dims = {Dim::named("N"), Dim::known(8), Dim::known(12), Dim::known(12)};
  g->inputs.push_back(vi);
  Node conv;
  conv.op = OpKind::kConv;
  conv.name = "conv";
  conv.opset = 17;
  conv.inputs = {"x", "w", "b"};
  conv.outputs = {"c"};
  conv.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  g->nodes.push_back(conv);
  Node relu;
  relu.op = OpKind::kRelu;
  relu.name = "relu";
  relu.opset = 17;
  relu.inputs = {"c"};
  relu.outputs = {"y"};
  g->nodes.push_back(relu);
  g->outputs.push_back(ValueInfo{"y", {}});
  EXPECT_TRUE(infer_graph_types(*g).ok());
  for (auto& o : g->outputs) o.type = *g->type_of(o.name);
  return g;
}

// Max abs difference of the first outputs of two contexts on the same input.
double worst_difference(ExecutionContext& a, ExecutionContext& b, const Tensor& x) {
  NamedValues got, want;
  EXPECT_TRUE(a.run({{"x", Value::of(x)}}, &got).ok());
  EXPECT_TRUE(b.run({{"x", Value::of(x)}}, &want).ok());
  if (got.empty() || want.empty()) return 1e30;
  const Tensor& t = got[0].second.tensor;
  const Tensor& u = want[0].second.tensor;
  EXPECT_EQ(t.dims(), u.dims());
  double worst = 0;
  for (int64_t i = 0; i < t.numel() && t.dims() == u.dims(); ++i)
    worst = std::max(worst, std::fabs(t.as_double(i) - u.as_double(i)));
  return worst;
}

TEST(GpuConvUntunedShape, RecordsTunedDimsAndRunsOtherBatchSizes) {
  KILN_REQUIRE_GPU();
  BuildOptions gpu;
  gpu.device = "cuda";
  gpu.precision = "fp16";
  OptimizationProfile prof;
  prof.inputs["x"] = ShapeRange{{1, 8, 12, 12}, {8, 8, 12, 12}, {8, 8, 12, 12}};
  gpu.profiles.push_back(prof);
  auto ge = build_engine_from_graph(conv_relu_graph(), gpu, "conv_relu");
  ASSERT_TRUE(ge.ok()) << ge.status().message();
  bool recorded = false;
  for (const Node& n : (*ge)->graph().nodes)
    if (n.op == OpKind::kFusedConv && n.attrs.has("kiln_tactic_dims")) recorded = true;
  EXPECT_TRUE(recorded) << "the tuned conv should carry kiln_tactic_dims";
  BuildOptions cpu;
  auto ce = build_engine_from_graph(conv_relu_graph(), cpu, "conv_relu");
  ASSERT_TRUE(ce.ok()) << ce.status().message();
  auto gctx = (*ge)->create_context();
  auto cctx = (*ce)->create_context();
  for (int64_t n : {3, 8, 1, 5}) {  // untuned, tuned, untuned again
    SCOPED_TRACE("batch " + std::to_string(n));
    EXPECT_LT(worst_difference(*gctx, *cctx, random_tensor(DType::kFloat32, {n, 8, 12, 12}, 10 + n, -1, 1)), 2e-2);
  }
}

TEST(GpuConvUntunedShape, EachBatchProfileIsTunedAndSurvivesTheFile) {
  KILN_REQUIRE_GPU();
  BuildOptions gpu;
  gpu.device = "cuda";
  gpu.precision = "fp16";
  gpu.tune_batch_sizes = {8, 2, 4, 2};  // 2 twice: tuned once
  auto ge = build_engine_from_graph(conv_relu_graph(), gpu, "conv_relu");
  ASSERT_TRUE(ge.ok()) << ge.status().message();
  ASSERT_EQ((*ge)->profiles().size(), 3u);
  auto bytes = (*ge)->serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto loaded = Engine::from_bytes(*bytes, "mem.kiln");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const std::vector<NodePlan>& plans = EngineAccess::plans(**loaded);
  const Graph& g = (*loaded)->graph();
  bool conv_seen = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op != OpKind::kFusedConv) continue;
    conv_seen = true;
    std::vector<int64_t> batches;
    for (const ShapeTactic& t : plans[i].shape_tactics) batches.push_back(t.dims.at(0));
    std::sort(batches.begin(), batches.end());
    EXPECT_EQ(batches, (std::vector<int64_t>{2, 4})) << "the conv needs tactics tuned at batch 2 and 4 (8 is `tactic`)";
  }
  EXPECT_TRUE(conv_seen);
  BuildOptions cpu;
  auto ce = build_engine_from_graph(conv_relu_graph(), cpu, "conv_relu");
  ASSERT_TRUE(ce.ok()) << ce.status().message();
  auto gctx = (*loaded)->create_context();
  auto cctx = (*ce)->create_context();
  for (int64_t n : {2, 8, 4, 3, 2}) {  // tuned at each profile, and an untuned size
    SCOPED_TRACE("batch " + std::to_string(n));
    EXPECT_LT(worst_difference(*gctx, *cctx, random_tensor(DType::kFloat32, {n, 8, 12, 12}, 20 + n, -1, 1)), 2e-2);
  }
}

// KILN_CUDA_CONV_RTC_PROFILES=1 at build time: every tuned conv carries kiln_rtc_at_profiles (through the engine
// file), each profile's tactic is timed among runtime-compiled engines too, and outputs at every tuned batch size,
// repeated (CUDA graphs on: shapes that run a runtime-compiled engine must stay out of them) and at an untuned one,
// match the CPU engine's.
TEST(GpuConvUntunedShape, RuntimeCompiledEnginesAtEveryProfile) {
  KILN_REQUIRE_GPU();
  ASSERT_EQ(setenv("KILN_CUDA_CONV_RTC_PROFILES", "1", 1), 0);
  BuildOptions gpu;
  gpu.device = "cuda";
  gpu.precision = "fp16";
  gpu.tune_batch_sizes = {8, 2, 4};
  auto ge = build_engine_from_graph(conv_relu_graph(), gpu, "conv_relu");
  unsetenv("KILN_CUDA_CONV_RTC_PROFILES");
  ASSERT_TRUE(ge.ok()) << ge.status().message();
  auto bytes = (*ge)->serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto loaded = Engine::from_bytes(*bytes, "mem.kiln");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  bool marked = false;
  for (const Node& n : (*loaded)->graph().nodes)
    if (n.op == OpKind::kFusedConv) marked = n.attrs.get_int("kiln_rtc_at_profiles", 0) == 1;
  EXPECT_TRUE(marked) << "the tuned conv should carry kiln_rtc_at_profiles";
  BuildOptions cpu;
  auto ce = build_engine_from_graph(conv_relu_graph(), cpu, "conv_relu");
  ASSERT_TRUE(ce.ok()) << ce.status().message();
  auto gctx = (*loaded)->create_context();
  gctx->set_cuda_graph(true);
  auto cctx = (*ce)->create_context();
  for (int64_t n : {2, 8, 4, 2, 4, 8, 3, 2}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    EXPECT_LT(worst_difference(*gctx, *cctx, random_tensor(DType::kFloat32, {n, 8, 12, 12}, 30 + n, -1, 1)), 2e-2);
  }
}

TEST(GpuConvUntunedShape, BatchSizesIgnoredWhenTheBatchIsFixed) {
  KILN_REQUIRE_GPU();
  auto g = conv_relu_graph();
  g->inputs[0].type.shape.dims[0] = Dim::known(4);
  EXPECT_TRUE(infer_graph_types(*g).ok());
  BuildOptions gpu;
  gpu.device = "cuda";
  gpu.precision = "fp16";
  gpu.tune_batch_sizes = {8, 2};
  auto ge = build_engine_from_graph(g, gpu, "conv_relu_fixed");
  ASSERT_TRUE(ge.ok()) << ge.status().message();
  EXPECT_TRUE((*ge)->profiles().empty());
}

}  // namespace
}  // namespace kiln::testing
