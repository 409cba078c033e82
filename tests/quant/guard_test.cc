// The INT8 accuracy guard's parts (src/quant/guard): budget parsing and binding, the agreement metrics, the
// held-back split, and the guard's result in the engine file (format v4) and in describe().
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "quant/guard/budget.h"
#include "quant/guard/metrics.h"
#include "quant/guard/split.h"
#include "runtime/builder.h"
#include "runtime/engine_access.h"
#include "runtime/format/engine_file.h"

namespace kiln::guard {
namespace {

namespace fs = std::filesystem;

TEST(GuardBudget, ParsesTermsWithAndWithoutOutputs) {
  auto t = parse_budget("cosine:0.999,head:scores=top1:0.5,,rel_l2:1e-2");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].output, "");
  EXPECT_EQ((*t)[0].metric, Metric::kCosine);
  EXPECT_DOUBLE_EQ((*t)[0].value, 0.999);
  EXPECT_EQ((*t)[1].output, "head:scores");  // ':' inside the output name: the value follows the last one
  EXPECT_EQ((*t)[1].metric, Metric::kTop1);
  EXPECT_DOUBLE_EQ((*t)[2].value, 0.01);
  EXPECT_TRUE(parse_budget("a=cosine:0.9,b=cosine:0.9,cosine:0.8").ok());  // the same metric on other outputs
}

TEST(GuardBudget, ErrorsNameTheTerm) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty budget"},
      {"cosine:0.9,top:1", "bad term 'top:1': unknown metric 'top'"},
      {"cosine:nan", "'nan' is not a number"},
      {"cosine:0.9x", "'0.9x' is not a number"},
      {"top1:1.01", "top1 is a fraction in [0, 1]"},
      {"o=rel_l2:1,o=rel_l2:2", "rel_l2 is given twice for output 'o'"},
  };
  for (const auto& [text, message] : cases) {
    auto t = parse_budget(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().message().rfind("--accuracy-budget: ", 0), 0u) << t.status().message();
    EXPECT_NE(t.status().message().find(message), std::string::npos) << t.status().message();
  }
}

