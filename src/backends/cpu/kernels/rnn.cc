// LSTM and GRU on float32 with the default activations: X.W^T for every time step at once (oneDNN's sgemm against
// W^T prepared once per context), then per step h.R^T for the whole batch (packed_gemm on R^T packed once) and
// vectorized gate math. Directions,
// layouts 0/1, sequence_lens, initial states, peepholes, clip, input_forget and linear_before_reset follow the
// reference kernels (src/backends/reference/attention/rnn_cells.cc).
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.h>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/packed_gemm.h"
#include "backends/cpu/kernels/rnn.h"
#include "backends/cpu/kernels/vec_math.h"
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
  std::vector<PackedMatrix> rec, rec_h;  // [D]
};

void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

struct RnnState {
  Prepared prep;
  bool prepared = false;  // prep holds constant weights (computed once)
  std::vector<float> xw, hr, rh, hh, h, c, yh, yc;
};

// `split_h`: GRU without linear_before_reset (the hidden gate's recurrent product is taken of r*h, not h).
Prepared prepare(const CpuKernelContext& ctx, int64_t D, int64_t G, int64_t H, int64_t I, bool split_h) {
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
  return p;
}

NodeSupport rnn_supports(const Graph& g, const Node& n, bool lstm) {
  auto p = rnn_params(n);
  if (!p.ok()) return NodeSupport::no(p.status().message());
  if (p->gates != (lstm ? 4 : 3)) return NodeSupport::no("not a GRU or LSTM");
  if (!p->default_activations) return NodeSupport::no("non-default activations");
  NodeSupport s = require_dtypes(g, n, {0, 1, 2, 3, 5, 6, 7}, {DType::kFloat32});
  if (!s.supported) return s;
  if (n.has_input(4) && input_dtype(g, n, 4) != DType::kInt32) return NodeSupport::no("sequence_lens is not int32");
  if (!input_constant(g, n, 1) || !input_constant(g, n, 2)) return NodeSupport::no("W and R are not initializers");
  return NodeSupport::yes();
}

