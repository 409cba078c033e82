// The CPU context end to end: a small graph mixing oneDNN, hand-written and reference nodes (views included)
// runs on backend "cpu" and matches backend "reference" on the first (recording) run, on planned runs that reuse
// the activation arena, after an input-shape change, and without overwriting outputs handed out earlier.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/engine_access.h"
#include "tests/unit/cpu_graph_test_util.h"

namespace kiln {
namespace {

using test_util::expect_close;
using test_util::make_node;
using test_util::random_f32;

// x[N,3,8,8] -> Conv(4,3x3,pad1) -> Relu -> Reshape[N,256] -> MatMul W[256,5] -> Add b -> Softmax = y
// plus z = Reshape(relu) as a second output (a view of an arena tensor handed to the caller).
// `reference_views`: plan the Reshape nodes on the reference backend (its kernel returns a view of its input).
std::shared_ptr<Engine> make_engine(const std::string& backend, bool reference_views = false) {
  auto g = std::make_shared<Graph>();
  g->name = "g";
  g->inputs.push_back({"x", TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(3), Dim::known(8), Dim::known(8)}))});
  g->initializers["w"] = random_f32({4, 3, 3, 3}, 1);
  g->initializers["cb"] = random_f32({4}, 2);
  g->initializers["m"] = random_f32({256, 5}, 3);
  g->initializers["b"] = random_f32({5}, 4);
  g->initializers["shape"] = Tensor::from_vector<int64_t>(DType::kInt64, {2}, {-1, 256});
  g->initializers["shape2"] = Tensor::from_vector<int64_t>(DType::kInt64, {3}, {-1, 4, 64});
  Node conv = make_node(OpKind::kConv, "conv", {"x", "w", "cb"}, {"c"});
  conv.attrs.set("pads", Dims{1, 1, 1, 1});
  g->nodes.push_back(conv);
  g->nodes.push_back(make_node(OpKind::kRelu, "relu", {"c"}, {"r"}));
  g->nodes.push_back(make_node(OpKind::kReshape, "flat", {"r", "shape"}, {"f"}));
  g->nodes.push_back(make_node(OpKind::kMatMul, "mm", {"f", "m"}, {"p"}));
  g->nodes.push_back(make_node(OpKind::kAdd, "add", {"p", "b"}, {"q"}));
  g->nodes.push_back(make_node(OpKind::kSoftmax, "sm", {"q"}, {"y"}));
  g->nodes.push_back(make_node(OpKind::kReshape, "view", {"r", "shape2"}, {"z"}));
  for (const auto& [name, t] : g->initializers) g->value_types[name] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  auto any = [](int r) { return TypeInfo::tensor(DType::kFloat32, Shape::unknown_rank()); };
  auto ranked = [](int r) {
    std::vector<Dim> d(r, Dim{-1, {}});
    return TypeInfo::tensor(DType::kFloat32, Shape::of_dims(d));
  };
  for (const char* v : {"c", "r"}) g->value_types[v] = ranked(4);
  for (const char* v : {"f", "p", "q"}) g->value_types[v] = ranked(2);
  g->value_types["x"] = g->inputs[0].type;
  g->outputs.push_back({"y", any(0)});
  g->outputs.push_back({"z", any(0)});
  g->value_types["y"] = any(0);
  g->value_types["z"] = any(0);
  EngineInfo info;
  info.backend = backend;
  info.precision = "fp32";
  auto e = std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  if (reference_views) {
    std::vector<NodePlan> plans(g->nodes.size());
    for (size_t i = 0; i < g->nodes.size(); ++i) plans[i].backend = g->nodes[i].op == OpKind::kReshape ? "reference" : "";
    EngineAccess::set_plans(*e, plans);
  }
  return e;
}


class CpuContextRuns : public ::testing::TestWithParam<bool> {};

TEST_P(CpuContextRuns, MatchReferenceAcrossRunsAndShapes) {
  register_builtin_backends();
  auto cpu = make_engine("cpu", GetParam());
  auto ref = make_engine("reference");
  auto cctx = cpu->create_context();
  auto rctx = ref->create_context();
  std::vector<NamedValues> kept;
  for (int run = 0; run < 6; ++run) {
    int64_t n = run < 3 ? 2 : (run < 5 ? 3 : 2);
    NamedValues in{{"x", Value::of(random_f32({n, 3, 8, 8}, 100 + run))}};
    NamedValues co, ro;
    ASSERT_TRUE(cctx->run(in, &co).ok()) << "run " << run;
    ASSERT_TRUE(rctx->run(in, &ro).ok()) << "run " << run;
    ASSERT_EQ(co.size(), 2u);
    for (size_t k = 0; k < 2; ++k) expect_close(co[k].second.tensor, ro[k].second.tensor, "run " + std::to_string(run) + " output " + std::to_string(k));
    kept.push_back(ro);
    kept.push_back(co);
  }
  // Outputs handed out earlier are still intact (not views of the arena).
  for (size_t r = 0; r + 1 < kept.size(); r += 2)
    for (size_t k = 0; k < 2; ++k) expect_close(kept[r + 1][k].second.tensor, kept[r][k].second.tensor, "kept " + std::to_string(r));
  EXPECT_GT(cctx->memory().activations_peak, 0u);
}

