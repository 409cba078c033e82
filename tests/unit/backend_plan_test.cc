// Per-node plans in the engine file: round trip of every field, the plan section's checks, older formats refused
// with the rebuild message, and `kiln inspect` (describe) printing the plan and fallback notes.
#include <gtest/gtest.h>

#include <cstring>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/builder.h"
#include "runtime/engine_access.h"
#include "runtime/format/engine_file.h"

namespace kiln {
namespace {

std::shared_ptr<Graph> two_node_graph() {
  auto g = std::make_shared<Graph>();
  ValueInfo x;
  x.name = "x";
  x.type.kind = ValueKind::kTensor;
  x.type.dtype = DType::kFloat32;
  x.type.shape.rank_known = true;
  x.type.shape.dims = {Dim::known(2), Dim::known(3)};
  g->inputs.push_back(x);
  Node r;
  r.op = OpKind::kRelu;
  r.name = "r";
  r.inputs = {"x"};
  r.outputs = {"h"};
  Node c = r;
  c.op = OpKind::kCos;
  c.name = "c";
  c.inputs = {"h"};
  c.outputs = {"y"};
  g->nodes = {r, c};
  ValueInfo y = x;
  y.name = "y";
  g->outputs.push_back(y);
  g->value_types["h"] = x.type;
  g->value_types["y"] = x.type;
  g->opsets[""] = 17;
  return g;
}

std::shared_ptr<Engine> engine_with_plans() {
  BuildOptions o;
  o.backend = "reference";
  auto e = build_engine_from_graph(two_node_graph(), o, "two");
  EXPECT_TRUE(e.ok()) << e.status().message();
  if (!e.ok()) return nullptr;
  NodePlan a;
  a.backend = "reference";
  a.kernel = "reference";
  a.tactic = 7;
  a.tactic_name = "algo seven";
  a.layout = "NHWC";
  a.precision = DType::kBFloat16;
  a.workspace = 123456789012ull;
  a.shape_tactics = {{{32, 3, 224, 224}, 4, "algo four"}, {{}, 0, ""}};
  NodePlan b;
  b.backend = "reference";
  b.note = "cpu: float64 inputs";
  EngineAccess::set_plans(**e, {a, b});
  return *e;
}

TEST(BackendPlan, EveryFieldSurvivesTheEngineFile) {
  auto e = engine_with_plans();
  ASSERT_NE(e, nullptr);
  auto bytes = e->serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto loaded = Engine::from_bytes(*bytes, "mem.kiln");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->info().format_version, kEngineFormatVersion);
  const auto& p = EngineAccess::plans(**loaded);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].backend, "reference");
  EXPECT_EQ(p[0].kernel, "reference");
  EXPECT_EQ(p[0].tactic, 7);
  EXPECT_EQ(p[0].tactic_name, "algo seven");
  EXPECT_EQ(p[0].layout, "NHWC");
  EXPECT_EQ(p[0].precision, DType::kBFloat16);
  EXPECT_EQ(p[0].workspace, 123456789012ull);
  EXPECT_EQ(p[0].note, "");
  ASSERT_EQ(p[0].shape_tactics.size(), 2u);
  EXPECT_EQ(p[0].shape_tactics[0].dims, (Dims{32, 3, 224, 224}));
  EXPECT_EQ(p[0].shape_tactics[0].tactic, 4);
  EXPECT_EQ(p[0].shape_tactics[0].tactic_name, "algo four");
  EXPECT_TRUE(p[0].shape_tactics[1].dims.empty());
  EXPECT_TRUE(p[1].shape_tactics.empty());
  EXPECT_EQ(p[1].precision, DType::kUndefined);
  EXPECT_EQ(p[1].note, "cpu: float64 inputs");
  // The loaded engine runs.
  NamedValues outs;
  Tensor x = Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {-1.f, 0.f, 1.f, 2.f, -3.f, 3.f});
  ASSERT_TRUE((*loaded)->create_context()->run({{"x", Value::of(x)}}, &outs).ok());
}

TEST(BackendPlan, EngineWithoutPlansGetsOnePerNodeOnItsBackend) {
  EngineInfo info;
  info.backend = "reference";
  info.precision = "fp32";
  Engine e(two_node_graph(), info, {});
  auto bytes = e.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto loaded = Engine::from_bytes(*bytes, "mem.kiln");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const auto& p = EngineAccess::plans(**loaded);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].backend, "reference");
}

TEST(BackendPlan, PlanCountMustMatchNodes) {
  EngineInfo info;
  info.backend = "reference";
  Engine e(two_node_graph(), info, {});
  EngineAccess::set_plans(e, {NodePlan{"reference"}});
  auto bytes = e.serialize();
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("1 node plans for 2 nodes"), std::string::npos) << bytes.status().message();
}

TEST(BackendPlan, OlderFormatVersionIsRefusedWithTheRebuildMessage) {
  auto e = engine_with_plans();
  ASSERT_NE(e, nullptr);
  auto bytes = e->serialize();
  ASSERT_TRUE(bytes.ok());
  for (uint32_t old : {1u, 2u}) {
    std::string b = *bytes;
    std::memcpy(&b[8], &old, 4);  // the version is outside the checksummed range
    auto loaded = Engine::from_bytes(b, "old.kiln");
    ASSERT_FALSE(loaded.ok());
    const std::string& m = loaded.status().message();
    EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition) << m;
    EXPECT_NE(m.find("old.kiln: engine format version " + std::to_string(old) + " is older"), std::string::npos) << m;
    EXPECT_NE(m.find("rebuild the engine"), std::string::npos) << m;
  }
}

TEST(BackendPlan, DescribePrintsPlanAndFallbackNote) {
  auto e = engine_with_plans();
  ASSERT_NE(e, nullptr);
  std::string d = e->describe();
  EXPECT_NE(d.find("backend=reference kernel=reference tactic=7 (algo seven) layout=NHWC precision=bfloat16 "
                   "workspace=123456789012"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("fell back: cpu: float64 inputs"), std::string::npos) << d;
  EXPECT_NE(d.find("Placement: reference=2"), std::string::npos) << d;
}

}  // namespace
}  // namespace kiln
