// bfloat16 hand-offs on the CPU backend (--precision bf16 on a CPU with native bf16): a convolution whose every
// reader rounds its output to bf16 anyway writes it in bf16 (conv.cc, CpuContext::readers_round_to_bf16), and a
// pooling node reads a convolution's channels-last hand-off in place (pool.cc). Neither may change an answer: the
// engine must give bit-identical outputs with the bf16 hand-off on and off (KILN_CPU_BF16_HANDOFF=0), stay within
// the bf16 budget of the reference, and differ from the float32 engine (bf16 really ran). Skipped without native bf16.
#include <gtest/gtest.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/engine_access.h"
#include "tests/unit/cpu_graph_test_util.h"

namespace kiln {
namespace {

using test_util::random_f32;

// A float32 [N, c, H, W] type with N, H and W unknown.
TypeInfo nchw_any(int64_t c) {
  return TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(c), Dim{-1, {}}, Dim{-1, {}}}));
}

Node test_node(OpKind op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
  return test_util::make_node(op, name, std::move(in), std::move(out));
}

// Types the initializers and input x, and makes the engine over g for `backend` at `precision` (plans: default
// ones when empty).
std::shared_ptr<Engine> finish_engine(const std::shared_ptr<Graph>& g, const std::string& backend,
                                      const std::string& precision, std::vector<NodePlan> plans = {}) {
  for (const auto& [name, t] : g->initializers) g->value_types[name] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  g->value_types["x"] = g->inputs[0].type;
  EngineInfo info;
  info.backend = backend;
  info.precision = precision;
  auto e = std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  if (plans.empty()) plans.resize(g->nodes.size());
  EngineAccess::set_plans(*e, plans);
  return e;
}

// The bf16 budget against the float32 reference: bf16 operands, float32 accumulation (docs/precision.md).
void expect_within_bf16_budget(const Tensor& got, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(got.dims(), ref.dims()) << what;
  double max_ref = 0, max_err = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(double(ref.data<float>()[i])));
    max_err = std::max(max_err, std::fabs(double(got.data<float>()[i]) - ref.data<float>()[i]));
  }
  EXPECT_LE(max_err, 2e-2 * max_ref + 1e-3) << what;
}