INSTANTIATE_TEST_SUITE_P(CpuContext, CpuContextRuns, ::testing::Bool());

// Inputs in CUDA device memory need a CUDA engine: CPU and reference engines refuse them with one line naming
// the input (they are never read), after the same shape checks as host inputs.
TEST(CpuContext, RefusesDeviceResidentInputs) {
  register_builtin_backends();
  for (const char* backend : {"cpu", "reference"}) {
    auto e = make_engine(backend);
    auto ctx = e->create_context();
    const int not_host_memory = 0;
    DeviceInputs dev = {{"x", {DType::kFloat32, {2, 3, 8, 8}, &not_host_memory}}};
    NamedValues out;
    Status st = ctx->run({}, dev, &out);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << backend;
    EXPECT_NE(st.message().find("input 'x' is in CUDA device memory, but this engine does not run on a GPU"),
              std::string::npos) << st.message();
    dev[0].second.dims = {2, 4, 8, 8};
    st = ctx->run({}, dev, &out);
    EXPECT_NE(st.message().find("input 'x' dim 1: expected 3, got 4"), std::string::npos) << st.message();
    dev[0].second = {DType::kString, {2}, &not_host_memory};
    st = ctx->run({}, dev, &out);
    EXPECT_NE(st.message().find("string tensors cannot be passed in device memory"), std::string::npos)
        << st.message();
    dev[0].second = {DType::kFloat32, {2, 3, 8, 8}, nullptr};
    st = ctx->run({}, dev, &out);
    EXPECT_NE(st.message().find("null device address"), std::string::npos) << st.message();
  }
}

// fetch_outputs(wanted) leaves unwanted outputs undefined; device_output is for CUDA engines only.
TEST(CpuContext, FetchesOnlyWantedOutputs) {
  register_builtin_backends();
  auto e = make_engine("cpu");
  auto ctx = e->create_context();
  NamedValues all, some;
  ASSERT_TRUE(ctx->run({{"x", Value::of(random_f32({2, 3, 8, 8}, 9))}}, &all).ok());
  ASSERT_TRUE(ctx->fetch_outputs(&some, {false, true}).ok());
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].first, "y");
  EXPECT_FALSE(some[0].second.tensor.defined());
  EXPECT_TRUE(some[1].second.tensor.identical(all[1].second.tensor));
  EXPECT_EQ(ctx->fetch_outputs(&some, {true}).code(), StatusCode::kInvalidArgument);
  auto dev = ctx->device_output(0);
  EXPECT_EQ(dev.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(ctx->device_output(2).status().code(), StatusCode::kInvalidArgument);
}

