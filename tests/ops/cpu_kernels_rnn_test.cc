// The hand-written CPU LSTM, GRU and plain RNN kernels vs the reference: directions, layouts, sequence_lens, initial
// states, peepholes, clip, input_forget, linear_before_reset, the RNN's Tanh and Relu, odd sizes, prepared (constant)
// and per-run weights.
// Tolerance |cpu - ref| <= 1e-5 + 1e-4 * |ref|; bf16 recurrences (bf16 engines) within the bf16 budget.
#include "backends/cpu/onednn/common.h"
#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

constexpr double kRel = 1e-4, kAbs = 1e-5;

struct RnnCase {
  int64_t S, N, I, H;
  std::string dir = "forward";
  int64_t layout = 0;
  bool lens = false, init = false, bias = true, peep = false;
  float clip = 0.f;
  int64_t flag = 0;  // input_forget (LSTM) / linear_before_reset (GRU)
  std::string act;   // the plain RNN's activation for every direction ("": its default, Tanh)
};

int64_t gates_of(OpKind op) { return op == OpKind::kLSTM ? 4 : op == OpKind::kGRU ? 3 : 1; }

// The inputs of one case: X, W, R, B, sequence_lens, initial_h (, initial_c, P), trailing absent ones dropped.
std::vector<Tensor> case_inputs(OpKind op, const RnnCase& c) {
  const bool lstm = op == OpKind::kLSTM;
  const int64_t G = gates_of(op), D = c.dir == "bidirectional" ? 2 : 1;
  std::vector<Tensor> in;
  in.push_back(random_f32(c.layout ? Dims{c.N, c.S, c.I} : Dims{c.S, c.N, c.I}, -1, 1));
  // Weights scaled like trained ones (1/sqrt(fan-in)): large random R makes the recurrence chaotic, and then any
  // float32-vs-double rounding difference grows without bound over time.
  const float ws = 1.0f / std::sqrt(static_cast<float>(std::max(c.I, c.H)));
  in.push_back(random_f32({D, G * c.H, c.I}, -ws, ws));
  in.push_back(random_f32({D, G * c.H, c.H}, -ws, ws));
  in.push_back(c.bias ? random_f32({D, 2 * G * c.H}, -0.5f, 0.5f) : Tensor());
  Tensor lens;
  if (c.lens) {
    lens = Tensor(DType::kInt32, {c.N});
    for (int64_t b = 0; b < c.N; ++b) lens.data<int32_t>()[b] = static_cast<int32_t>((c.S * (b + 1)) / c.N);
  }
  in.push_back(lens);
  const Dims sd = c.layout ? Dims{c.N, D, c.H} : Dims{D, c.N, c.H};
  in.push_back(c.init ? random_f32(sd) : Tensor());
  if (lstm) {
    in.push_back(c.init ? random_f32(sd) : Tensor());
    in.push_back(c.peep ? random_f32({D, 3 * c.H}) : Tensor());
  }
  while (!in.empty() && !in.back().defined()) in.pop_back();
  return in;
}

Attrs case_attrs(OpKind op, const RnnCase& c) {
  const bool lstm = op == OpKind::kLSTM;
  Attrs a;
  a.set("hidden_size", c.H);
  a.set("direction", c.dir);
  a.set("layout", c.layout);
  if (c.clip > 0) a.set("clip", c.clip);
  if (c.flag && op != OpKind::kRNN) a.set(lstm ? "input_forget" : "linear_before_reset", c.flag);
  if (!c.act.empty()) a.set("activations", std::vector<std::string>(c.dir == "bidirectional" ? 2 : 1, c.act));
  return a;
}

std::string case_name(OpKind op, const RnnCase& c) {
  return std::string(op_name(op)) + " S" + std::to_string(c.S) + " N" + std::to_string(c.N) + " I" +
         std::to_string(c.I) + " H" + std::to_string(c.H) + " " + c.dir + " layout" + std::to_string(c.layout) +
         (c.lens ? " lens" : "") + (c.init ? " init" : "") + (c.peep ? " peep" : "") + (c.flag ? " flag" : "") +
         (c.clip > 0 ? " clip" : "") + (c.act.empty() ? "" : " " + c.act);
}

void run_case(OpKind op, const RnnCase& c) {
  const bool lstm = op == OpKind::kLSTM;
  const std::vector<Tensor> in = case_inputs(op, c);
  const Attrs a = case_attrs(op, c);
  const std::string what = case_name(op, c);
  const size_t outs = lstm ? 3 : 2;
  check_vs_reference(op, in, a, outs, 22, kRel, kAbs, what, 1, {1, 2, 3});
  check_vs_reference(op, in, a, outs, 22, kRel, kAbs, what + " x2 threads", 2, {1, 2});
}