// x[N,8,12,12]:
//   a = Conv 3x3 -> 32 ch, read only by convolutions (b, e)          -> may hand off in bf16
//   b = Conv 1x1 -> 32 ch (+Relu), read by c only                     -> bf16
//   c = Conv 3x3 -> 32 ch, read by the MaxPool and by d               -> float32 (the pool does not round)
//   p = MaxPool 2x2 (c) -> pooled on c's hand-off layout
//   d = Conv 1x1 (c) -> 16 ch, a graph output                         -> float32
//   e = Conv 1x1 (a) -> 16 ch, then Add(e, GlobalAveragePool(p) conv) -> float32
std::shared_ptr<Engine> make_engine(const std::string& backend, const std::string& precision,
                                    DType plan_precision = DType::kUndefined) {
  auto g = std::make_shared<Graph>();
  g->name = "bf16_handoff";
  auto any4 = [](int64_t c) {
    return TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(c), Dim{-1, {}}, Dim{-1, {}}}));
  };
  g->inputs.push_back({"x", any4(8)});
  auto& init = g->initializers;
  init["wa"] = random_f32({32, 8, 3, 3}, 1, -0.3f, 0.3f);
  init["wb"] = random_f32({32, 32, 1, 1}, 2, -0.3f, 0.3f);
  init["bb"] = random_f32({32}, 3);
  init["wc"] = random_f32({32, 32, 3, 3}, 4, -0.1f, 0.1f);
  init["wd"] = random_f32({16, 32, 1, 1}, 5, -0.3f, 0.3f);
  init["we"] = random_f32({16, 32, 1, 1}, 6, -0.3f, 0.3f);
  init["wg"] = random_f32({16, 32, 1, 1}, 7, -0.3f, 0.3f);
  auto node = [](OpKind op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
    return test_util::make_node(op, name, std::move(in), std::move(out));
  };
  std::vector<Node> ns;
  ns.push_back(node(OpKind::kConv, "a", {"x", "wa"}, {"ya"}));
  ns.back().attrs.set("pads", Dims{1, 1, 1, 1});
  ns.push_back(node(OpKind::kConv, "b", {"ya", "wb", "bb"}, {"yb0"}));
  ns.push_back(node(OpKind::kRelu, "br", {"yb0"}, {"yb"}));
  ns.push_back(node(OpKind::kConv, "c", {"yb", "wc"}, {"yc"}));
  ns.back().attrs.set("pads", Dims{1, 1, 1, 1});
  ns.push_back(node(OpKind::kMaxPool, "p", {"yc"}, {"yp"}));
  ns.back().attrs.set("kernel_shape", Dims{2, 2});
  ns.back().attrs.set("strides", Dims{2, 2});
  ns.push_back(node(OpKind::kConv, "d", {"yc", "wd"}, {"yd"}));
  ns.push_back(node(OpKind::kConv, "e", {"ya", "we"}, {"ye"}));
  ns.push_back(node(OpKind::kGlobalAveragePool, "gp", {"yp"}, {"ygp"}));
  ns.push_back(node(OpKind::kConv, "gc", {"ygp", "wg"}, {"yg"}));
  ns.push_back(node(OpKind::kAdd, "sum", {"ye", "yg"}, {"ys"}));
  g->nodes = ns;
  for (const auto& [name, t] : init) g->value_types[name] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  g->value_types["x"] = g->inputs[0].type;
  const std::pair<const char*, int64_t> channels[] = {{"ya", 32}, {"yb0", 32}, {"yb", 32}, {"yc", 32}, {"yp", 32},
                                                      {"yd", 16}, {"ye", 16}, {"ygp", 32}, {"yg", 16}, {"ys", 16}};
  for (const auto& [v, c] : channels) g->value_types[v] = any4(c);
  for (const char* o : {"yd", "ys"}) g->outputs.push_back({o, g->value_types[o]});
  EngineInfo info;
  info.backend = backend;
  info.precision = precision;
  auto e = std::make_shared<Engine>(g, info, std::vector<OptimizationProfile>{});
  std::vector<NodePlan> plans(g->nodes.size());
  for (auto& p : plans) p.precision = plan_precision;
  EngineAccess::set_plans(*e, plans);
  return e;
}

bool native_bf16() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

NamedValues run(const std::shared_ptr<Engine>& e, const Tensor& x) {
  auto ctx = e->create_context();
  NamedValues in{{"x", Value::of(x)}}, out;
  EXPECT_TRUE(ctx->run(in, &out).ok());
  EXPECT_TRUE(ctx->run(in, &out).ok());  // a second run on the same context (hand-offs reused)
  return out;
}

TEST(CpuBf16Handoff, SameBitsWithAndWithoutAndWithinBudget) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  for (int64_t n : {1, 3}) {
    const Tensor x = random_f32({n, 8, 12, 12}, 40 + static_cast<uint32_t>(n));
    const NamedValues on = run(make_engine("cpu", "bf16"), x);
    ASSERT_EQ(setenv("KILN_CPU_BF16_HANDOFF", "0", 1), 0);
    const NamedValues off = run(make_engine("cpu", "bf16"), x);
    unsetenv("KILN_CPU_BF16_HANDOFF");
    const NamedValues f32 = run(make_engine("cpu", "fp32"), x);
    const NamedValues ref = run(make_engine("reference", "fp32"), x);
    ASSERT_EQ(on.size(), 2u);
    ASSERT_EQ(off.size(), 2u);
    for (size_t k = 0; k < on.size(); ++k) {
      const Tensor &a = on[k].second.tensor, &b = off[k].second.tensor, &r = ref[k].second.tensor;
      const std::string what = "batch " + std::to_string(n) + " output " + on[k].first;
      ASSERT_EQ(a.dims(), b.dims()) << what;
      EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what << ": bf16 hand-off changed the answer";
      EXPECT_NE(std::memcmp(a.raw(), f32[k].second.tensor.raw(), a.nbytes()), 0) << what << ": bf16 did not run";
      double max_ref = 0, max_err = 0;
      for (int64_t i = 0; i < r.numel(); ++i) {
        max_ref = std::max(max_ref, std::fabs(double(r.data<float>()[i])));
        max_err = std::max(max_err, std::fabs(double(a.data<float>()[i]) - r.data<float>()[i]));
      }
      EXPECT_LE(max_err, 2e-2 * max_ref + 1e-3) << what;  // bf16 operands, float32 accumulation (docs/precision.md)
    }
  }
}