TEST(GuardBudget, BindingExpandsAndOverridesPerOutput) {
  auto terms = parse_budget("cosine:0.99,b=cosine:0.9,rel_l2:0.1");
  ASSERT_TRUE(terms.ok());
  auto c = bind_budget(*terms, {"a", "b"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->size(), 4u);
  EXPECT_EQ((*c)[0].label(), "cosine(a)");
  EXPECT_DOUBLE_EQ((*c)[0].value, 0.99);
  EXPECT_EQ((*c)[2].label(), "cosine(b)");
  EXPECT_DOUBLE_EQ((*c)[2].value, 0.9);  // the named term wins over the every-output one
  EXPECT_EQ((*c)[3].label(), "rel_l2(b)");
  auto missing = bind_budget(*parse_budget("z=top1:0.5"), {"a", "b"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no output 'z' (its outputs: a, b)"), std::string::npos);
}

TEST(GuardBudget, JudgingAndFractions) {
  Constraint cos{"y", Metric::kCosine, 0.99};
  EXPECT_TRUE(meets(cos, 0.99));
  EXPECT_FALSE(meets(cos, 0.98999));
  EXPECT_FALSE(meets(cos, std::nan("")));
  EXPECT_NEAR(budget_fraction(cos, 0.98), 2.0, 1e-9);
  Constraint rel{"y", Metric::kRelL2, 0.1};
  EXPECT_TRUE(meets(rel, 0.1));
  EXPECT_FALSE(meets(rel, 0.11));
  EXPECT_NEAR(budget_fraction(rel, 0.05), 0.5, 1e-12);
  EXPECT_EQ(budget_fraction(rel, std::nan("")), std::numeric_limits<double>::infinity());
  EXPECT_EQ(format_metric(Metric::kCosine, 0.999965), "0.999965");
  EXPECT_EQ(format_metric(Metric::kCosine, 0.99999984), "0.99999984");
  EXPECT_EQ(format_metric(Metric::kTop1, 0.5), "0.5000");
}

NamedValues one(const std::string& name, Dims dims, std::vector<float> v) {
  return {{name, Value::of(Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v))}};
}

TEST(GuardMetrics, CosineRelL2AndTop1AgainstHandComputedValues) {
  // Two samples of a [2,3] output: rows compared by argmax, the whole output flattened for cosine / rel_l2.
  SampleOutputs fp32 = {one("y", {2, 3}, {1, 2, 3, 3, 2, 1}), one("y", {2, 3}, {0, 1, 0, 1, 0, 0})};
  SampleOutputs int8 = {one("y", {2, 3}, {1, 2, 3, 3, 2, 1}), one("y", {2, 3}, {0, 1, 0, 0, 0, 1})};
  auto m = measure_agreement(fp32, int8);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const OutputMetrics& y = m->at("y");
  EXPECT_NEAR(y.cosine, 0.5, 1e-12);           // sample 2: (0,1,0,1,0,0).(0,1,0,0,0,1) = 1, norms sqrt(2)
  EXPECT_NEAR(y.rel_l2, 1.0, 1e-12);           // sample 2: sqrt(2) / sqrt(2)
  EXPECT_TRUE(y.has_top1);
  EXPECT_EQ(y.rows, 4);
  EXPECT_NEAR(y.top1, 0.75, 1e-12);            // the last row's argmax moved from 0 to 2
  EXPECT_NEAR(y.get(Metric::kTop1), 0.75, 1e-12);
}

NamedValues with_scalar(Dims dims, std::vector<float> y) {
  NamedValues v = one("y", std::move(dims), std::move(y));
  v.push_back(one("s", {}, {2})[0]);
  return v;
}

TEST(GuardMetrics, ZerosNaNsAndShapesWithoutClasses) {
  SampleOutputs fp32 = {with_scalar({3}, {0, 0, 0})};
  auto m = measure_agreement(fp32, {with_scalar({3}, {0, 0, 0})});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->at("y").cosine, 1.0);  // both all zeros: identical
  EXPECT_EQ(m->at("y").rel_l2, 0.0);
  EXPECT_FALSE(m->at("s").has_top1);  // rank 0: no class axis
  EXPECT_TRUE(std::isnan(m->at("s").get(Metric::kTop1)));
  m = measure_agreement(fp32, {with_scalar({3}, {0, std::nanf(""), 1})});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->at("y").cosine, -1.0);  // a NaN is the worst agreement, never a pass
  EXPECT_EQ(m->at("y").rel_l2, std::numeric_limits<double>::infinity());
  EXPECT_EQ(m->at("y").top1, 0.0);     // the NaN row disagrees
  auto reshaped = measure_agreement(fp32, {with_scalar({1, 3}, {0, 0, 0})});
  ASSERT_FALSE(reshaped.ok());
  EXPECT_NE(reshaped.status().message().find("output 'y' of held-back sample 0 is 3 in FP32 and 1x3 in INT8"),
            std::string::npos)
      << reshaped.status().message();
  // top1 on a rank-0 output cannot be measured: the message names the output.
  Status st = check_measurable({Constraint{"s", Metric::kTop1, 0.9}}, fp32);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("top1 on output 's' of shape scalar: top1 needs a class axis"), std::string::npos)
      << st.message();
  EXPECT_TRUE(check_measurable({Constraint{"s", Metric::kCosine, 0.9}}, fp32).ok());
}

class GuardSplit : public ::testing::Test {
 protected:
  void make(int n) {
    dir_ = fs::temp_directory_path() / ("kiln_guard_split_" + std::to_string(::getpid()) + "_" + std::to_string(n));
    fs::remove_all(dir_);
    for (int i = 0; i < n; ++i) fs::create_directories(dir_ / (i < 10 ? "s0" + std::to_string(i) : "s" + std::to_string(i)));
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> held(int batches, int count) {
    auto s = split_samples(dir_.string(), batches, count);
    EXPECT_TRUE(s.ok()) << s.status().message();
    std::vector<std::string> names;
    if (s.ok())
      for (const auto& p : s->held_back) names.push_back(fs::path(p).filename().string());
    return names;
  }
  fs::path dir_;
};

TEST_F(GuardSplit, HeldBackSamplesAreSpreadAndNeverCalibrate) {
  make(24);
  EXPECT_EQ(held(0, 0), (std::vector<std::string>{"s05", "s11", "s17", "s23"}));  // 24 / 5 = 4, one per run of 6
  EXPECT_EQ(held(10, 0), (std::vector<std::string>{"s04", "s09"}));               // --calib-batches 10
  EXPECT_EQ(held(0, 1), (std::vector<std::string>{"s23"}));
  EXPECT_EQ(held(4, 0), (std::vector<std::string>{"s03"}));                       // at least one
  auto s = split_samples(dir_.string(), 0, 3);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->calibration.size() + s->held_back.size(), 24u);
  for (const auto& h : s->held_back)
    EXPECT_EQ(std::count(s->calibration.begin(), s->calibration.end(), h), 0);
  auto all = split_samples(dir_.string(), 5, 5);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.status().message().find("--accuracy-samples 5 leaves no sample to calibrate on"), std::string::npos);
}

