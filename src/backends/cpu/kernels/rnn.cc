// LSTM and GRU on float32 with the default activations, and the plain RNN with Tanh (its default) or Relu: X.W^T for every time step at once (oneDNN's sgemm against
// W^T prepared once per context), then per step h.R^T for the whole batch (packed_gemm on R^T packed once) and
// vectorized gate math; in bf16 engines both products are oneDNN bf16 matmuls where they are large enough.
// Directions and slices of the batch rows are independent tasks that run on the context's threads at once.
// Directions, layouts 0/1, sequence_lens, initial states, peepholes, clip, input_forget and linear_before_reset
// follow the reference kernels (src/backends/reference/attention/rnn_cells.cc).
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/packed_gemm.h"
#include "backends/cpu/kernels/rnn.h"
#include "backends/cpu/kernels/spin_barrier.h"
#include "backends/cpu/kernels/vec_math.h"
#include "backends/cpu/onednn/common.h"
#include "ir/rnn_params.h"

namespace kiln::cpu::kern {
namespace {

// Multiply-adds below which the input GEMM runs on the calling thread (~1 ms of work: a fork/join costs far less).
constexpr int64_t kThreadedGemmWork = int64_t{1} << 24;
// Multiply-adds of one time step's h.R^T below which it runs on the calling thread. With sleeping workers (passive
// OpenMP wait policy, docs/cpu-backend.md) each step's fork/join wakes one, which cost more than it saved on a
// 1x1024x256 step (LSTM H=256 at batch 1, 2 threads: 188 -> 144 inf/s): ~40 us of work. With spinning workers a
// fork/join costs microseconds (lstm_am at batch 1, 2 threads: 180 inf/s unthreaded, 292 threaded from 64K).
constexpr int64_t kThreadedStepWork = int64_t{1} << 20;
constexpr int64_t kThreadedStepWorkSpinning = int64_t{1} << 16;

KILN_VINLINE float clampf(float v, float lim) { return v < -lim ? -lim : (v > lim ? lim : v); }

// LSTM gates i, o, f, c in g (pre-activations, biases included; overwritten with the activated gates); p: peepholes
// Pi, Po, Pf (zeros when absent). Two passes of elementwise math over distinct arrays, so each loop vectorizes.
// First pass: input, forget and cell gates activated in place (gi, gf, gc are disjoint H-long rows of g).
// (input_forget is a template parameter: a run-time select inside the loop keeps GCC from vectorizing it.)
template <bool kCoupled>
KILN_VINLINE void lstm_gates(float* __restrict gi, float* __restrict gf, float* __restrict gc, const float* __restrict pi,
                             const float* __restrict pf, const float* __restrict c, int64_t H, float clip) {
  for (int64_t k = 0; k < H; ++k) {
    const float i = vm::sigmoid_f(clampf(gi[k] + pi[k] * c[k], clip));
    gi[k] = i;
    if constexpr (kCoupled) gf[k] = 1.0f - i;
    else gf[k] = vm::sigmoid_f(clampf(gf[k] + pf[k] * c[k], clip));
    gc[k] = vm::tanh_f(clampf(gc[k], clip));
  }
}

KILN_CPU_CLONES void lstm_cell(float* __restrict g, const float* __restrict p, float* __restrict c,
                               float* __restrict h, int64_t H, float clip, bool coupled) {
  float* gi = g;
  float* go = g + H;
  float* gf = g + 2 * H;
  float* gc = g + 3 * H;
  if (coupled) lstm_gates<true>(gi, gf, gc, p, p + 2 * H, c, H, clip);
  else lstm_gates<false>(gi, gf, gc, p, p + 2 * H, c, H, clip);
  for (int64_t k = 0; k < H; ++k) {
    const float nc = gf[k] * c[k] + gi[k] * gc[k];
    const float o = vm::sigmoid_f(clampf(go[k] + p[H + k] * nc, clip));
    c[k] = nc;
    h[k] = o * vm::tanh_f(clampf(nc, clip));
  }
}

// GRU z and r gates: g[0:2H] (x and h parts summed, biases included) -> sigmoid in place.
KILN_CPU_CLONES void gru_zr(float* g, int64_t n, float clip) {
  for (int64_t k = 0; k < n; ++k) g[k] = vm::sigmoid_f(clampf(g[k], clip));
}
// h' = (1 - z) * tanh(xh + r * hh) + z * h  (hh: h.Rh^T + Rbh when linear_before_reset, else r already applied).
template <bool kLbr>
KILN_VINLINE void gru_out_loop(const float* __restrict z, const float* __restrict r, const float* __restrict xh,
                               const float* __restrict hh, float* __restrict h, int64_t H, float clip) {
  for (int64_t k = 0; k < H; ++k) {
    const float pre = kLbr ? xh[k] + r[k] * hh[k] : xh[k] + hh[k];
    const float n = vm::tanh_f(clampf(pre, clip));
    h[k] = (1.0f - z[k]) * n + z[k] * h[k];
  }
}
// The plain RNN's new state: h = tanh(g) or relu(g) of the pre-activation (biases included), clipped first.
template <bool kRelu>
KILN_VINLINE void rnn_cell_loop(const float* __restrict g, float* __restrict h, int64_t H, float clip) {
  for (int64_t k = 0; k < H; ++k) {
    const float pre = clampf(g[k], clip);
    h[k] = kRelu ? (pre > 0.f ? pre : 0.f) : vm::tanh_f(pre);
  }
}
KILN_CPU_CLONES void rnn_cell(const float* g, float* h, int64_t H, float clip, bool relu) {
  if (relu) rnn_cell_loop<true>(g, h, H, clip);
  else rnn_cell_loop<false>(g, h, H, clip);
}

KILN_CPU_CLONES void gru_out(const float* z, const float* r, const float* xh, const float* hh, float* h, int64_t H,
                             float clip, bool lbr) {
  if (lbr) gru_out_loop<true>(z, r, xh, hh, h, H, clip);
  else gru_out_loop<false>(z, r, xh, hh, h, H, clip);
}

// W^T, R^T and the biases, per direction (prepared once when the weights are constant). R^T is packed for the per-step
// products: all gate columns (`rec`), or for GRU without linear_before_reset the z/r columns (`rec`) and the
// hidden-gate columns (`rec_h`, applied to r*h) apart.
struct Prepared {
  int64_t D = 0, GH = 0, I = 0, H = 0;
  std::vector<float> wt, bias;  // [D][I][GH], [D][2*GH]
  std::vector<float> xbias;     // [D][GH]: Wb + Rb, without Rbh when linear_before_reset (added inside the cell)
  std::vector<PackedMatrix> rec, rec_h;  // [D]
};

void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

// bf16 engines on CPUs with native bf16 (onednn::use_bf16): the input projection X.W^T (+ biases) and, where a step
// has at least kBf16StepWork multiply-adds, each step's h.R^T are oneDNN bf16 matmuls (AMX tiles where the CPU has
// them) against W^T / R^T reordered once into the primitive's layout. X and h are rounded to bf16 for the products
// only; accumulation, the cell state, the gate math and every output stay float32, as in the engine's other bf16
// matmuls (docs/precision.md). Built per batch size (and sequence length, for the projection).
struct Bf16Product {
  dnnl::matmul prim;
  dnnl::memory weights, bias, src, dst, scratch;
  std::vector<uint8_t> scratch_buf;
  std::unordered_map<int, dnnl::memory> args;  // the memories above (src and dst get their buffers per call)
};
// Below this many multiply-adds per step the primitive's fixed cost outweighs AMX (gru_vad batch 1, 49K per product:
// 0.62 -> 0.68 ms; lstm_am batch 1, 262K: 2.99 -> 1.87 ms).
constexpr int64_t kBf16StepWork = int64_t{128} * 1024;
// Multiply-adds of the whole input projection below which it stays a float32 sgemm.
constexpr int64_t kBf16ProjectionWork = int64_t{1} << 20;
// Multiply-adds of one step's bf16 product from which it is threaded (below, a fork/join per step costs more than
// the AMX tiles it splits: lstm_am batch 16, 4M per step, ran no faster on 2 threads).
constexpr int64_t kBf16ThreadedStepWork = int64_t{1} << 26;
// Multiply-adds of one task's whole recurrence (a direction's steps over a slice of the batch rows) below which the
// node does not split into parallel tasks (waking a second thread costs more than such a task takes).
constexpr int64_t kParallelTaskWork = int64_t{1} << 18;

// A direction's input projection X.W^T (+ biases), all steps and batch rows.
struct DirectionScratch {
  std::vector<float> xw;
  Bf16Product proj;
};

// What one task (a direction over a slice of the batch rows) works in, reused by every run so steady-state inference
// does not allocate.
struct TaskScratch {
  std::vector<float> hr, rh, hh, h, c;
  std::vector<uint16_t> h_bf16, rh_bf16;
  Bf16Product rec, rec_h;  // rec_h: GRU without linear_before_reset
};

// A recurrence whose batch rows cannot be split (batch 1, one direction) run by a team of threads split over the
// hidden units: part p owns units [u[p], u[p+1]), computes their gate columns from the whole previous h (R^T's
// columns of those units, packed once per part), their cell and their slice of the new h; the team meets at a spin
// barrier after each step (h is double-buffered). One fork per node instead of one per step, and each thread's
// share of R stays in its own core's cache (lstm_am, H 256, batch 1, 2 threads: a per-step fork/join cost more than
// it saved, so the step ran on one thread).
struct TeamPart {
  PackedMatrix rec;          // [H] x [G * units]: the part's columns of R^T, gate-major
  PackedBf16 rec_bf16;       // the same in bf16 (bf16 engines on CPUs with AVX512-BF16)
  // [N][2 * ceil(H / 2)]: the previous h rounded for rec_bf16 (each part rounds the whole h itself: one shared copy
  // would need a second meeting per step)
  std::vector<uint16_t> h_bf16;
  std::vector<float> peep;   // [3][units] (LSTM)
  std::vector<float> g, c;   // [N][G * units] gates, [N][units] cell state (LSTM)
};
struct TeamPlan {
  int parts = 0;
  int64_t H = 0;
  bool bf16 = false;
  std::vector<int64_t> u;                  // [parts + 1] unit boundaries
  std::vector<std::vector<TeamPart>> dir;  // [D][parts]
  std::vector<float> h;                    // [2][N][H]: the previous and the new state
};
// Multiply-adds of one step's h.R^T from which a team of two pays (a barrier costs well under a microsecond with
// both threads on their cores; a step of 64K multiply-adds takes a few), and of the whole recurrence (the fork that
// starts the team may wake a sleeping worker: tens of microseconds on a VM).
constexpr int64_t kTeamStepWork = int64_t{1} << 16;
constexpr int64_t kTeamTotalWork = int64_t{1} << 21;
constexpr int64_t kTeamMinUnits = 16;

// Parts for a team recurrence, or 0 where the node runs otherwise: row tasks already in parallel, one thread, a GRU
// without linear_before_reset (its hidden gate needs the whole r*h: a second meeting per step, so `one_meeting` is
// false), or too little work.
int team_parts(int threads, bool tasks_parallel, int64_t slices, bool one_meeting, int64_t S, int64_t N, int64_t GH,
               int64_t H) {
  if (tasks_parallel || slices != 1 || threads < 2 || !one_meeting) return 0;
  if (N * GH * H < kTeamStepWork || S * N * GH * H < kTeamTotalWork) return 0;
  const int64_t parts = std::min<int64_t>(threads, H / kTeamMinUnits);
  return parts >= 2 ? static_cast<int>(parts) : 0;
}

// Unit boundaries (multiples of 16 where H allows, so each part's gate columns fill whole panels) and each part's
// packed R^T columns.
void build_team(TeamPlan& tp, const float* r, int64_t D, int64_t G, int64_t H, int parts, bool bf16) {
  tp.parts = parts;
  tp.H = H;
  tp.bf16 = bf16;
  tp.u.assign(static_cast<size_t>(parts + 1), 0);
  for (int p = 1; p < parts; ++p) {
    const int64_t even = H * p / parts, rounded = (even + 8) / 16 * 16;
    tp.u[p] = rounded > tp.u[p - 1] && rounded < H ? rounded : even;
  }
  tp.u[parts] = H;
  tp.dir.assign(static_cast<size_t>(D), std::vector<TeamPart>(static_cast<size_t>(parts)));
  std::vector<float> rows;
  for (int64_t d = 0; d < D; ++d)
    for (int p = 0; p < parts; ++p) {
      const int64_t u0 = tp.u[p], n = tp.u[p + 1] - u0;
      rows.resize(static_cast<size_t>(G * n * H));
      for (int64_t gate = 0; gate < G; ++gate)
        std::memcpy(rows.data() + gate * n * H, r + (d * G * H + gate * H + u0) * H, n * H * 4);
      if (bf16) pack_b_bf16(rows.data(), H, G * n, H, true, &tp.dir[d][p].rec_bf16);
      else pack_b(rows.data(), H, G * n, H, true, &tp.dir[d][p].rec);
    }
}

struct RnnState {
  Prepared prep;
  TeamPlan team;
  bool prepared = false;  // prep holds constant weights (computed once)
  int64_t bf16_rows = -1, bf16_slices = -1;  // batch size and slices the bf16 recurrences were built for
  int64_t bf16_proj_rows = -1;  // S * N the bf16 projections were built for (-1: none)
  std::vector<uint16_t> x_bf16;
  DirectionScratch dir[2];
  std::vector<TaskScratch> task;
  std::vector<float> yh, yc;
};

// B = `rows` read as [k][cols] with strides {1, k} (W or R rows, i.e. W^T / R^T) as a bf16 matmul for `m` rows of A
// ([m][k] bf16) writing `ldc`-strided float32 rows, plus `bias` ([cols]) when given. Throws dnnl::error when this
// oneDNN has no such matmul.
void build_bf16_product(Bf16Product& r, const float* rows, int64_t m, int64_t k, int64_t cols, int64_t ldc,
                        const float* bias) {
  using dnnl::memory;
  const auto bf16 = memory::data_type::bf16, f32 = memory::data_type::f32;
  const dnnl::engine& eng = onednn::engine();
  const memory::desc src_md({m, k}, bf16, memory::dims{k, 1});
  const memory::desc w_any({k, cols}, bf16, memory::format_tag::any);
  const memory::desc bias_md({1, cols}, f32, memory::dims{cols, 1});
  const memory::desc dst_md({m, cols}, f32, memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc pd(
      bias ? dnnl::matmul::desc(src_md, w_any, bias_md, dst_md) : dnnl::matmul::desc(src_md, w_any, dst_md), attr, eng);
  r.prim = dnnl::matmul(pd);
  memory plain(memory::desc({k, cols}, f32, memory::dims{1, k}), eng, const_cast<float*>(rows));
  r.weights = memory(pd.weights_desc(), eng);
  dnnl::reorder(plain, r.weights).execute(onednn::stream(), plain, r.weights);
  onednn::stream().wait();
  r.bias = bias ? memory(bias_md, eng, const_cast<float*>(bias)) : memory();
  r.src = memory(src_md, eng, DNNL_MEMORY_NONE);
  r.dst = memory(dst_md, eng, DNNL_MEMORY_NONE);
  r.scratch_buf.resize(pd.scratchpad_desc().get_size());
  r.scratch = memory(pd.scratchpad_desc(), eng, r.scratch_buf.data());
  r.args = {{DNNL_ARG_SRC, r.src}, {DNNL_ARG_WEIGHTS, r.weights}, {DNNL_ARG_DST, r.dst}, {DNNL_ARG_SCRATCHPAD, r.scratch}};
  if (bias) r.args[DNNL_ARG_BIAS] = r.bias;
}

void run_bf16_product(Bf16Product& r, const uint16_t* a, float* c) {
  r.src.set_data_handle(const_cast<uint16_t*>(a));
  r.dst.set_data_handle(c);
  r.prim.execute(onednn::stream(), r.args);
  onednn::stream().wait();
}

// `split_h`: GRU without linear_before_reset (the hidden gate's recurrent product is taken of r*h, not h).
Prepared prepare(const CpuKernelContext& ctx, int64_t D, int64_t G, int64_t H, int64_t I, bool split_h, bool lbr) {
  Prepared p;
  p.D = D;
  p.GH = G * H;
  p.I = I;
  p.H = H;
  p.wt.resize(static_cast<size_t>(D * I * p.GH));
  p.rec.resize(static_cast<size_t>(D));
  p.rec_h.resize(static_cast<size_t>(D));
  p.bias.assign(static_cast<size_t>(D * 2 * p.GH), 0.f);
  for (int64_t d = 0; d < D; ++d) {
    transpose(ctx.input(1).data<float>() + d * p.GH * I, p.GH, I, p.wt.data() + d * I * p.GH);
    const float* r = ctx.input(2).data<float>() + d * p.GH * H;  // [GH][H] = (R^T)^T
    pack_b(r, H, split_h ? 2 * H : p.GH, H, true, &p.rec[d]);
    if (split_h) pack_b(r + 2 * H * H, H, H, H, true, &p.rec_h[d]);
  }
  if (ctx.has_input(3)) std::copy(ctx.input(3).data<float>(), ctx.input(3).data<float>() + D * 2 * p.GH, p.bias.data());
  p.xbias.resize(static_cast<size_t>(D * p.GH));
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < p.GH; ++j)
      p.xbias[d * p.GH + j] = p.bias[d * 2 * p.GH + j] + (lbr && j >= 2 * H ? 0.f : p.bias[(d * 2 + 1) * p.GH + j]);
  return p;
}

// Whether every activation of a plain RNN is Relu (the kernel runs Tanh, the default, and Relu).
bool all_relu(const RnnParams& p) {
  for (const RnnActivation& a : p.activations)
    if (a.kind != RnnActKind::kRelu) return false;
  return !p.activations.empty();
}

// `gates`: 4 LSTM, 3 GRU, 1 the plain RNN.
NodeSupport rnn_supports(const Graph& g, const Node& n, int gates) {
  auto p = rnn_params(n);
  if (!p.ok()) return NodeSupport::no(p.status().message());
  if (p->gates != gates) return NodeSupport::no("not the recurrent op this kernel runs");
  if (!p->default_activations && !(gates == 1 && all_relu(*p)))
    return NodeSupport::no(gates == 1 ? "activations other than Tanh or Relu" : "non-default activations");
  NodeSupport s = require_dtypes(g, n, {0, 1, 2, 3, 5, 6, 7}, {DType::kFloat32});
  if (!s.supported) return s;
  if (n.has_input(4) && input_dtype(g, n, 4) != DType::kInt32) return NodeSupport::no("sequence_lens is not int32");
  if (!input_constant(g, n, 1) || !input_constant(g, n, 2)) return NodeSupport::no("W and R are not initializers");
  return NodeSupport::yes();
}

Status rnn_run(CpuKernelContext& ctx, int gates) {
  const int64_t G = gates;
  const bool lstm = G == 4, rnn = G == 1;
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& rr = ctx.input(2);
  if (x.rank() != 3 || w.rank() != 3 || rr.rank() != 3) return ctx.error("X, W and R must be 3-D");
  auto parsed = rnn_params(ctx.node());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const RnnParams& at = *parsed;
  const bool batch_first = at.batch_first;
  const int64_t D = at.num_directions;
  const int64_t S = batch_first ? x.dim(1) : x.dim(0), N = batch_first ? x.dim(0) : x.dim(1), I = x.dim(2);
  const int64_t H = at.hidden_size >= 0 ? at.hidden_size : rr.dim(2);
  const int64_t GH = G * H;
  if (w.dim(0) != D || w.dim(1) != GH || w.dim(2) != I || rr.dim(0) != D || rr.dim(1) != GH || rr.dim(2) != H)
    return ctx.error("W " + dims_to_string(w.dims()) + " / R " + dims_to_string(rr.dims()) + " do not match hidden_size " +
                     std::to_string(H) + ", input size " + std::to_string(I) + " and " + std::to_string(D) + " direction(s)");
  if (ctx.has_input(3) && ctx.input(3).numel() != D * 2 * GH) return ctx.error("B must have [num_directions, 2*gates*hidden] values");
  const float clip = at.has_clip ? at.clip : std::numeric_limits<float>::infinity();
  std::vector<int64_t> lens(static_cast<size_t>(N), S);
  if (ctx.has_input(4)) {
    const Tensor& l = ctx.input(4);
    if (l.numel() != N) return ctx.error("sequence_lens must have one entry per batch row");
    for (int64_t b = 0; b < N; ++b) {
      lens[b] = l.as_int64(b);
      if (lens[b] < 0 || lens[b] > S) return ctx.error("sequence_lens entry " + std::to_string(lens[b]) + " is out of [0, seq]");
    }
  }
  auto state_in = [&](size_t i, std::vector<float>* out) -> Status {  // initial_h / initial_c -> [D][N][H]
    out->assign(static_cast<size_t>(D * N * H), 0.f);
    if (!ctx.has_input(i)) return ok_status();
    const Tensor& t = ctx.input(i);
    if (t.numel() != D * N * H) return ctx.error("initial state (input " + std::to_string(i) + ") has the wrong size");
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < N; ++b)
        std::memcpy(out->data() + (d * N + b) * H, t.data<float>() + (batch_first ? b * D + d : d * N + b) * H, H * 4);
    return ok_status();
  };
  std::vector<float> h0, c0, peep(static_cast<size_t>(D * 3 * H), 0.f);
  KILN_RETURN_IF_ERROR(state_in(5, &h0));
  if (lstm) {
    KILN_RETURN_IF_ERROR(state_in(6, &c0));
    if (ctx.has_input(7)) {
      if (ctx.input(7).numel() != D * 3 * H) return ctx.error("P must have [num_directions, 3*hidden] values");
      std::copy(ctx.input(7).data<float>(), ctx.input(7).data<float>() + D * 3 * H, peep.data());
    }
  }
  // Per-node state: the prepared weights (kept when they are constants) and the scratch vectors, reused by every
  // run so steady-state inference does not allocate.
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<RnnState>();
  RnnState& st = *static_cast<RnnState*>(slot.get());
  const bool constant = ctx.input_is_constant(1) && ctx.input_is_constant(2) && (!ctx.has_input(3) || ctx.input_is_constant(3));
  const bool lbr = G == 3 && at.linear_before_reset;
  const bool split_h = G == 3 && !lbr;
  const bool relu = rnn && !at.default_activations;  // rnn_supports: then every activation is Relu
  if (!constant || !st.prepared) {
    st.prep = prepare(ctx, D, G, H, I, split_h, lbr);
    st.prepared = constant;
    st.bf16_rows = st.bf16_proj_rows = -1;
  }
  const Prepared* prep = &st.prep;
  const GemmThreadsGuard restore_threads{ctx.num_threads()};
  const bool coupled = lstm && at.input_forget;
  // The work split. Batch rows are independent through the whole recurrence and so are directions: the node runs as
  // D x `slices` tasks (a direction over a slice of the rows), in parallel with no synchronization between steps, when
  // the context has threads for them and each task has enough work. Otherwise one task per direction, one after the
  // other, whose per-step product may be threaded instead (batch 1, where rows cannot be split).
  const int threads = ctx.num_threads();
  const int64_t GHp = split_h ? 2 * H : GH;  // columns of a step's first product
  int64_t slices = threads > 1 ? std::max<int64_t>(1, std::min<int64_t>(N, threads / D)) : 1;
  while (slices > 1 && S * (N / slices) * GH * H < kParallelTaskWork) --slices;
  const int64_t tasks = D * slices;
  const bool tasks_parallel = tasks > 1 && threads > 1 && S * (N / slices) * GH * H >= kParallelTaskWork;
  // Otherwise, rows that cannot be split may still run as a team split over the hidden units (float32 products).
  // In bf16 engines its products are bf16 where the CPU has AVX512-BF16, as the steps' oneDNN products would be.
  const int team = team_parts(threads, tasks_parallel, slices, !split_h, S, N, GH, H);
  const bool team_bf16 = team > 0 && onednn::use_bf16(ctx) && packed_bf16_available();
  if (team > 0 && (!ctx.input_is_constant(2) || st.team.parts != team || st.team.H != H || st.team.bf16 != team_bf16 ||
                   st.team.dir.size() != static_cast<size_t>(D)))
    build_team(st.team, ctx.input(2).data<float>(), D, G, H, team, team_bf16);
  // bf16 products (built once per batch size and split; a oneDNN without them keeps the float32 products).
  const bool bf16_engine = onednn::use_bf16(ctx) && N > 0 && S > 0;
  bool bf16_steps = team == 0 && bf16_engine && (N / slices) * GHp * H >= kBf16StepWork;
  bool bf16_proj = bf16_engine && S * N * GH * I >= kBf16ProjectionWork;
  const bool weights_constant = ctx.input_is_constant(1) && ctx.input_is_constant(2);
  auto slice_rows = [&](int64_t k, int64_t* b0) {
    const int64_t sl = k % slices;
    *b0 = N * sl / slices;
    return N * (sl + 1) / slices - *b0;
  };
  st.task.resize(static_cast<size_t>(tasks));
  try {
    if (bf16_steps && (st.bf16_rows != N || st.bf16_slices != slices || !weights_constant)) {
      st.bf16_rows = -1;
      for (int64_t k = 0; k < tasks; ++k) {
        int64_t b0 = 0;
        const int64_t m = slice_rows(k, &b0);
        const float* r = ctx.input(2).data<float>() + (k / slices) * GH * H;
        build_bf16_product(st.task[k].rec, r, m, H, GHp, GH, nullptr);
        if (split_h) build_bf16_product(st.task[k].rec_h, r + 2 * H * H, m, H, H, H, nullptr);
      }
      st.bf16_rows = N;
      st.bf16_slices = slices;
    }
    if (bf16_proj && (st.bf16_proj_rows != S * N || !constant)) {
      st.bf16_proj_rows = -1;
      for (int64_t d = 0; d < D; ++d)
        build_bf16_product(st.dir[d].proj, ctx.input(1).data<float>() + d * GH * I, S * N, I, GH, GH,
                           prep->xbias.data() + d * GH);
      st.bf16_proj_rows = S * N;
    }
  } catch (const dnnl::error&) {
    bf16_steps = bf16_proj = false;  // built nothing usable: float32 products this run
    st.bf16_rows = st.bf16_proj_rows = -1;
  }
  if (bf16_proj) {
    st.x_bf16.resize(static_cast<size_t>(S * N * I));
    floats_to_bf16(x.data<float>(), st.x_bf16.data(), S * N * I);
  }
  // Outputs.
  const Dims y_dims = batch_first ? Dims{N, S, D, H} : Dims{S, D, N, H};
  const Dims s_dims = batch_first ? Dims{N, D, H} : Dims{D, N, H};
  float* y = nullptr;
  if (ctx.wants_output(0)) {
    KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocate_output(0, DType::kFloat32, y_dims));
    y = t->data<float>();
    std::fill(y, y + t->numel(), 0.f);
  }
  st.yh.resize(static_cast<size_t>(D * N * H));
  st.yc.resize(static_cast<size_t>(D * N * H));
  // Without parallel tasks a step's product (a GEMV at batch 1) is threaded when it has enough work to pay for a
  // fork/join per step.
  const int64_t min_work =
      bf16_steps ? kBf16ThreadedStepWork : openmp_workers_spin() ? kThreadedStepWorkSpinning : kThreadedStepWork;
  const int step_threads = !tasks_parallel && N * GH * H >= min_work && threads > 1 ? threads : 1;
  // X.W^T + Wb (+ Rb where it is a plain sum) for every (t, b), rows in X's own order, one direction.
  // (A team forks anyway: its projection is threaded from less work.)
  const bool threaded_projection = S * N * GH * I >= (team > 0 ? kThreadedGemmWork / 8 : kThreadedGemmWork);
  auto project = [&](int64_t d) -> std::string {
    DirectionScratch& ds = st.dir[d];
    std::vector<float>& xw = ds.xw;
    xw.resize(static_cast<size_t>(S * N * GH));
    const float* wt = prep->wt.data() + d * I * GH;
    set_gemm_threads(threaded_projection ? threads : 1);
    if (bf16_proj) {
      try {
        run_bf16_product(ds.proj, st.x_bf16.data(), xw.data());
      } catch (const dnnl::error& e) {
        return std::string("oneDNN bf16 matmul failed (X.W^T): ") + e.what();
      }
    } else {
      const float* xb = prep->xbias.data() + d * GH;
      for (int64_t m = 0; m < S * N; ++m) std::memcpy(xw.data() + m * GH, xb, GH * 4);
      if (dnnl_sgemm('N', 'N', S * N, GH, I, 1.f, x.data<float>(), I, wt, GH, 1.f, xw.data(), GH) != dnnl_success)
        return "oneDNN sgemm failed (X.W^T)";
    }
    return std::string();
  };
  // One task: direction k / slices over batch rows [b0, b0 + m); returns an empty string or what failed. Rows are
  // local (0..m) in the task's state vectors, global (b0 + ...) in X, Y, sequence_lens and the initial states.
  auto run_task = [&](int64_t k) -> std::string {
    const int64_t d = k / slices;
    int64_t b0 = 0;
    const int64_t m = slice_rows(k, &b0);
    TaskScratch& ts = st.task[k];
    std::vector<float>& xw = st.dir[d].xw;
    std::vector<float>& hr = ts.hr;
    std::vector<float>& rh = ts.rh;
    std::vector<float>& hh = ts.hh;
    std::vector<float>& h = ts.h;
    std::vector<float>& c = ts.c;
    hr.resize(static_cast<size_t>(m * GH));
    const bool rev = at.reversed(d);
    const float* wb = prep->bias.data() + d * 2 * GH;
    const float* rb = wb + GH;
    h.assign(h0.begin() + (d * N + b0) * H, h0.begin() + (d * N + b0 + m) * H);
    if (lstm) c.assign(c0.begin() + (d * N + b0) * H, c0.begin() + (d * N + b0 + m) * H);
    const PackedMatrix& rec = prep->rec[d];
    set_gemm_threads(step_threads);  // the bf16 matmuls' OpenMP threads
    if (bf16_steps) {
      ts.h_bf16.resize(static_cast<size_t>(m * H));
      if (split_h) ts.rh_bf16.resize(static_cast<size_t>(m * H));
    }
    if (split_h) {
      rh.assign(static_cast<size_t>(m * H), 0.f);
      hh.resize(static_cast<size_t>(m * H));
    }
    // a.R^T for the whole batch into c (ldc floats per row): bf16 matmul or the packed float32 GEMM.
    auto recurrent_product = [&](const float* a, std::vector<uint16_t>& a_bf16, Bf16Product& bf, const PackedMatrix& pk,
                                 float* c_out, int64_t ldc) {
      if (!bf16_steps) return gemm_packed(m, a, H, pk, c_out, ldc, false, step_threads);
      floats_to_bf16(a, a_bf16.data(), m * H);
      run_bf16_product(bf, a_bf16.data(), c_out);
    };
    auto write_y = [&](int64_t b, int64_t t, const float* hb) {  // b: global row
      if (y) std::memcpy(y + (batch_first ? (b * S + t) * D + d : (t * D + d) * N + b) * H, hb, H * 4);
    };
    try {
      for (int64_t s = 0; s < S; ++s) {
        // h.R^T for the whole batch into hr (GRU without linear_before_reset: the z and r columns only).
        recurrent_product(h.data(), ts.h_bf16, ts.rec, rec, hr.data(), GH);
        auto xrow = [&](int64_t b, int64_t* t) {  // b: global row
          *t = rev ? lens[b] - 1 - s : s;
          return xw.data() + (batch_first ? b * S + *t : *t * N + b) * GH;
        };
        for (int64_t lb = 0; lb < m; ++lb) {
          const int64_t b = b0 + lb;
          if (s >= lens[b]) continue;
          int64_t t = 0;
          const float* xr = xrow(b, &t);
          float* g = hr.data() + lb * GH;
          float* hb = h.data() + lb * H;
          if (lstm) {
            for (int64_t j = 0; j < GH; ++j) g[j] += xr[j];
            lstm_cell(g, peep.data() + d * 3 * H, c.data() + lb * H, hb, H, clip, coupled);
            write_y(b, t, hb);
            continue;
          }
          if (rnn) {
            for (int64_t j = 0; j < H; ++j) g[j] += xr[j];
            rnn_cell(g, hb, H, clip, relu);
            write_y(b, t, hb);
            continue;
          }
          for (int64_t j = 0; j < 2 * H; ++j) g[j] += xr[j];
          gru_zr(g, 2 * H, clip);
          if (lbr) {
            for (int64_t j = 2 * H; j < GH; ++j) g[j] += rb[j];
            gru_out(g, g + H, xr + 2 * H, g + 2 * H, hb, H, clip, true);
            write_y(b, t, hb);
          } else {
            for (int64_t j = 0; j < H; ++j) rh[lb * H + j] = g[H + j] * hb[j];
          }
        }
        if (!split_h) continue;
        // GRU without linear_before_reset: (r*h).Rh^T for the whole batch (Rbh is already in xw), then the new state.
        recurrent_product(rh.data(), ts.rh_bf16, ts.rec_h, prep->rec_h[d], hh.data(), H);
        for (int64_t lb = 0; lb < m; ++lb) {
          const int64_t b = b0 + lb;
          if (s >= lens[b]) continue;
          int64_t t = 0;
          const float* xr = xrow(b, &t);
          float* g = hr.data() + lb * GH;
          float* hb = h.data() + lb * H;
          gru_out(g, g + H, xr + 2 * H, hh.data() + lb * H, hb, H, clip, false);
          write_y(b, t, hb);
        }
      }
    } catch (const dnnl::error& e) {
      return std::string("oneDNN bf16 matmul failed (h.R^T): ") + e.what();
    }
    std::copy(h.begin(), h.end(), st.yh.begin() + (d * N + b0) * H);
    if (lstm) std::copy(c.begin(), c.end(), st.yc.begin() + (d * N + b0) * H);
    return std::string();
  };
  // Direction d on the team (see TeamPlan): part p's step reads the whole previous h and writes its units of the new.
  auto run_team_direction = [&](int64_t d) {
    TeamPlan& tp = st.team;
    const int P = tp.parts;
    const bool rev = at.reversed(d);
    const float* xw = st.dir[d].xw.data();
    const float* rb = prep->bias.data() + d * 2 * GH + GH;
    tp.h.resize(static_cast<size_t>(2 * N * H));
    float* hbuf[2] = {tp.h.data(), tp.h.data() + N * H};
    std::copy(h0.begin() + d * N * H, h0.begin() + (d + 1) * N * H, hbuf[0]);
    for (int p = 0; p < P; ++p) {
      TeamPart& part = tp.dir[d][p];
      const int64_t u0 = tp.u[p], n = tp.u[p + 1] - u0;
      part.g.resize(static_cast<size_t>(N * G * n));
      if (tp.bf16) part.h_bf16.assign(static_cast<size_t>(N * 2 * ((H + 1) / 2)), 0);
      if (!lstm) continue;
      part.c.resize(static_cast<size_t>(N * n));
      part.peep.resize(static_cast<size_t>(3 * n));
      for (int64_t b = 0; b < N; ++b) std::memcpy(part.c.data() + b * n, c0.data() + (d * N + b) * H + u0, n * 4);
      for (int64_t q = 0; q < 3; ++q) std::memcpy(part.peep.data() + q * n, peep.data() + (d * 3 + q) * H + u0, n * 4);
    }
    auto step_part = [&](int p, int64_t s) {
      TeamPart& part = tp.dir[d][p];
      const int64_t u0 = tp.u[p], n = tp.u[p + 1] - u0, gw = G * n;
      const float* hp = hbuf[s & 1];
      float* hn = hbuf[(s + 1) & 1];
      if (tp.bf16) {
        const int64_t ld = 2 * ((H + 1) / 2);
        for (int64_t b = 0; b < N; ++b) floats_to_bf16(hp + b * H, part.h_bf16.data() + b * ld, H);
        gemm_packed_bf16(N, part.h_bf16.data(), ld, part.rec_bf16, part.g.data(), gw);
      } else {
        gemm_packed(N, hp, H, part.rec, part.g.data(), gw, false, 1);
      }
      for (int64_t b = 0; b < N; ++b) {
        const float* hold = hp + b * H + u0;
        float* hb = hn + b * H + u0;
        if (s >= lens[b]) {
          std::memcpy(hb, hold, n * 4);
          continue;
        }
        const int64_t t = rev ? lens[b] - 1 - s : s;
        const float* xr = xw + (batch_first ? b * S + t : t * N + b) * GH;
        float* g = part.g.data() + b * gw;
        for (int64_t gate = 0; gate < (lstm || rnn ? G : 2); ++gate)
          for (int64_t k = 0; k < n; ++k) g[gate * n + k] += xr[gate * H + u0 + k];
        if (lstm) {
          lstm_cell(g, part.peep.data(), part.c.data() + b * n, hb, n, clip, coupled);
        } else if (rnn) {
          rnn_cell(g, hb, n, clip, relu);
        } else {
          gru_zr(g, 2 * n, clip);
          for (int64_t k = 0; k < n; ++k) g[2 * n + k] += rb[2 * H + u0 + k];
          std::memcpy(hb, hold, n * 4);
          gru_out(g, g + n, xr + 2 * H + u0, g + 2 * n, hb, n, clip, true);
        }
        if (y) std::memcpy(y + (batch_first ? (b * S + t) * D + d : (t * D + d) * N + b) * H + u0, hb, n * 4);
      }
    };
    SpinBarrier barrier(P);
#ifdef _OPENMP
#pragma omp parallel num_threads(P)
    {
      const int tid = omp_get_thread_num();
      if (omp_get_num_threads() == P) {
        for (int64_t s = 0; s < S; ++s) {
          step_part(tid, s);
          barrier.wait();
        }
      } else if (tid == 0) {  // fewer threads than asked for (nested or limited): the parts one after the other
        for (int64_t s = 0; s < S; ++s)
          for (int p = 0; p < P; ++p) step_part(p, s);
      }
    }
#else
    for (int64_t s = 0; s < S; ++s)
      for (int p = 0; p < P; ++p) step_part(p, s);
#endif
    std::copy(hbuf[S & 1], hbuf[S & 1] + N * H, st.yh.begin() + d * N * H);
    if (lstm)
      for (int p = 0; p < P; ++p) {
        const int64_t u0 = tp.u[p], n = tp.u[p + 1] - u0;
        for (int64_t b = 0; b < N; ++b)
          std::memcpy(st.yc.data() + (d * N + b) * H + u0, tp.dir[d][p].c.data() + b * n, n * 4);
      }
  };
  std::vector<std::string> failed(static_cast<size_t>(std::max<int64_t>(tasks, D)));
  if (D == 2 && tasks_parallel && !threaded_projection) {  // two single-threaded projections at once
    parallel_range(2, 2, [&](int64_t begin, int64_t end) {
      for (int64_t d = begin; d < end; ++d) failed[d] = project(d);
    });
  } else {
    for (int64_t d = 0; d < D; ++d) failed[d] = project(d);
  }
  for (const std::string& why : failed)
    if (!why.empty()) return ctx.error(why);
  if (team > 0) {
    for (int64_t d = 0; d < D; ++d) run_team_direction(d);
  } else if (tasks_parallel) {
    parallel_range(static_cast<int>(std::min<int64_t>(threads, tasks)), tasks, [&](int64_t begin, int64_t end) {
      set_gemm_threads(1);
      for (int64_t k = begin; k < end; ++k) failed[k] = run_task(k);
    });
  } else {
    for (int64_t k = 0; k < tasks; ++k) failed[k] = run_task(k);
  }
  for (const std::string& why : failed)
    if (!why.empty()) return ctx.error(why);
  const std::vector<float>& yh = st.yh;
  const std::vector<float>& yc = st.yc;
  for (size_t o = 1; o <= (lstm ? 2u : 1u); ++o) {
    if (ctx.num_outputs() <= o || !ctx.wants_output(o)) continue;
    KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocate_output(o, DType::kFloat32, s_dims));
    const std::vector<float>& src = o == 1 ? yh : yc;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < N; ++b)
        std::memcpy(t->data<float>() + (batch_first ? b * D + d : d * N + b) * H, src.data() + (d * N + b) * H, H * 4);
  }
  return ok_status();
}

}  // namespace

NodeSupport lstm_supports(const Graph& g, const Node& n) { return rnn_supports(g, n, 4); }
NodeSupport gru_supports(const Graph& g, const Node& n) { return rnn_supports(g, n, 3); }
NodeSupport plain_rnn_supports(const Graph& g, const Node& n) { return rnn_supports(g, n, 1); }
Status lstm_run(CpuKernelContext& ctx) { return rnn_run(ctx, 4); }
Status gru_run(CpuKernelContext& ctx) { return rnn_run(ctx, 3); }
Status plain_rnn_run(CpuKernelContext& ctx) { return rnn_run(ctx, 1); }

}  // namespace kiln::cpu::kern