std::vector<RnnCase> cases() {
  std::vector<RnnCase> v;
  v.push_back({1, 1, 1, 1});
  v.push_back({5, 3, 7, 11});
  v.push_back({4, 2, 3, 5, "reverse"});
  v.push_back({6, 3, 4, 8, "bidirectional"});
  RnnCase l{7, 4, 5, 6, "bidirectional"};
  l.lens = l.init = true;
  v.push_back(l);
  RnnCase b{5, 3, 4, 9, "forward", 1};
  b.init = true;
  b.bias = false;
  v.push_back(b);
  RnnCase r{6, 2, 3, 4, "reverse", 1};
  r.lens = true;
  v.push_back(r);
  RnnCase cl{4, 2, 3, 5};
  cl.clip = 0.5f;
  cl.flag = 1;
  v.push_back(cl);
  v.push_back({20, 1, 80, 256});
  v.push_back({3, 13, 5, 19, "bidirectional"});  // batch rows 6 + 6 + 1, a partial 16-column panel
  v.push_back({20, 4, 16, 64, "bidirectional"});  // enough work for the two directions on two threads at once
  RnnCase rows{20, 5, 16, 64, "reverse"};         // batch rows 2 + 3 as two tasks on two threads
  rows.lens = rows.init = true;
  v.push_back(rows);
  RnnCase th{3, 8, 16, 112};                      // enough work per step for the threaded h.R^T
  th.lens = th.init = true;
  v.push_back(th);
  v.push_back({40, 1, 20, 128});  // batch 1: an LSTM step's h.R^T split over a team of two by hidden units
  RnnCase team{32, 1, 12, 150, "reverse", 1};  // units 80 + 70 (a partial panel), reversed, layout 1
  team.init = true;
  v.push_back(team);
  return v;
}

TEST(CpuKernelsRnn, LstmMatchesReference) {
  for (RnnCase c : cases()) {
    run_case(OpKind::kLSTM, c);
    c.peep = true;
    run_case(OpKind::kLSTM, c);
  }
}

// The plain RNN: every case with Tanh (the default) and Relu; batch 1 with enough work per step for the team.
TEST(CpuKernelsRnn, PlainRnnMatchesReference) {
  std::vector<RnnCase> all = cases();
  RnnCase team{40, 1, 20, 320};  // 102K multiply-adds per step: split over two threads by hidden units
  team.init = true;
  all.push_back(team);
  for (RnnCase c : all) {
    run_case(OpKind::kRNN, c);
    c.act = "Relu";
    run_case(OpKind::kRNN, c);
  }
}

TEST(CpuKernelsRnn, GruMatchesReference) {
  for (RnnCase c : cases()) {
    run_case(OpKind::kGRU, c);
    c.flag = 1 - c.flag;
    run_case(OpKind::kGRU, c);
  }
}

// bf16 engines: each step's h.R^T is a oneDNN bf16 matmul. Checked against the reference within the bf16 budget
// (docs/conformance.md: 4e-2 relative plus 1.6e-2 of the output's peak), twice (the second run on prepared state),
// with one and two threads; and the output must differ from the float32 kernel's (the bf16 path ran).
void check_bf16(OpKind op, const RnnCase& c, int threads) {
  const bool lstm = op == OpKind::kLSTM;
  const size_t outs = lstm ? 3 : 2;
  const std::string what = case_name(op, c) + " bf16 x" + std::to_string(threads) + " threads";
  const Attrs a = case_attrs(op, c);
  const std::vector<Tensor> in = case_inputs(op, c);
  Graph g;
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = a;
  node.opset = 22;
  for (size_t i = 0; i < in.size(); ++i) {
    node.inputs.push_back(in[i].defined() ? "in" + std::to_string(i) : "");
    if (!in[i].defined()) continue;
    g.value_types[node.inputs.back()] = TypeInfo::tensor(in[i].dtype(), Shape::of(in[i].dims()));
    if (i == 1 || i == 2) g.initializers[node.inputs.back()] = in[i];
  }
  for (size_t i = 0; i < outs; ++i) node.outputs.push_back("out" + std::to_string(i));
  std::string why;
  const CpuKernel* k = hand_kernels().select(g, node, &why);
  ASSERT_NE(k, nullptr) << what << ": " << why;
  auto ref = run_reference_kernel(op, in, a, outs, 22);
  ASSERT_TRUE(ref.ok()) << what << ": " << ref.status().message();
  TestCpuContext f32(node, in, threads);
  f32.set_constants({1, 2});
  ASSERT_TRUE(k->run(f32).ok()) << what;
  TestCpuContext ctx(node, in, threads);
  ctx.set_constants({1, 2});
  ctx.set_allow_bf16(true);
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE(k->run(ctx).ok()) << what;
    bool differs = false;
    for (size_t o = 0; o < outs; ++o) {
      double peak = 0;
      for (int64_t i = 0; i < (*ref)[o].numel(); ++i) peak = std::max(peak, std::fabs((*ref)[o].as_double(i)));
      expect_close(ctx.outputs()[o], (*ref)[o], 4e-2, 1.6e-2 * peak, what + " output " + std::to_string(o));
      for (int64_t i = 0; i < (*ref)[o].numel(); ++i)
        differs |= ctx.outputs()[o].data<float>()[i] != f32.outputs()[o].data<float>()[i];
    }
    EXPECT_TRUE(differs) << what << ": bit-identical to the float32 kernel (the bf16 recurrence did not run)";
  }
}

