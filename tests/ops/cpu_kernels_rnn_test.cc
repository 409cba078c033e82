// The hand-written CPU LSTM and GRU kernels vs the reference: directions, layouts, sequence_lens, initial states,
// peepholes, clip, input_forget, linear_before_reset, odd sizes, prepared (constant) and per-run weights.
// Tolerance |cpu - ref| <= 1e-5 + 1e-4 * |ref|.
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
};

void run_case(OpKind op, const RnnCase& c) {
  const bool lstm = op == OpKind::kLSTM;
  const int64_t G = lstm ? 4 : 3, D = c.dir == "bidirectional" ? 2 : 1;
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
  Attrs a;
  a.set("hidden_size", c.H);
  a.set("direction", c.dir);
  a.set("layout", c.layout);
  if (c.clip > 0) a.set("clip", c.clip);
  if (c.flag) a.set(lstm ? "input_forget" : "linear_before_reset", c.flag);
  const std::string what = std::string(op_name(op)) + " S" + std::to_string(c.S) + " N" + std::to_string(c.N) + " I" +
                           std::to_string(c.I) + " H" + std::to_string(c.H) + " " + c.dir + " layout" +
                           std::to_string(c.layout) + (c.lens ? " lens" : "") + (c.init ? " init" : "") +
                           (c.peep ? " peep" : "") + (c.flag ? " flag" : "") + (c.clip > 0 ? " clip" : "");
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
  RnnCase th{3, 8, 16, 112};                      // enough work per step for the threaded h.R^T
  th.lens = th.init = true;
  v.push_back(th);
  return v;
}

TEST(CpuKernelsRnn, LstmMatchesReference) {
  for (RnnCase c : cases()) {
    run_case(OpKind::kLSTM, c);
    c.peep = true;
    run_case(OpKind::kLSTM, c);
  }
}

TEST(CpuKernelsRnn, GruMatchesReference) {
  for (RnnCase c : cases()) {
    run_case(OpKind::kGRU, c);
    c.flag = 1 - c.flag;
    run_case(OpKind::kGRU, c);
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
}

}  // namespace
}  // namespace kiln::cpu::test