TEST(CpuContext, ProfilingNamesBackendAndKernel) {
  register_builtin_backends();
  auto cpu = make_engine("cpu");
  auto ctx = cpu->create_context();
  ctx->set_profiling(true);
  ctx->set_num_threads(1);
  NamedValues in{{"x", Value::of(random_f32({1, 3, 8, 8}, 7))}}, out;
  ASSERT_TRUE(ctx->run(in, &out).ok());
  auto layers = ctx->layer_timings();
  ASSERT_EQ(layers.size(), 7u);
  EXPECT_EQ(layers[0].placement, "cpu");
  EXPECT_EQ(layers[0].kernel, "onednn_conv");
  EXPECT_EQ(layers[3].kernel, "onednn_matmul");
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// conv chain with blocked hand-offs: a -> b (X=a) -> c (FusedConv X=b, Z=a, relu) -> MaxPool -> GlobalAveragePool
// -> y. `ref_node` (if not empty) is planned on the reference backend, which must see materialized plain bytes.
std::shared_ptr<Engine> make_conv_chain(const std::string& backend, const std::string& ref_node) {
  auto g = std::make_shared<Graph>();
  g->name = "chain";
  auto t4 = [] { return TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(16), Dim{-1, {}}, Dim{-1, {}}})); };
  g->inputs.push_back({"x", TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(8), Dim::known(12), Dim::known(12)}))});
  g->initializers["wa"] = random_f32({16, 8, 3, 3}, 11);
  g->initializers["wb"] = random_f32({16, 1, 3, 3}, 12);  // depthwise
  g->initializers["wc"] = random_f32({16, 16, 1, 1}, 13);
  g->initializers["bc"] = random_f32({16}, 14);
  Node a = make_node(OpKind::kConv, "a", {"x", "wa"}, {"ya"});
  a.attrs.set("pads", Dims{1, 1, 1, 1});
  Node b = make_node(OpKind::kConv, "b", {"ya", "wb"}, {"yb"});
  b.attrs.set("pads", Dims{1, 1, 1, 1});
  b.attrs.set("group", int64_t{16});
  Node c = make_node(OpKind::kFusedConv, "c", {"yb", "wc", "bc", "ya"}, {"yc"});
  c.attrs.set("activation", std::string("Relu"));
  Node p = make_node(OpKind::kMaxPool, "p", {"yc"}, {"yp"});
  p.attrs.set("kernel_shape", Dims{2, 2});
  p.attrs.set("strides", Dims{2, 2});
  Node gap = make_node(OpKind::kGlobalAveragePool, "gap", {"yp"}, {"y"});
  for (Node* n : {&a, &b, &c, &p, &gap}) g->nodes.push_back(*n);
  for (const auto& [name, t] : g->initializers) g->value_types[name] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  g->value_types["x"] = g->inputs[0].type;
  for (const char* v : {"ya", "yb", "yc", "yp", "y"}) g->value_types[v] = t4();
  g->outputs.push_back({"y", t4()});
  EngineInfo info;
  info.backend = backend;
  info.precision = "fp32";
  auto e = std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  std::vector<NodePlan> plans(g->nodes.size());
  for (size_t i = 0; i < g->nodes.size(); ++i) plans[i].backend = g->nodes[i].name == ref_node ? "reference" : "";
  EngineAccess::set_plans(*e, plans);
  return e;
}

class CpuContextHandoff : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuContextHandoff, ConvChainMatchesReference) {
  register_builtin_backends();
  auto cpu = make_conv_chain("cpu", GetParam());
  auto ref = make_conv_chain("reference", "");
  auto cctx = cpu->create_context();
  auto rctx = ref->create_context();
  for (int run = 0; run < 4; ++run) {
    int64_t n = run < 3 ? 1 : 2;
    NamedValues in{{"x", Value::of(random_f32({n, 8, 12, 12}, 200 + run))}}, co, ro;
    ASSERT_TRUE(cctx->run(in, &co).ok()) << "run " << run;
    ASSERT_TRUE(rctx->run(in, &ro).ok()) << "run " << run;
    expect_close(co[0].second.tensor, ro[0].second.tensor, "node on reference: '" + GetParam() + "' run " + std::to_string(run));
  }
}

INSTANTIATE_TEST_SUITE_P(CpuContext, CpuContextHandoff, ::testing::Values("", "b", "c", "p", "gap"));

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// A constant B with 4 KiB rows is kept transposed by the matmul kernel: same answer as the reference.
TEST(CpuContext, MatMulWithTransposedConstantWeights) {
  register_builtin_backends();
  auto make = [](const std::string& backend) {
    auto g = std::make_shared<Graph>();
    g->name = "mm";
    auto t3 = TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(7), Dim::known(48)}));
    g->inputs.push_back({"x", t3});
    g->initializers["w"] = random_f32({48, 1024}, 31);
    g->value_types["w"] = TypeInfo::tensor(DType::kFloat32, Shape::of({48, 1024}));
    g->value_types["x"] = t3;
    auto ty = TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(7), Dim::known(1024)}));
    g->value_types["y"] = ty;
    g->nodes.push_back(make_node(OpKind::kMatMul, "mm", {"x", "w"}, {"y"}));
    g->outputs.push_back({"y", ty});
    EngineInfo info;
    info.backend = backend;
    info.precision = "fp32";
    return std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  };
  auto cpu = make("cpu"), ref = make("reference");
  auto c = cpu->create_context(), r = ref->create_context();
  for (int run = 0; run < 3; ++run) {
    NamedValues in{{"x", Value::of(random_f32({run + 1, 7, 48}, 300 + run))}}, co, ro;
    ASSERT_TRUE(c->run(in, &co).ok());
    ASSERT_TRUE(r->run(in, &ro).ok());
    expect_close(co[0].second.tensor, ro[0].second.tensor, "matmul run " + std::to_string(run));
  }
}

}  // namespace
}  // namespace kiln
