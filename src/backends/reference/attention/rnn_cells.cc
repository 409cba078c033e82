// Reference kernels for ONNX RNN, GRU and LSTM: per batch entry and direction, step the cell through time.
#include "backends/reference/attention/kernels.h"
#include "backends/reference/attention/rnn_common.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers
namespace {

// Per-direction views of the weights.
struct DirWeights {
  const double* w;   // [G*H, I]
  const double* r;   // [G*H, H]
  const double* wb;  // [G*H]
  const double* rb;  // [G*H]
  const double* p;   // [3*H] (LSTM only)
};

DirWeights dir_weights(const RnnProblem& pb, int64_t dir, int64_t gates) {
  const int64_t GH = gates * pb.hidden;
  DirWeights dw;
  dw.w = pb.w.data() + dir * GH * pb.input;
  dw.r = pb.r.data() + dir * GH * pb.hidden;
  dw.wb = pb.b.data() + dir * 2 * GH;
  dw.rb = dw.wb + GH;
  dw.p = pb.p.empty() ? nullptr : pb.p.data() + dir * 3 * pb.hidden;
  return dw;
}

// One cell step: reads x_t and the previous state (h, c), writes the new state in place.
using CellStep = void (*)(const RnnProblem& pb, int64_t dir, const DirWeights& dw, const double* xt,
                          std::vector<double>& h, std::vector<double>& c, bool flag);

void rnn_step(const RnnProblem& pb, int64_t dir, const DirWeights& dw, const double* xt, std::vector<double>& h,
              std::vector<double>& c, bool) {
  const int64_t H = pb.hidden, I = pb.input;
  std::vector<double> out(static_cast<size_t>(H));
  for (int64_t k = 0; k < H; ++k) {
    const double pre = row_dot(dw.w, k, I, xt) + row_dot(dw.r, k, H, h.data()) + dw.wb[k] + dw.rb[k];
    out[k] = pb.act(dir, 0, pre);
  }
  h = out;
  (void)c;
}

// linear_before_reset selects h = g(Wh x + r * (Rh h + Rbh) + Wbh) instead of g(Wh x + Rh (r * h) + Rbh + Wbh).
void gru_step(const RnnProblem& pb, int64_t dir, const DirWeights& dw, const double* xt, std::vector<double>& h,
              std::vector<double>& c, bool linear_before_reset) {
  const int64_t H = pb.hidden, I = pb.input;
  std::vector<double> z(H), r(H), rh(H), out(H);
  for (int64_t k = 0; k < H; ++k) {
    z[k] = pb.act(dir, 0, row_dot(dw.w, k, I, xt) + row_dot(dw.r, k, H, h.data()) + dw.wb[k] + dw.rb[k]);
    r[k] =
        pb.act(dir, 0, row_dot(dw.w, H + k, I, xt) + row_dot(dw.r, H + k, H, h.data()) + dw.wb[H + k] + dw.rb[H + k]);
  }
  for (int64_t k = 0; k < H; ++k) rh[k] = r[k] * h[k];
  for (int64_t k = 0; k < H; ++k) {
    const double xw = row_dot(dw.w, 2 * H + k, I, xt) + dw.wb[2 * H + k];
    double pre;
    if (linear_before_reset) {
      pre = xw + r[k] * (row_dot(dw.r, 2 * H + k, H, h.data()) + dw.rb[2 * H + k]);
    } else {
      pre = xw + row_dot(dw.r, 2 * H + k, H, rh.data()) + dw.rb[2 * H + k];
    }
    const double hh = pb.act(dir, 1, pre);
    out[k] = (1.0 - z[k]) * hh + z[k] * h[k];
  }
  h = out;
  (void)c;
}

// Gate order i, o, f, c; peepholes P = [Pi, Po, Pf]. input_forget couples the gates: f = 1 - i.
void lstm_step(const RnnProblem& pb, int64_t dir, const DirWeights& dw, const double* xt, std::vector<double>& h,
               std::vector<double>& c, bool input_forget) {
  const int64_t H = pb.hidden, I = pb.input;
  std::vector<double> nh(H), nc(H);
  auto pre = [&](int64_t gate, int64_t k) {
    const int64_t row = gate * H + k;
    return row_dot(dw.w, row, I, xt) + row_dot(dw.r, row, H, h.data()) + dw.wb[row] + dw.rb[row];
  };
  for (int64_t k = 0; k < H; ++k) {
    const double pi = dw.p ? dw.p[k] : 0.0, po = dw.p ? dw.p[H + k] : 0.0, pf = dw.p ? dw.p[2 * H + k] : 0.0;
    const double i = pb.act(dir, 0, pre(0, k) + pi * c[k]);
    const double f = input_forget ? 1.0 - i : pb.act(dir, 0, pre(2, k) + pf * c[k]);
    const double g = pb.act(dir, 1, pre(3, k));
    nc[k] = f * c[k] + i * g;
    const double o = pb.act(dir, 0, pre(1, k) + po * nc[k]);
    nh[k] = o * pb.act(dir, 2, nc[k]);
  }
  h = nh;
  c = nc;
}

// Runs `step` over every direction and batch entry; fills y [seq, dirs, batch, hidden] (zeros past a
// sequence's length), yh and yc [dirs, batch, hidden].
void run_recurrence(const RnnProblem& pb, int64_t gates, CellStep step, bool flag, std::vector<double>* y,
                    std::vector<double>* yh, std::vector<double>* yc) {
  const int64_t S = pb.seq, D = pb.dirs, N = pb.batch, H = pb.hidden, I = pb.input;
  y->assign(static_cast<size_t>(S * D * N * H), 0.0);
  yh->assign(static_cast<size_t>(D * N * H), 0.0);
  yc->assign(static_cast<size_t>(D * N * H), 0.0);
  for (int64_t dir = 0; dir < D; ++dir) {
    const DirWeights dw = dir_weights(pb, dir, gates);
    for (int64_t b = 0; b < N; ++b) {
      std::vector<double> h(pb.h0.begin() + (dir * N + b) * H, pb.h0.begin() + (dir * N + b + 1) * H);
      std::vector<double> c(static_cast<size_t>(H), 0.0);
      if (!pb.c0.empty()) c.assign(pb.c0.begin() + (dir * N + b) * H, pb.c0.begin() + (dir * N + b + 1) * H);
      const int64_t len = pb.lens[b];
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = pb.reversed(dir) ? len - 1 - s : s;
        step(pb, dir, dw, pb.x.data() + (t * N + b) * I, h, c, flag);
        for (int64_t k = 0; k < H; ++k) (*y)[((t * D + dir) * N + b) * H + k] = h[k];
      }
      for (int64_t k = 0; k < H; ++k) {
        (*yh)[(dir * N + b) * H + k] = h[k];
        (*yc)[(dir * N + b) * H + k] = c[k];
      }
    }
  }
}

}  // namespace

Status rnn_kernel(KernelContext& ctx) {
  RnnProblem pb;
  KILN_RETURN_IF_ERROR(load_rnn_problem(ctx, &pb));
  std::vector<double> y, yh, yc;
  run_recurrence(pb, 1, rnn_step, false, &y, &yh, &yc);
  return write_rnn_outputs(ctx, pb, y, yh, nullptr);
}

Status gru_kernel(KernelContext& ctx) {
  RnnProblem pb;
  KILN_RETURN_IF_ERROR(load_rnn_problem(ctx, &pb));
  const bool lbr = pb.linear_before_reset;
  std::vector<double> y, yh, yc;
  run_recurrence(pb, 3, gru_step, lbr, &y, &yh, &yc);
  return write_rnn_outputs(ctx, pb, y, yh, nullptr);
}

Status lstm_kernel(KernelContext& ctx) {
  RnnProblem pb;
  KILN_RETURN_IF_ERROR(load_rnn_problem(ctx, &pb));
  const bool input_forget = pb.input_forget;
  std::vector<double> y, yh, yc;
  run_recurrence(pb, 4, lstm_step, input_forget, &y, &yh, &yc);
  return write_rnn_outputs(ctx, pb, y, yh, &yc);
}

}  // namespace kiln
