// GPU test of convolutions at shapes other than the one their tactics were tuned for: the engine records the tuned
// input dims (kiln_tactic_dims) and, at any other batch size, a graph convolution runs cuDNN's first plan for that
// shape. Outputs at tuned and untuned batch sizes must match the CPU engine's.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/engine.h"
#include "runtime/builder.h"
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
    Tensor x = random_tensor(DType::kFloat32, {n, 8, 12, 12}, 10 + n, -1, 1);
    NamedValues got, want;
    ASSERT_TRUE(gctx->run({{"x", Value::of(x)}}, &got).ok());
    ASSERT_TRUE(cctx->run({{"x", Value::of(x)}}, &want).ok());
    const Tensor& a = got[0].second.tensor;
    const Tensor& b = want[0].second.tensor;
    ASSERT_EQ(a.dims(), b.dims());
    double worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.as_double(i) - b.as_double(i)));
    EXPECT_LT(worst, 2e-2);
  }
}

}  // namespace
}  // namespace kiln::testing