Status rnn_run(CpuKernelContext& ctx, bool lstm) {
  const int64_t G = lstm ? 4 : 3;
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
  const bool lbr = !lstm && at.linear_before_reset;
  if (!constant || !st.prepared) {
    st.prep = prepare(ctx, D, G, H, I, !lstm && !lbr);
    st.prepared = constant;
  }
  const Prepared* prep = &st.prep;
  const GemmThreadsGuard restore_threads{ctx.num_threads()};
  const bool coupled = lstm && at.input_forget;
  // Outputs.
  const Dims y_dims = batch_first ? Dims{N, S, D, H} : Dims{S, D, N, H};
  const Dims s_dims = batch_first ? Dims{N, D, H} : Dims{D, N, H};
  float* y = nullptr;
  if (ctx.wants_output(0)) {
    KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocate_output(0, DType::kFloat32, y_dims));
    y = t->data<float>();
    std::fill(y, y + t->numel(), 0.f);
  }
  std::vector<float>& xw = st.xw;
  std::vector<float>& hr = st.hr;
  std::vector<float>& rh = st.rh;
  std::vector<float>& hh = st.hh;
  std::vector<float>& h = st.h;
  std::vector<float>& c = st.c;
  std::vector<float>& yh = st.yh;
  std::vector<float>& yc = st.yc;
  xw.resize(static_cast<size_t>(S * N * GH));
  hr.resize(static_cast<size_t>(N * GH));
  yh.resize(static_cast<size_t>(D * N * H));
  yc.resize(static_cast<size_t>(D * N * H));
  for (int64_t d = 0; d < D; ++d) {
    const bool rev = at.reversed(d);
    const float* wt = prep->wt.data() + d * I * GH;
    const float* wb = prep->bias.data() + d * 2 * GH;
    const float* rb = wb + GH;
    // X.W^T + Wb (+ Rb where it is a plain sum) for every (t, b), rows in X's own order.
    set_gemm_threads(S * N * GH * I >= kThreadedGemmWork ? ctx.num_threads() : 1);
    for (int64_t m = 0; m < S * N; ++m)
      for (int64_t j = 0; j < GH; ++j) xw[m * GH + j] = wb[j] + (lbr && j >= 2 * H ? 0.f : rb[j]);
    if (dnnl_sgemm('N', 'N', S * N, GH, I, 1.f, x.data<float>(), I, wt, GH, 1.f, xw.data(), GH) != dnnl_success)
      return ctx.error("oneDNN sgemm failed (X.W^T)");
    h.assign(h0.begin() + d * N * H, h0.begin() + (d + 1) * N * H);
    if (lstm) c.assign(c0.begin() + d * N * H, c0.begin() + (d + 1) * N * H);
    // The per-step products are small (a GEMV at batch 1): they run on this thread unless a step has enough work
    // to pay for a fork/join per step.
    const PackedMatrix& rec = prep->rec[d];
    const int64_t min_work = openmp_workers_spin() ? kThreadedStepWorkSpinning : kThreadedStepWork;
    const int step_threads = N * GH * H >= min_work ? ctx.num_threads() : 1;
    if (!lstm && !lbr) {
      rh.assign(static_cast<size_t>(N * H), 0.f);
      hh.resize(static_cast<size_t>(N * H));
    }
    for (int64_t s = 0; s < S; ++s) {
      // h.R^T for the whole batch into hr (GRU without linear_before_reset: the z and r columns only).
      gemm_packed(N, h.data(), H, rec, hr.data(), GH, false, step_threads);
      auto xrow = [&](int64_t b, int64_t* t) {
        *t = rev ? lens[b] - 1 - s : s;
        return xw.data() + (batch_first ? b * S + *t : *t * N + b) * GH;
      };
      for (int64_t b = 0; b < N; ++b) {
        if (s >= lens[b]) continue;
        int64_t t = 0;
        const float* xr = xrow(b, &t);
        float* g = hr.data() + b * GH;
        float* hb = h.data() + b * H;
        if (lstm) {
          for (int64_t j = 0; j < GH; ++j) g[j] += xr[j];
          lstm_cell(g, peep.data() + d * 3 * H, c.data() + b * H, hb, H, clip, coupled);
          if (y) std::memcpy(y + (batch_first ? (b * S + t) * D + d : (t * D + d) * N + b) * H, hb, H * 4);
          continue;
        }
        for (int64_t j = 0; j < 2 * H; ++j) g[j] += xr[j];
        gru_zr(g, 2 * H, clip);
        if (lbr) {
          for (int64_t j = 2 * H; j < GH; ++j) g[j] += rb[j];
          gru_out(g, g + H, xr + 2 * H, g + 2 * H, hb, H, clip, true);
          if (y) std::memcpy(y + (batch_first ? (b * S + t) * D + d : (t * D + d) * N + b) * H, hb, H * 4);
        } else {
          for (int64_t k = 0; k < H; ++k) rh[b * H + k] = g[H + k] * hb[k];
        }
      }
      if (lstm || lbr) continue;
      // GRU without linear_before_reset: (r*h).Rh^T for the whole batch (Rbh is already in xw), then the new state.
      gemm_packed(N, rh.data(), H, prep->rec_h[d], hh.data(), H, false, step_threads);
      for (int64_t b = 0; b < N; ++b) {
        if (s >= lens[b]) continue;
        int64_t t = 0;
        const float* xr = xrow(b, &t);
        float* g = hr.data() + b * GH;
        float* hb = h.data() + b * H;
        gru_out(g, g + H, xr + 2 * H, hh.data() + b * H, hb, H, clip, false);
        if (y) std::memcpy(y + (batch_first ? (b * S + t) * D + d : (t * D + d) * N + b) * H, hb, H * 4);
      }
    }
    std::copy(h.begin(), h.end(), yh.begin() + d * N * H);
    if (lstm) std::copy(c.begin(), c.end(), yc.begin() + d * N * H);
  }
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

NodeSupport lstm_supports(const Graph& g, const Node& n) { return rnn_supports(g, n, true); }
NodeSupport gru_supports(const Graph& g, const Node& n) { return rnn_supports(g, n, false); }
Status lstm_run(CpuKernelContext& ctx) { return rnn_run(ctx, true); }
Status gru_run(CpuKernelContext& ctx) { return rnn_run(ctx, false); }

}  // namespace kiln::cpu::kern