TEST(CpuKernelsRnn, Bf16RecurrenceWithinBudget) {
  if (!onednn::native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  // Sizes above the kernel's bf16 thresholds (128K multiply-adds per step, 1M for the input projection): an
  // acoustic-model LSTM layer; a bidirectional one with sequence_lens and initial states; odd sizes, reversed, layout
  // 1 (GRU without linear_before_reset there keeps float32 steps: 94K per step; its projection is bf16).
  RnnCase am{30, 16, 80, 256};
  RnnCase bi{25, 8, 64, 128, "bidirectional"};
  bi.lens = bi.init = true;
  RnnCase odd{21, 5, 150, 97, "reverse", 1};
  odd.init = true;
  for (int threads : {1, 2}) {
    for (const RnnCase& c : {am, bi, odd}) {
      check_bf16(OpKind::kLSTM, c, threads);
      check_bf16(OpKind::kGRU, c, threads);
      check_bf16(OpKind::kRNN, c, threads);
      RnnCase f = c;
      f.flag = 1;
      check_bf16(OpKind::kGRU, f, threads);
    }
  }
}

// Batch 1 on two threads runs as a team split over the hidden units with bf16 products (AVX512-BF16); one thread
// runs the oneDNN bf16 steps. LSTM and GRU with linear_before_reset (the team's two cells).
TEST(CpuKernelsRnn, Bf16TeamWithinBudget) {
  if (!onednn::native_bf16()) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  RnnCase one{20, 1, 30, 216};  // 140K multiply-adds per GRU step: bf16 steps on one thread too
  one.init = true;
  RnnCase gru = one;
  gru.flag = 1;
  for (int threads : {1, 2}) {
    check_bf16(OpKind::kLSTM, one, threads);
    RnnCase p = one;
    p.peep = true;
    check_bf16(OpKind::kLSTM, p, threads);
    check_bf16(OpKind::kGRU, gru, threads);
  }
}

TEST(CpuKernelsRnn, Refusals) {
  Attrs a;
  a.set("hidden_size", int64_t{2});
  a.set("activations", std::vector<std::string>{"Relu", "Tanh", "Tanh"});
  std::vector<Tensor> in = {random_f32({2, 1, 3}), random_f32({1, 8, 3}), random_f32({1, 8, 2})};
  EXPECT_FALSE(run_cpu_kernel(OpKind::kLSTM, in, a, 1, 22, 1, {1, 2}).supported);
  Attrs ok;
  ok.set("hidden_size", int64_t{2});
  EXPECT_FALSE(run_cpu_kernel(OpKind::kLSTM, in, ok, 1, 22, 1, {}).supported);  // W, R not initializers
  EXPECT_TRUE(run_cpu_kernel(OpKind::kLSTM, in, ok, 1, 22, 1, {1, 2}).supported);
  // The plain RNN: Tanh and Relu only.
  std::vector<Tensor> rin = {random_f32({2, 1, 3}), random_f32({1, 2, 3}), random_f32({1, 2, 2})};
  Attrs sig = ok;
  sig.set("activations", std::vector<std::string>{"Sigmoid"});
  EXPECT_FALSE(run_cpu_kernel(OpKind::kRNN, rin, sig, 1, 22, 1, {1, 2}).supported);
  Attrs relu = ok;
  relu.set("activations", std::vector<std::string>{"Relu"});
  EXPECT_TRUE(run_cpu_kernel(OpKind::kRNN, rin, relu, 1, 22, 1, {1, 2}).supported);
  EXPECT_TRUE(run_cpu_kernel(OpKind::kRNN, rin, ok, 1, 22, 1, {1, 2}).supported);
}

}  // namespace
}  // namespace kiln::cpu::test