TEST_F(GuardSplit, OneSampleIsTooFew) {
  make(1);
  auto s = split_samples(dir_.string(), 0, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("has 1 sample: the accuracy guard needs at least 2"), std::string::npos);
}

std::shared_ptr<Engine> relu_engine() {
  auto g = std::make_shared<Graph>();
  ValueInfo x;
  x.name = "x";
  x.type.kind = ValueKind::kTensor;
  x.type.dtype = DType::kFloat32;
  x.type.shape.rank_known = true;
  x.type.shape.dims = {Dim::known(2)};
  g->inputs.push_back(x);
  Node r;
  r.op = OpKind::kRelu;
  r.name = "r";
  r.inputs = {"x"};
  r.outputs = {"y"};
  g->nodes = {r};
  ValueInfo y = x;
  y.name = "y";
  g->outputs.push_back(y);
  g->value_types["y"] = x.type;
  g->opsets[""] = 17;
  BuildOptions o;
  o.backend = "reference";
  auto e = build_engine_from_graph(g, o, "relu");
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? *e : nullptr;
}

TEST(GuardEngineFile, ResultSurvivesTheFileAndDescribeShowsIt) {
  auto e = relu_engine();
  ASSERT_NE(e, nullptr);
  EngineInfo& info = EngineAccess::mutable_info(*e);
  info.accuracy_guard = "cosine(y) 0.999 >= 0.99 on 2 held-back samples, 1/2 layers int8";
  info.layer_precision = {{"conv_a", "int8"}, {"conv_b", "fp32"}};
  auto bytes = e->serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Engine::from_bytes(*bytes, "guard.kiln");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->info().format_version, kEngineFormatVersion);
  EXPECT_EQ((*loaded)->info().accuracy_guard, info.accuracy_guard);
  EXPECT_EQ((*loaded)->info().layer_precision, info.layer_precision);
  const std::string d = (*loaded)->describe();
  EXPECT_NE(d.find("Accuracy guard: cosine(y) 0.999 >= 0.99 on 2 held-back samples, 1/2 layers int8\n"
                   "  fp32 layers (1): conv_b\n  int8 layers (1): conv_a\n"),
            std::string::npos)
      << d;
  // Without a guard: nothing recorded, nothing printed.
  auto plain = relu_engine();
  auto plain_loaded = Engine::from_bytes(*plain->serialize(), "plain.kiln");
  ASSERT_TRUE(plain_loaded.ok());
  EXPECT_TRUE((*plain_loaded)->info().layer_precision.empty());
  EXPECT_EQ((*plain_loaded)->describe().find("Accuracy guard"), std::string::npos);
}

TEST(GuardEngineFile, OlderVersionsLoadAndANewerOneIsRefused) {
  auto e = relu_engine();
  ASSERT_NE(e, nullptr);
  EngineAccess::mutable_info(*e).accuracy_guard = "x";
  std::vector<NodePlan> plans = EngineAccess::plans(*e);
  ASSERT_FALSE(plans.empty());
  plans[0].shape_tactics = {{{4, 3}, 2, "two"}};
  for (uint32_t version : {3u, 4u, 5u}) {  // 3: no guard section; 4: no shape tactics
    SCOPED_TRACE("version " + std::to_string(version));
    auto bytes = encode_engine(e->graph(), e->info(), e->profiles(), plans, version);
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    auto old = Engine::from_bytes(*bytes, "old.kiln");
    ASSERT_TRUE(old.ok()) << old.status().message();
    EXPECT_EQ((*old)->info().format_version, version);
    EXPECT_EQ((*old)->info().accuracy_guard, version >= 4 ? "x" : "");
    EXPECT_EQ(EngineAccess::plans(**old)[0].shape_tactics.size(), version >= 5 ? 1u : 0u);
    NamedValues outs;
    Tensor x = Tensor::from_vector<float>(DType::kFloat32, {2}, {-1.f, 2.f});
    EXPECT_TRUE((*old)->create_context()->run({{"x", Value::of(x)}}, &outs).ok());
  }
  std::string b = *e->serialize();
  const uint32_t v = kEngineFormatVersion + 1;
  std::memcpy(&b[8], &v, 4);
  auto newer = Engine::from_bytes(b, "newer.kiln");
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("newer than this Kiln supports (" + std::to_string(kEngineFormatVersion) +
                                          "); rebuild"),
            std::string::npos)
      << newer.status().message();
}

}  // namespace
}  // namespace kiln::guard
