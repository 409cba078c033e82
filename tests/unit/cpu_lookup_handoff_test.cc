// LookupTable, QLinearAdd, QLinearMul, QLinearGlobalAveragePool and Concat between int8 convolutions on the CPU backend
// (src/backends/cpu/onednn/lookup.cc, qbinary.cc, qavgpool.cc, kernels/data.cc): they run in the convolutions' hand-off layout
// (NHWC) and hand it on when every reader takes hand-offs, else on plain tensors. Every placement (each node moved
// to the reference backend, which forces plain tensors around it) must give bit-identical outputs to the same
// placement with these nodes on plain tensors (on the reference backend), across runs that reuse the arena and
// change the batch. (Against the reference backend only a loose count: oneDNN's float32 requantization rounds some
// values one code apart, and random tables spread such codes anywhere.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kiln/engine.h"
#include "runtime/backend.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/tactic_tuning.h"
#include "runtime/engine_access.h"
#include "tests/unit/cpu_graph_test_util.h"

namespace kiln {
namespace {

using test_util::random_f32;

Node node(OpKind op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
  return test_util::make_node(op, name, std::move(in), std::move(out));
}

Tensor s8_weights(const Dims& dims, uint32_t seed) {
  Tensor t(DType::kInt8, dims);
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(-60, 60);  // exact on CPUs without VNNI too (docs/int8.md)
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(d(g));
  return t;
}

Tensor table(uint32_t seed) {
  Tensor t(DType::kUInt8, {256});
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(0, 255);
  for (int i = 0; i < 256; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(d(g));
  return t;
}

// x[N,8,10,10] -> Q -> xq
//   a  = QLinearConv 3x3 8->16 (xq)        t1 = LookupTable(a)     (read by b only: handed on)
//   b  = QLinearConv 3x3 depthwise (t1)    t2 = LookupTable(b)     (read by c and a DequantizeLinear: plain)
//   c  = QLinearConv 1x1 16->8 (t2)        t3 = LookupTable(b)     (a second table of b, read by d)
//   d  = QLinearConv 1x1 16->8 (t3)        e  = QLinearAdd(c, d)   (two NHWC hand-offs)
//   m  = QLinearMul(e, ch8[1,8,1,1])       f  = QLinearConv 1x1 8->8 (m)
//   mm = QLinearMul(t2, ch16[1,16,1,1])    (plain)                 gp = QLinearGlobalAveragePool(t1) (NHWC)
//   cat = Concat(c, d) on channels (two NHWC hand-offs)            h  = QLinearConv 1x1 16->8 (cat)
//   outputs: DQ(f), DQ(t2), DQ(mm), DQ(gp), DQ(h)
// `plain_tables`: every LookupTable/QLinearAdd/QLinearMul/QLinearGlobalAveragePool/Concat on the reference backend;
// `ref_node`: that node there.
std::shared_ptr<Engine> make_engine(const std::string& backend, const std::string& ref_node, bool plain_tables) {
  auto g = std::make_shared<Graph>();
  g->name = "lookup_handoff";
  auto any4 = [](int64_t c, DType t) {
    return TypeInfo::tensor(t, Shape::of_dims({Dim{-1, "N"}, Dim::known(c), Dim::known(10), Dim::known(10)}));
  };
  g->inputs.push_back({"x", any4(8, DType::kFloat32)});
  auto& init = g->initializers;
  init["s"] = Tensor::scalar<float>(DType::kFloat32, 0.02f);
  init["z"] = Tensor::scalar<uint8_t>(DType::kUInt8, 120);
  init["ws"] = Tensor::scalar<float>(DType::kFloat32, 0.003f);
  init["wz"] = Tensor::scalar<int8_t>(DType::kInt8, 0);
  init["wa"] = s8_weights({16, 8, 3, 3}, 1);
  init["wb"] = s8_weights({16, 1, 3, 3}, 2);
  init["wc"] = s8_weights({8, 16, 1, 1}, 3);
  init["wd"] = s8_weights({8, 16, 1, 1}, 4);
  init["t1"] = table(5);
  init["t2"] = table(6);
  init["t3"] = table(7);
  init["we"] = s8_weights({8, 8, 1, 1}, 8);
  init["wh"] = s8_weights({8, 16, 1, 1}, 9);
  init["ch8"] = Tensor(DType::kUInt8, {1, 8, 1, 1});
  init["ch16"] = Tensor(DType::kUInt8, {1, 16, 1, 1});
  for (int c = 0; c < 16; ++c) {
    if (c < 8) init["ch8"].data<uint8_t>()[c] = static_cast<uint8_t>(100 + 17 * c);
    init["ch16"].data<uint8_t>()[c] = static_cast<uint8_t>(250 - 9 * c);
  }
  std::vector<Node> ns;
  ns.push_back(node(OpKind::kQuantizeLinear, "q", {"x", "s", "z"}, {"xq"}));
  auto qconv = [&](const std::string& name, const std::string& in, const std::string& w, int64_t pad, int64_t group) {
    ns.push_back(node(OpKind::kQLinearConv, name, {in, "s", "z", w, "ws", "wz", "s", "z"}, {name + "_y"}));
    ns.back().attrs.set("pads", Dims{pad, pad, pad, pad});
    ns.back().attrs.set("group", group);
  };
  auto lookup = [&](const std::string& name, const std::string& in) {
    ns.push_back(node(OpKind::kLookupTable, name, {in, name}, {name + "_y"}));
  };
  qconv("a", "xq", "wa", 1, 1);
  lookup("t1", "a_y");
  qconv("b", "t1_y", "wb", 1, 16);
  lookup("t2", "b_y");
  lookup("t3", "b_y");
  qconv("c", "t2_y", "wc", 0, 1);
  qconv("d", "t3_y", "wd", 0, 1);
  auto qbinary = [&](OpKind op, const std::string& name, const std::string& l, const std::string& r) {
    ns.push_back(node(op, name, {l, "s", "z", r, "s", "z", "s", "z"}, {name + "_y"}));
  };
  qbinary(OpKind::kQLinearAdd, "e", "c_y", "d_y");
  qbinary(OpKind::kQLinearMul, "m", "e_y", "ch8");
  qconv("f", "m_y", "we", 0, 1);
  qbinary(OpKind::kQLinearMul, "mm", "t2_y", "ch16");
  ns.push_back(node(OpKind::kQLinearGlobalAveragePool, "gp", {"t1_y", "s", "z", "s", "z"}, {"gp_y"}));
  ns.push_back(node(OpKind::kConcat, "cat", {"c_y", "d_y"}, {"cat_y"}));
  ns.back().attrs.set("axis", int64_t{1});
  qconv("h", "cat_y", "wh", 0, 1);
  for (const char* v : {"f_y", "t2_y", "mm_y", "gp_y", "h_y"})
    ns.push_back(node(OpKind::kDequantizeLinear, std::string("dq_") + v, {v, "s", "z"}, {std::string("out_") + v}));
  g->nodes = ns;
  for (const auto& [name, t] : init) g->value_types[name] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  g->value_types["x"] = g->inputs[0].type;
  g->value_types["xq"] = any4(8, DType::kUInt8);
  for (const char* v : {"a_y", "t1_y", "b_y", "t2_y", "t3_y", "mm_y", "cat_y"}) g->value_types[v] = any4(16, DType::kUInt8);
  for (const char* v : {"c_y", "d_y", "e_y", "m_y", "f_y", "h_y"}) g->value_types[v] = any4(8, DType::kUInt8);
  for (const char* v : {"out_f_y", "out_h_y"}) g->value_types[v] = any4(8, DType::kFloat32);
  for (const char* v : {"out_t2_y", "out_mm_y"}) g->value_types[v] = any4(16, DType::kFloat32);
  auto pooled = [](DType t) {
    return TypeInfo::tensor(t, Shape::of_dims({Dim{-1, "N"}, Dim::known(16), Dim::known(1), Dim::known(1)}));
  };
  g->value_types["gp_y"] = pooled(DType::kUInt8);
  g->value_types["out_gp_y"] = pooled(DType::kFloat32);
  for (const char* o : {"out_f_y", "out_t2_y", "out_mm_y", "out_gp_y", "out_h_y"}) g->outputs.push_back({o, g->value_types[o]});
  EngineInfo info;
  info.backend = backend;
  info.precision = "int8";
  auto e = std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  std::vector<NodePlan> plans(g->nodes.size());
  for (size_t i = 0; i < g->nodes.size(); ++i) {
    const OpKind op = g->nodes[i].op;
    const bool table_node = op == OpKind::kLookupTable || op == OpKind::kQLinearAdd || op == OpKind::kQLinearMul ||
                            op == OpKind::kQLinearGlobalAveragePool || op == OpKind::kConcat;
    plans[i].backend = g->nodes[i].name == ref_node || (plain_tables && table_node) ? "reference" : "";
  }
  EngineAccess::set_plans(*e, plans);
  return e;
}

class CpuLookupHandoff : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuLookupHandoff, SameBitsAsPlainTables) {
  register_builtin_backends();
  auto cpu = make_engine("cpu", GetParam(), false);
  auto plain = make_engine("cpu", GetParam(), true);
  auto ref = make_engine("reference", "", false);
  auto cctx = cpu->create_context();
  auto pctx = plain->create_context();
  auto rctx = ref->create_context();
  for (int run = 0; run < 4; ++run) {
    const int64_t n = run < 3 ? 1 : 3;
    NamedValues in{{"x", Value::of(random_f32({n, 8, 10, 10}, 100 + run, -2.f, 2.f))}}, co, po, ro;
    ASSERT_TRUE(cctx->run(in, &co).ok()) << "run " << run;
    ASSERT_TRUE(pctx->run(in, &po).ok()) << "run " << run;
    ASSERT_TRUE(rctx->run(in, &ro).ok()) << "run " << run;
    ASSERT_EQ(co.size(), 5u);
    for (size_t k = 0; k < co.size(); ++k) {
      const Tensor& c = co[k].second.tensor;
      const Tensor& p = po[k].second.tensor;
      const Tensor& r = ro[k].second.tensor;
      ASSERT_EQ(c.dims(), p.dims());
      ASSERT_EQ(c.dims(), r.dims());
      int64_t off = 0;
      for (int64_t i = 0; i < c.numel(); ++i) {
        ASSERT_EQ(c.data<float>()[i], p.data<float>()[i])
            << "reference node '" << GetParam() << "' run " << run << " output " << co[k].first << " @" << i;
        off += c.data<float>()[i] != r.data<float>()[i];
      }
      // oneDNN's float32 requantization may round a value near .5 the other way than the reference's float64
      // one, and a table maps codes one apart anywhere: count, don't bound, those differences.
      EXPECT_LE(off, c.numel() / 4) << "output " << co[k].first << " vs the reference backend";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CpuLookup, CpuLookupHandoff, ::testing::Values("", "a", "t1", "b", "t2", "t3", "c", "e", "m", "f", "mm", "gp", "cat", "h"));

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// The build's tactic tuning (backends/cpu/tactic_tuning.h) records an implementation for every int8 convolution of
// the graph above, and engines running those tactics give the same bits as oneDNN's first choices (integer
// products; the same float32 requantization), at the shape tuned at and at another one (tuned again in the context);
// a plan naming an implementation this CPU does not list at that position runs oneDNN's first choice.
TEST(CpuTactics, TunedInt8ConvolutionsKeepTheBits) {
  register_builtin_backends();
  auto base = make_engine("cpu", "", false);
  auto graph = std::make_shared<Graph>(base->graph());
  const Graph& g = *graph;
  std::vector<NodePlan> plans(g.nodes.size());
  size_t qconvs = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    std::string why;
    const cpu::CpuKernel* k = cpu::cpu_kernels().select(g, g.nodes[i], &why);
    ASSERT_NE(k, nullptr) << g.nodes[i].describe() << ": " << why;
    plans[i].backend = "cpu";
    plans[i].kernel = k->id;
    qconvs += k->id == "onednn_qconv";
  }
  ASSERT_EQ(qconvs, 6u);
  BuildOptions options;
  std::vector<OptimizationProfile> profiles;
  EngineInfo info = base->info();
  PlanRequest request{&options, &profiles, graph, &info};
  std::vector<NodePlan> tuned = plans;
  ASSERT_EQ(setenv("KILN_CPU_TACTICS", "build", 1), 0);  // opt-in: record tactics in the plans
  ASSERT_TRUE(cpu::tune_cpu_tactics(tuned, request).ok());
  unsetenv("KILN_CPU_TACTICS");
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (plans[i].kernel == "onednn_qconv")  // "<implementation> @ <the shape it was timed at>"
      EXPECT_NE(tuned[i].tactic_name.find(" @ 1x"), std::string::npos) << g.nodes[i].describe() << ": " << tuned[i].tactic_name;
  std::vector<NodePlan> bogus = plans;
  for (NodePlan& p : bogus)
    if (p.kernel == "onednn_qconv") p.tactic = 1, p.tactic_name = "no_such_implementation";
  auto run_with = [&](const std::vector<NodePlan>& p, int threads) {
    auto e = std::make_shared<Engine>(graph, info, profiles);
    EngineAccess::set_plans(*e, p);
    auto ctx = e->create_context();
    ctx->set_num_threads(threads);
    // Batch 1: the shape the build tuned at (its tactic); batch 2: tuned again in the context.
    NamedValues all;
    for (int64_t n : {1, 2}) {
      NamedValues in{{"x", Value::of(random_f32({n, 8, 10, 10}, 7, -2.f, 2.f))}}, out;
      EXPECT_TRUE(ctx->run(in, &out).ok());
      EXPECT_TRUE(ctx->run(in, &out).ok());
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  };
  for (int threads : {1, 2}) {
    const NamedValues first = run_with(plans, threads), mine = run_with(tuned, threads), fallback = run_with(bogus, threads);
    ASSERT_EQ(first.size(), 10u);
    for (size_t k = 0; k < first.size(); ++k) {
      const Tensor& a = first[k].second.tensor;
      ASSERT_EQ(a.dims(), mine[k].second.tensor.dims());
      EXPECT_EQ(std::memcmp(a.raw(), mine[k].second.tensor.raw(), a.nbytes()), 0) << first[k].first;
      EXPECT_EQ(std::memcmp(a.raw(), fallback[k].second.tensor.raw(), a.nbytes()), 0) << first[k].first;
    }
  }
}

}  // namespace
}  // namespace kiln