// The build's per-model bf16/float32 choice (precision_choice.h) records float32 in the plans of the kernel classes
// it keeps in float32: such nodes must compute exactly as in a float32 engine, and bf16 plans as in a bf16 one.
TEST(CpuBf16Handoff, PlanPrecisionDecidesPerNode) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  const Tensor x = random_f32({2, 8, 12, 12}, 77);
  const NamedValues kept_f32 = run(make_engine("cpu", "bf16", DType::kFloat32), x);
  const NamedValues f32 = run(make_engine("cpu", "fp32"), x);
  const NamedValues planned_bf16 = run(make_engine("cpu", "bf16", DType::kBFloat16), x);
  const NamedValues bf16 = run(make_engine("cpu", "bf16"), x);
  ASSERT_EQ(kept_f32.size(), 2u);
  for (size_t k = 0; k < kept_f32.size(); ++k) {
    const Tensor& a = kept_f32[k].second.tensor;
    EXPECT_EQ(std::memcmp(a.raw(), f32[k].second.tensor.raw(), a.nbytes()), 0) << kept_f32[k].first;
    const Tensor& b = planned_bf16[k].second.tensor;
    EXPECT_EQ(std::memcmp(b.raw(), bf16[k].second.tensor.raw(), b.nbytes()), 0) << planned_bf16[k].first;
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// A squeeze-excitation between two convolutions: y = Conv(x) (channels-last in a bf16 engine), gate =
// Sigmoid(GlobalAveragePool(y)) [N, C, 1, 1], z = y * gate (or gate * y), out = Conv(z). The Mul runs in the
// convolution's channels-last layout and hands it on (eltwise.cc binary_channels_last): the same bits as
// materializing to NCHW and back (KILN_CPU_BINARY_CHANNELS_LAST=0), and within the bf16 budget of the reference.
std::shared_ptr<Engine> se_engine(const std::string& backend, const std::string& precision, bool gate_first) {
  auto g = std::make_shared<Graph>();
  g->name = "se";
  g->inputs.push_back({"x", nchw_any(16)});
  g->initializers["w1"] = test_util::random_f32({48, 16, 3, 3}, 11, -0.2f, 0.2f);
  g->initializers["w2"] = test_util::random_f32({32, 48, 1, 1}, 12, -0.2f, 0.2f);
  g->nodes.push_back(test_node(OpKind::kConv, "c1", {"x", "w1"}, {"y"}));
  g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
  g->nodes.push_back(test_node(OpKind::kGlobalAveragePool, "gap", {"y"}, {"m"}));
  g->nodes.push_back(test_node(OpKind::kSigmoid, "sig", {"m"}, {"gate"}));
  g->nodes.push_back(test_node(OpKind::kMul, "mul", gate_first ? std::vector<std::string>{"gate", "y"}
                                                               : std::vector<std::string>{"y", "gate"}, {"z"}));
  g->nodes.push_back(test_node(OpKind::kConv, "c2", {"z", "w2"}, {"out"}));
  for (const char* v : {"y", "z"}) g->value_types[v] = nchw_any(48);
  for (const char* v : {"m", "gate"})
    g->value_types[v] = TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(48), Dim::known(1),
                                                                          Dim::known(1)}));
  g->value_types["out"] = nchw_any(32);
  g->outputs.push_back({"out", g->value_types["out"]});
  return finish_engine(g, backend, precision);
}

