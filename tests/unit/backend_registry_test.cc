// The backend registry and the generic partitioner: chain order, fallback with the preferred backend's reason,
// a clear error when no backend runs a node, and --backend / engine-backend errors.
#include <gtest/gtest.h>

#include <algorithm>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "passes/pass_manager.h"
#include "runtime/backend.h"
#include "runtime/builder.h"
#include "runtime/context_backend.h"
#include "runtime/engine_access.h"

namespace kiln {
namespace {

// Supports every op except `refused`, which it declines with `reason`.
class FakeBackend : public Backend {
 public:
  FakeBackend(std::string name, OpKind refused, std::string reason)
      : name_(std::move(name)), refused_(refused), reason_(std::move(reason)) {}
  std::string name() const override { return name_; }
  std::string device() const override { return "cpu"; }
  NodeSupport supports(const Graph&, const Node& node) const override {
    return node.op == refused_ ? NodeSupport::no(reason_) : NodeSupport::yes();
  }
  std::unique_ptr<ContextBackend> make_context(const Engine&) const override { return nullptr; }

 private:
  std::string name_;
  OpKind refused_;
  std::string reason_;
};

Node node(OpKind op, const std::string& name, std::vector<std::string> ins, std::vector<std::string> outs) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  return n;
}

Graph relu_cos_graph() {
  Graph g;
  g.nodes.push_back(node(OpKind::kRelu, "r", {"x"}, {"h"}));
  g.nodes.push_back(node(OpKind::kCos, "c", {"h"}, {"y"}));
  g.nodes.push_back(node(OpKind::kRelu, "r2", {"y"}, {"z"}));
  return g;
}

TEST(BackendRegistry, BuiltinsAreRegisteredInPreferenceOrder) {
  EXPECT_NE(find_backend("reference"), nullptr);
  EXPECT_NE(find_backend("cpu"), nullptr);
  EXPECT_EQ(find_backend("no-such-backend"), nullptr);
  auto cpu = backends_for_device("cpu");
  ASSERT_GE(cpu.size(), 2u);
  EXPECT_EQ(cpu[0]->name(), "cpu");
  EXPECT_EQ(cpu.back()->name(), "reference");
  auto names = backend_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "reference"), names.end());
  EXPECT_NE(backend_names_string().find("reference"), std::string::npos);
}

TEST(BackendPartition, RefusedNodeGoesToNextBackendWithReason) {
  FakeBackend fast("fast", OpKind::kCos, "Cos needs float64");
  FakeBackend slow("slow", OpKind::kAbs, "unused");
  Graph g = relu_cos_graph();
  auto plans = partition_graph(g, {&fast, &slow});
  ASSERT_TRUE(plans.ok()) << plans.status().message();
  ASSERT_EQ(plans->size(), 3u);
  EXPECT_EQ((*plans)[0].backend, "fast");
  EXPECT_EQ((*plans)[0].note, "");
  EXPECT_EQ((*plans)[1].backend, "slow");
  EXPECT_EQ((*plans)[1].note, "fast: Cos needs float64");
  EXPECT_EQ((*plans)[2].backend, "fast");
}

TEST(BackendPartition, ReasonAlreadyNamingTheBackendIsNotPrefixedTwice) {
  FakeBackend fast("fast", OpKind::kCos, "fast: no Cos kernel");
  FakeBackend slow("slow", OpKind::kAbs, "unused");
  Graph g = relu_cos_graph();
  auto plans = partition_graph(g, {&fast, &slow});
  ASSERT_TRUE(plans.ok());
  EXPECT_EQ((*plans)[1].note, "fast: no Cos kernel");
}

TEST(BackendPartition, NoBackendForANodeNamesTheNodeAndEveryReason) {
  FakeBackend a("a", OpKind::kCos, "no Cos in a");
  FakeBackend b("b", OpKind::kCos, "no Cos in b");
  Graph g = relu_cos_graph();
  auto plans = partition_graph(g, {&a, &b});
  ASSERT_FALSE(plans.ok());
  const std::string& m = plans.status().message();
  EXPECT_NE(m.find("c"), std::string::npos) << m;
  EXPECT_NE(m.find("Cos"), std::string::npos) << m;
  EXPECT_NE(m.find("a: no Cos in a"), std::string::npos) << m;
  EXPECT_NE(m.find("b: no Cos in b"), std::string::npos) << m;
}

TEST(BackendPartition, EmptyChainIsAnError) {
  Graph g = relu_cos_graph();
  EXPECT_FALSE(partition_graph(g, {}).ok());
}

