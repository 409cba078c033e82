// Channel-blocked hand-offs (src/backends/cpu/blocked.h) through the hand-written kernels: Concat, unary and
// binary elementwise (same shape, per-channel plain or blocked, scalar, either operand order) and Resize, with
// channel counts that are and are not multiples of the block, must give the reference backend's answers - also
// when any one node runs on the reference backend (its inputs are then materialized) and across runs that reuse
// the arena and change the batch.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cpu/blocked.h"
#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/engine_access.h"
#include "tests/unit/cpu_graph_test_util.h"

namespace kiln {
namespace {

using test_util::expect_close;
using test_util::random_f32;

Node node(OpKind op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
  return test_util::make_node(op, name, std::move(in), std::move(out));
}

// x[N,8,10,10]:
//   a  = Conv 3x3 -> 16 ch          b  = Conv 1x1 -> 12 ch (not a whole number of blocks)
//   a2 = Conv 1x1 -> 16 ch          g  = GlobalAveragePool(a) -> gs = Conv 1x1 (blocked, spatial 1)
//   m  = Mul(a, gs)    per-channel blocked operand      s1 = Sigmoid(b) (padding lanes must stay zero)
//   sm = Add(m, a2)    same-shape blocked               d  = Div(s1, c12[12,1,1]) per-channel plain, rank 3
//   e  = Sub(k, sm)    scalar first operand             cat  = Concat(e, d)  (16 + 12: blocked)
//   cat2 = Concat(d, e) (12 first: plain fallback)      r  = Resize linear x2 (cat), rn = Resize nearest (cat2)
//   y1 = Conv(r)  y2 = Conv(rn)  y3 = Relu(d) (a graph output read from a blocked input)
std::shared_ptr<Engine> make_engine(const std::string& backend, const std::string& ref_node) {
  auto g = std::make_shared<Graph>();
  g->name = "blocked";
  auto any4 = [](int64_t c) {
    return TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(c), Dim{-1, {}}, Dim{-1, {}}}));
  };
  g->inputs.push_back({"x", any4(8)});
  auto& init = g->initializers;
  init["wa"] = random_f32({16, 8, 3, 3}, 1);
  init["wb"] = random_f32({12, 8, 1, 1}, 2);
  init["wa2"] = random_f32({16, 8, 1, 1}, 3);
  init["wg"] = random_f32({16, 16, 1, 1}, 4);
  init["c12"] = random_f32({12, 1, 1}, 5, 0.5f, 2.f);
  init["k"] = random_f32({1}, 6);
  init["w1"] = random_f32({8, 28, 3, 3}, 7);
  init["w2"] = random_f32({8, 28, 1, 1}, 8);
  Tensor scales(DType::kFloat32, {4});
  for (int i = 0; i < 4; ++i) scales.data<float>()[i] = i < 2 ? 1.f : 2.f;
  init["scales"] = scales;
  Tensor sizes(DType::kInt64, {2});
  sizes.data<int64_t>()[0] = 15;
  sizes.data<int64_t>()[1] = 13;
  init["sizes"] = sizes;
  std::vector<Node> ns;
  ns.push_back(node(OpKind::kConv, "a", {"x", "wa"}, {"ya"}));
  ns.back().attrs.set("pads", Dims{1, 1, 1, 1});
  ns.push_back(node(OpKind::kConv, "b", {"x", "wb"}, {"yb"}));
  ns.push_back(node(OpKind::kConv, "a2", {"x", "wa2"}, {"ya2"}));
  ns.push_back(node(OpKind::kGlobalAveragePool, "g", {"ya"}, {"yg"}));
  ns.push_back(node(OpKind::kConv, "gs", {"yg", "wg"}, {"ygs"}));
  ns.push_back(node(OpKind::kMul, "m", {"ya", "ygs"}, {"ym"}));
  ns.push_back(node(OpKind::kSigmoid, "s1", {"yb"}, {"ys1"}));
  ns.push_back(node(OpKind::kAdd, "sm", {"ym", "ya2"}, {"ysm"}));
  ns.push_back(node(OpKind::kDiv, "d", {"ys1", "c12"}, {"yd"}));
  ns.push_back(node(OpKind::kSub, "e", {"k", "ysm"}, {"ye"}));
  ns.push_back(node(OpKind::kConcat, "cat", {"ye", "yd"}, {"ycat"}));
  ns.back().attrs.set("axis", int64_t{1});
  ns.push_back(node(OpKind::kConcat, "cat2", {"yd", "ye"}, {"ycat2"}));
  ns.back().attrs.set("axis", int64_t{1});
  ns.push_back(node(OpKind::kResize, "r", {"ycat", "", "scales"}, {"yr"}));
  ns.back().attrs.set("mode", std::string("linear"));
  ns.push_back(node(OpKind::kResize, "rn", {"ycat2", "", "", "sizes"}, {"yrn"}));
  ns.back().attrs.set("axes", Dims{2, 3});
  ns.push_back(node(OpKind::kConv, "c1", {"yr", "w1"}, {"y1"}));
  ns.back().attrs.set("pads", Dims{1, 1, 1, 1});
  ns.push_back(node(OpKind::kConv, "c2", {"yrn", "w2"}, {"y2"}));
  ns.push_back(node(OpKind::kRelu, "y3n", {"yd"}, {"y3"}));
  g->nodes = ns;
  for (const auto& [name, t] : init) g->value_types[name] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  g->value_types["x"] = g->inputs[0].type;
  const std::pair<const char*, int64_t> channels[] = {
      {"ya", 16}, {"yb", 12}, {"ya2", 16}, {"yg", 16}, {"ygs", 16}, {"ym", 16}, {"ys1", 12}, {"ysm", 16}, {"yd", 12},
      {"ye", 16}, {"ycat", 28}, {"ycat2", 28}, {"yr", 28}, {"yrn", 28}, {"y1", 8}, {"y2", 8}, {"y3", 12}};
  for (const auto& [v, c] : channels) g->value_types[v] = any4(c);
  for (const char* o : {"y1", "y2", "y3"}) g->outputs.push_back({o, g->value_types[o]});
  EngineInfo info;
  info.backend = backend;
  info.precision = "fp32";
  auto e = std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  std::vector<NodePlan> plans(g->nodes.size());
  for (size_t i = 0; i < g->nodes.size(); ++i) plans[i].backend = g->nodes[i].name == ref_node ? "reference" : "";
  EngineAccess::set_plans(*e, plans);
  return e;
}