TEST(CpuBf16Handoff, ChannelWiseMulKeepsTheConvolutionLayout) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  for (bool gate_first : {false, true})
    for (int64_t n : {1, 2}) {
      const Tensor x = random_f32({n, 16, 10, 10}, 60 + static_cast<uint32_t>(n));
      auto run_se = [&](const std::string& backend, const std::string& precision) {
        auto engine = se_engine(backend, precision, gate_first);  // outlives its context
        auto ctx = engine->create_context();
        NamedValues in{{"x", Value::of(x)}}, out;
        EXPECT_TRUE(ctx->run(in, &out).ok());
        EXPECT_TRUE(ctx->run(in, &out).ok());  // hand-offs reused
        return out[0].second.tensor;
      };
      const Tensor fast = run_se("cpu", "bf16");
      ASSERT_EQ(setenv("KILN_CPU_BINARY_CHANNELS_LAST", "0", 1), 0);
      const Tensor plain = run_se("cpu", "bf16");
      unsetenv("KILN_CPU_BINARY_CHANNELS_LAST");
      const Tensor ref = run_se("reference", "fp32");
      const std::string what = std::string(gate_first ? "gate * y" : "y * gate") + ", batch " + std::to_string(n);
      ASSERT_EQ(fast.dims(), plain.dims()) << what;
      EXPECT_EQ(std::memcmp(fast.raw(), plain.raw(), fast.nbytes()), 0) << what;
      expect_within_bf16_budget(fast, ref, what);
    }
}

// Global pools over a bf16 convolution's channels-last hand-off run by hand (kernels/global_pool.h), pixels summed
// in 512-pixel chunks: 2 images x 1,221 pixels at 1 and 2 threads, against oneDNN's kernel on the same hand-off
// (KILN_CPU_GLOBAL_POOL=onednn: float32 sums in another order) and within the bf16 budget of the reference.
TEST(CpuBf16Handoff, GlobalPoolsOverTheConvolutionLayout) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  const Tensor x = random_f32({2, 16, 33, 37}, 70);
  for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool})
    for (int threads : {1, 2}) {
      auto run_pool = [&](const std::string& backend, const std::string& precision) {
        auto g = std::make_shared<Graph>();
        g->name = "pool";
        g->inputs.push_back({"x", nchw_any(16)});
        g->initializers["w"] = test_util::random_f32({24, 16, 3, 3}, 71, -0.2f, 0.2f);
        g->nodes.push_back(test_node(OpKind::kConv, "c", {"x", "w"}, {"y"}));
        g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
        g->nodes.push_back(test_node(op, "pool", {"y"}, {"out"}));
        g->value_types["y"] = nchw_any(24);
        g->value_types["out"] = TypeInfo::tensor(DType::kFloat32, Shape::of_dims({Dim{-1, "N"}, Dim::known(24),
                                                                                  Dim::known(1), Dim::known(1)}));
        g->outputs.push_back({"out", g->value_types["out"]});
        auto engine = finish_engine(g, backend, precision);
        auto ctx = engine->create_context();
        ctx->set_num_threads(threads);
        NamedValues in{{"x", Value::of(x)}}, out;
        EXPECT_TRUE(ctx->run(in, &out).ok());
        EXPECT_TRUE(ctx->run(in, &out).ok());
        return out[0].second.tensor;
      };
      const std::string what = std::string(op_name(op)) + ", " + std::to_string(threads) + " threads";
      const Tensor fast = run_pool("cpu", "bf16");
      ASSERT_EQ(setenv("KILN_CPU_GLOBAL_POOL", "onednn", 1), 0);
      const Tensor onednn = run_pool("cpu", "bf16");
      unsetenv("KILN_CPU_GLOBAL_POOL");
      const Tensor ref = run_pool("reference", "fp32");
      ASSERT_EQ(fast.dims(), (Dims{2, 24, 1, 1})) << what;
      ASSERT_EQ(onednn.dims(), fast.dims()) << what;
      for (int64_t i = 0; i < fast.numel(); ++i)
        EXPECT_NEAR(fast.data<float>()[i], onednn.data<float>()[i], 1e-5 + 1e-5 * std::fabs(onednn.data<float>()[i]))
            << what << " at " << i;
      expect_within_bf16_budget(fast, ref, what);
    }
}