TEST(BackendPartition, EmptyGraphGivesNoPlans) {
  FakeBackend a("a", OpKind::kCos, "x");
  Graph g;
  auto plans = partition_graph(g, {&a});
  ASSERT_TRUE(plans.ok());
  EXPECT_TRUE(plans->empty());
}

TEST(BackendPartition, ReferenceBackendRunsEveryRegisteredOp) {
  const Backend* ref = find_backend("reference");
  ASSERT_NE(ref, nullptr);
  Graph g = relu_cos_graph();
  FakeBackend a("a", OpKind::kCos, "no Cos in a");
  auto plans = partition_graph(g, {&a, ref});
  ASSERT_TRUE(plans.ok()) << plans.status().message();
  EXPECT_EQ((*plans)[1].backend, "reference");
  EXPECT_EQ((*plans)[1].note, "a: no Cos in a");
}

std::shared_ptr<Graph> relu_graph() {
  auto g = std::make_shared<Graph>();
  ValueInfo x;
  x.name = "x";
  x.type.kind = ValueKind::kTensor;
  x.type.dtype = DType::kFloat32;
  x.type.shape.rank_known = true;
  x.type.shape.dims = {Dim::known(2), Dim::known(3)};
  g->inputs.push_back(x);
  g->nodes.push_back(node(OpKind::kRelu, "r", {"x"}, {"y"}));
  ValueInfo y = x;
  y.name = "y";
  g->outputs.push_back(y);
  g->value_types["y"] = y.type;
  g->opsets[""] = 17;
  return g;
}

TEST(BackendBuild, UnknownBackendOptionIsAClearError) {
  BuildOptions o;
  o.backend = "warp-drive";
  auto e = build_engine_from_graph(relu_graph(), o, "relu");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("unknown --backend 'warp-drive'"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("reference"), std::string::npos) << e.status().message();
}

TEST(BackendBuild, ForcedReferenceBackendPlansEveryNodeOnIt) {
  BuildOptions o;
  o.backend = "reference";
  auto e = build_engine_from_graph(relu_graph(), o, "relu");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->info().backend, "reference");
  const auto& plans = EngineAccess::plans(**e);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].backend, "reference");
  NamedValues outs;
  Tensor x = Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {-1.f, 2.f, -3.f, 4.f, 0.f, -0.5f});
  ASSERT_TRUE((*e)->create_context()->run({{"x", Value::of(x)}}, &outs).ok());
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_FLOAT_EQ(outs[0].second.tensor.data<float>()[1], 2.f);
  EXPECT_FLOAT_EQ(outs[0].second.tensor.data<float>()[0], 0.f);
}

TEST(BackendBuild, CpuDeviceChainIsCpuThenReference) {
  BuildOptions o;  // --device cpu
  auto e = build_engine_from_graph(relu_graph(), o, "relu");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->info().backend, "cpu");
  const auto& plans = EngineAccess::plans(**e);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_TRUE(plans[0].backend == "cpu" || plans[0].backend == "reference") << plans[0].backend;
  if (plans[0].backend == "reference") EXPECT_FALSE(plans[0].note.empty());
}

TEST(BackendBuild, EngineWhoseBackendIsNotInThisKilnFailsClearly) {
  EngineInfo info;
  info.backend = "tpu";
  info.precision = "fp32";
  Engine e(relu_graph(), info, {});
  Status st = e.check_compatible();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("engine needs backend 'tpu', this Kiln has: "), std::string::npos) << st.message();
  auto ctx = e.create_context();
  NamedValues outs;
  Tensor x = Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Status run = ctx->run({{"x", Value::of(x)}}, &outs);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.message().find("engine needs backend 'tpu'"), std::string::npos) << run.message();
}

TEST(BackendPasses, BackendSpecificPassesFollowTheBackendsWishes) {
  auto has = [](const std::vector<std::string>& v, const char* p) { return std::find(v.begin(), v.end(), p) != v.end(); };
  PassOptions o;
  o.backend_passes = std::set<std::string>{"fuse_elementwise_chains"};
  auto names = pass_names(o);
  EXPECT_TRUE(has(names, "fuse_elementwise_chains"));
  EXPECT_FALSE(has(names, "layout_nhwc"));
  o.backend_passes = std::set<std::string>{};
  o.device = "cuda";  // the device string no longer decides once the backend answered
  EXPECT_FALSE(has(pass_names(o), "fuse_elementwise_chains"));
  const Backend* ref = find_backend("reference");
  ASSERT_NE(ref, nullptr);
  EXPECT_FALSE(ref->wants_pass("layout_nhwc"));  // the oracle runs the graph as imported and fused, no layouts
}

}  // namespace
}  // namespace kiln