class CpuBlockedHandoff : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuBlockedHandoff, MatchesReference) {
  register_builtin_backends();
  auto cpu = make_engine("cpu", GetParam());
  auto ref = make_engine("reference", "");
  auto cctx = cpu->create_context();
  auto rctx = ref->create_context();
  for (int run = 0; run < 4; ++run) {
    const int64_t n = run < 3 ? 1 : 3;
    NamedValues in{{"x", Value::of(random_f32({n, 8, 10, 10}, 100 + run))}}, co, ro;
    ASSERT_TRUE(cctx->run(in, &co).ok()) << "run " << run;
    ASSERT_TRUE(rctx->run(in, &ro).ok()) << "run " << run;
    ASSERT_EQ(co.size(), 3u);
    for (size_t k = 0; k < co.size(); ++k)
      expect_close(co[k].second.tensor, ro[k].second.tensor,
                   "reference node '" + GetParam() + "' run " + std::to_string(run) + " output " + co[k].first);
  }
}

INSTANTIATE_TEST_SUITE_P(CpuBlocked, CpuBlockedHandoff,
                         ::testing::Values("", "a", "b", "g", "gs", "m", "s1", "sm", "d", "e", "cat", "cat2", "r", "rn", "c1"));

// The conversion helpers on their own: unblock() and zero_channel_pad() against index arithmetic.
TEST(CpuBlocked, UnblockAndPadding) {
  for (int64_t block : {8, 16}) {
    const Dims dims{2, 13, 3, 5};
    cpu::BlockedView v{nullptr, dims, block};
    std::vector<float> blk(static_cast<size_t>(v.padded_numel()), 7.f);
    v.data = blk.data();
    cpu::zero_channel_pad(v, 1);
    const int64_t cb = v.channel_blocks(), s = v.spatial();
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < cb * block; ++c)
        for (int64_t i = 0; i < s; ++i) {
          float& x = blk[static_cast<size_t>(((n * cb + c / block) * s + i) * block + c % block)];
          EXPECT_EQ(x, c < 13 ? 7.f : 0.f);
          if (c < 13) x = static_cast<float>(n * 1000 + c * 10 + i);
        }
    std::vector<float> plain(static_cast<size_t>(dims_numel(dims)), -1.f);
    cpu::unblock(v, plain.data(), 2);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 13; ++c)
        for (int64_t i = 0; i < s; ++i) EXPECT_EQ(plain[static_cast<size_t>((n * 13 + c) * s + i)], n * 1000 + c * 10 + i);
  }
}

}  // namespace
}  // namespace kiln