// Concat on the channels of two bf16 convolutions' channels-last float32 hand-offs (kernels/data.cc
// concat_channels_last) builds its output in that layout and hands it to the next convolution: the same bits as a
// Concat on the reference backend (plain NCHW tensors around it), within the bf16 budget of the fp32 reference.
std::shared_ptr<Engine> concat_engine(const std::string& backend, const std::string& precision, bool plain_concat) {
  auto g = std::make_shared<Graph>();
  g->name = "concat";
  g->inputs.push_back({"x", nchw_any(16)});
  g->initializers["w1"] = test_util::random_f32({24, 16, 3, 3}, 21, -0.2f, 0.2f);
  g->initializers["w2"] = test_util::random_f32({16, 16, 1, 1}, 22, -0.2f, 0.2f);
  g->initializers["w3"] = test_util::random_f32({8, 40, 1, 1}, 23, -0.2f, 0.2f);
  g->nodes.push_back(test_node(OpKind::kConv, "c1", {"x", "w1"}, {"a"}));
  g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
  g->nodes.push_back(test_node(OpKind::kConv, "c2", {"x", "w2"}, {"b"}));
  g->nodes.push_back(test_node(OpKind::kConcat, "cat", {"a", "b"}, {"ab"}));
  g->nodes.back().attrs.set("axis", int64_t{1});
  g->nodes.push_back(test_node(OpKind::kConv, "c3", {"ab", "w3"}, {"out"}));
  g->value_types["a"] = nchw_any(24);
  g->value_types["b"] = nchw_any(16);
  g->value_types["ab"] = nchw_any(40);
  g->value_types["out"] = nchw_any(8);
  g->outputs.push_back({"out", g->value_types["out"]});
  std::vector<NodePlan> plans(g->nodes.size());
  if (plain_concat) plans[2].backend = "reference";
  return finish_engine(g, backend, precision, plans);
}

TEST(CpuBf16Handoff, ChannelConcatKeepsTheConvolutionLayout) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  for (int64_t n : {1, 2}) {
    const Tensor x = random_f32({n, 16, 9, 11}, 70 + static_cast<uint32_t>(n));
    auto run_cat = [&](const std::string& backend, const std::string& precision, bool plain_concat) {
      auto engine = concat_engine(backend, precision, plain_concat);
      auto ctx = engine->create_context();
      NamedValues in{{"x", Value::of(x)}}, out;
      EXPECT_TRUE(ctx->run(in, &out).ok());
      EXPECT_TRUE(ctx->run(in, &out).ok());
      return out[0].second.tensor;
    };
    const Tensor fast = run_cat("cpu", "bf16", false);
    const Tensor plain = run_cat("cpu", "bf16", true);
    const Tensor ref = run_cat("reference", "fp32", false);
    ASSERT_EQ(fast.dims(), plain.dims());
    EXPECT_EQ(std::memcmp(fast.raw(), plain.raw(), fast.nbytes()), 0) << "batch " << n;
    expect_within_bf16_budget(fast, ref, "batch " + std::to_string(n));
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// A YOLO-style neck in a bf16 engine: a = Conv(x), b = Conv(a), s = a + b (a residual Add of two channels-last
// hand-offs), g = Sigmoid(s), u = Resize(g) 2x (nearest or linear), out = Conv(u). The Add, Sigmoid and Resize run in
// the convolutions' channels-last layout and hand it on (binary_channels_last, unary_run, resize_run): the same bits
// as materializing each to NCHW and back (KILN_CPU_CHANNELS_LAST=0), within the bf16 budget of the reference.
// direct: instead, out = Conv(a + b) and out2 = Conv(Sigmoid(b)), so that the Add and the Sigmoid themselves write
// bf16 (every reader is a convolution, which rounds to bf16 anyway: channels_last_bf16_output).
std::shared_ptr<Engine> neck_engine(const std::string& backend, const std::string& precision, bool linear,
                                    bool direct = false) {
  auto g = std::make_shared<Graph>();
  g->name = "neck";
  g->inputs.push_back({"x", nchw_any(16)});
  g->initializers["w1"] = test_util::random_f32({40, 16, 3, 3}, 31, -0.2f, 0.2f);
  g->initializers["w2"] = test_util::random_f32({40, 40, 1, 1}, 32, -0.2f, 0.2f);
  g->initializers["w3"] = test_util::random_f32({8, 40, 3, 3}, 33, -0.2f, 0.2f);
  g->nodes.push_back(test_node(OpKind::kConv, "c1", {"x", "w1"}, {"a"}));
  g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
  g->nodes.push_back(test_node(OpKind::kConv, "c2", {"a", "w2"}, {"b"}));
  g->nodes.push_back(test_node(OpKind::kAdd, "add", {"a", "b"}, {"s"}));
  std::vector<const char*> outputs{"out"};
  if (direct) {
    g->nodes.push_back(test_node(OpKind::kSigmoid, "sig", {"b"}, {"gs"}));
    g->nodes.push_back(test_node(OpKind::kConv, "c3", {"s", "w3"}, {"out"}));
    g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
    g->nodes.push_back(test_node(OpKind::kConv, "c4", {"gs", "w3"}, {"out2"}));
    g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
    outputs.push_back("out2");
  } else {
    Tensor scales(DType::kFloat32, {4});
    const float sv[] = {1, 1, 2, 2};
    std::memcpy(scales.raw(), sv, sizeof sv);
    g->initializers["scales"] = scales;
    g->nodes.push_back(test_node(OpKind::kSigmoid, "sig", {"s"}, {"gs"}));
    g->nodes.push_back(test_node(OpKind::kResize, "up", {"gs", "", "scales"}, {"u"}));
    g->nodes.back().attrs.set("mode", std::string(linear ? "linear" : "nearest"));
    g->nodes.push_back(test_node(OpKind::kConv, "c3", {"u", "w3"}, {"out"}));
    g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
    g->value_types["u"] = nchw_any(40);
  }
  for (const char* v : {"a", "b", "s", "gs"}) g->value_types[v] = nchw_any(40);
  for (const char* v : outputs) {
    g->value_types[v] = nchw_any(8);
    g->outputs.push_back({v, g->value_types[v]});
  }
  return finish_engine(g, backend, precision);
}

// Both runs of an engine on one context (the second reuses the hand-offs); the outputs of the second.
NamedValues run_twice(const std::shared_ptr<Engine>& engine, const Tensor& x) {
  auto ctx = engine->create_context();
  NamedValues in{{"x", Value::of(x)}}, out;
  EXPECT_TRUE(ctx->run(in, &out).ok());
  EXPECT_TRUE(ctx->run(in, &out).ok());
  return out;
}

// Runs with `knob` set to 0 (the plain path), then without it.
NamedValues run_with_knob_off(const char* knob, const std::function<NamedValues()>& run) {
  EXPECT_EQ(setenv(knob, "0", 1), 0);
  NamedValues out = run();
  unsetenv(knob);
  return out;
}

TEST(CpuBf16Handoff, ResidualAddActivationAndResizeKeepTheConvolutionLayout) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  for (bool linear : {false, true})
    for (int64_t n : {1, 2}) {
      const Tensor x = random_f32({n, 16, 7, 9}, 80 + static_cast<uint32_t>(n));
      auto run = [&](const std::string& backend, const std::string& precision) {
        return run_twice(neck_engine(backend, precision, linear), x)[0].second.tensor;
      };
      const Tensor fast = run("cpu", "bf16");
      const Tensor plain = run_with_knob_off("KILN_CPU_CHANNELS_LAST", [&] {
        return NamedValues{{"out", Value::of(run("cpu", "bf16"))}};
      })[0].second.tensor;
      const std::string what = std::string(linear ? "linear" : "nearest") + ", batch " + std::to_string(n);
      ASSERT_EQ(fast.dims(), (Dims{n, 8, 14, 18})) << what;
      ASSERT_EQ(fast.dims(), plain.dims()) << what;
      EXPECT_EQ(std::memcmp(fast.raw(), plain.raw(), fast.nbytes()), 0) << what;
      expect_within_bf16_budget(fast, run("reference", "fp32"), what);
    }
}

TEST(CpuBf16Handoff, ResidualAddAndActivationWriteBf16ForConvolutions) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  for (int64_t n : {1, 3}) {
    const Tensor x = random_f32({n, 16, 6, 11}, 90 + static_cast<uint32_t>(n));
    auto run = [&](const std::string& backend, const std::string& precision) {
      return run_twice(neck_engine(backend, precision, false, /*direct=*/true), x);
    };
    const NamedValues fast = run("cpu", "bf16");
    const NamedValues plain = run_with_knob_off("KILN_CPU_CHANNELS_LAST", [&] { return run("cpu", "bf16"); });
    const NamedValues ref = run("reference", "fp32");
    ASSERT_EQ(fast.size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
      const Tensor &a = fast[k].second.tensor, &b = plain[k].second.tensor;
      const std::string what = fast[k].first + ", batch " + std::to_string(n);
      ASSERT_EQ(a.dims(), (Dims{n, 8, 6, 11})) << what;
      EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what;
      expect_within_bf16_budget(a, ref[k].second.tensor, what);
    }
  }
}

// FusedConv with a transcendental activation on AMX: oneDNN's post-op is slow there, so mid-sized outputs run the
// activation as a separate pass (conv.cc split_activation). Both forms stay within the bf16 budget of the reference
// and agree with each other to bf16 rounding (the separate pass rounds the convolution's bf16 output once more).
std::shared_ptr<Engine> act_engine(const std::string& backend, const std::string& precision, const char* act) {
  auto g = std::make_shared<Graph>();
  g->name = "conv_act";
  g->inputs.push_back({"x", nchw_any(3)});
  g->initializers["w1"] = test_util::random_f32({32, 3, 3, 3}, 41, -0.4f, 0.4f);
  g->initializers["b1"] = test_util::random_f32({32}, 42, -0.2f, 0.2f);
  g->initializers["w2"] = test_util::random_f32({32, 32, 1, 1}, 43, -0.2f, 0.2f);
  g->initializers["w3"] = test_util::random_f32({8, 32, 3, 3}, 44, -0.2f, 0.2f);
  g->nodes.push_back(test_node(OpKind::kFusedConv, "stem", {"x", "w1", "b1"}, {"a"}));  // a 3-channel stem, stride 2
  g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
  g->nodes.back().attrs.set("strides", Dims{2, 2});
  g->nodes.back().attrs.set("activation", std::string(act));
  g->nodes.push_back(test_node(OpKind::kFusedConv, "pw", {"a", "w2"}, {"b"}));  // a 1x1 (brgemm) convolution
  g->nodes.back().attrs.set("activation", std::string(act));
  g->nodes.push_back(test_node(OpKind::kConv, "out", {"b", "w3"}, {"y"}));
  g->nodes.back().attrs.set("pads", Dims{1, 1, 1, 1});
  for (const char* v : {"a", "b"}) g->value_types[v] = nchw_any(32);
  g->value_types["y"] = nchw_any(8);
  g->outputs.push_back({"y", g->value_types["y"]});
  return finish_engine(g, backend, precision);
}

TEST(CpuBf16Handoff, TranscendentalActivationSplitFromAmxConvolutions) {
  if (!native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  register_builtin_backends();
  for (const char* act : {"Silu", "Sigmoid", "Tanh"})
    for (int64_t n : {1, 2}) {
      const Tensor x = random_f32({n, 3, 80, 72}, 100 + static_cast<uint32_t>(n));
      auto run = [&](const std::string& backend, const std::string& precision) {
        return run_twice(act_engine(backend, precision, act), x);
      };
      const Tensor split = run("cpu", "bf16")[0].second.tensor;
      const Tensor fused_act =
          run_with_knob_off("KILN_CPU_CONV_SPLIT_ACT", [&] { return run("cpu", "bf16"); })[0].second.tensor;
      const Tensor ref = run("reference", "fp32")[0].second.tensor;
      const std::string what = std::string(act) + ", batch " + std::to_string(n);
      expect_within_bf16_budget(split, ref, what + " (split)");
      expect_within_bf16_budget(fused_act, ref, what + " (fused)");
      expect_within_bf16_budget(split, fused_act, what + " (split vs fused)");
    }
}

}  // namespace
}  // namespace kiln
