// Shared plumbing of the RNN/GRU/LSTM reference kernels.
#include "backends/reference/attention/rnn_common.h"

#include <algorithm>
#include <cmath>

#include "backends/reference/attention/float_io.h"

namespace kiln {
namespace attn {
namespace {

// Reads optional input `i` as doubles with the expected dims, or zeros when absent.
Status read_optional(const KernelContext& ctx, size_t i, const char* name, const Dims& want, DType dtype,
                     std::vector<double>* out) {
  const int64_t n = dims_numel(want);
  if (!ctx.has_input(i)) {
    out->assign(static_cast<size_t>(n), 0.0);
    return ok_status();
  }
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& t = ctx.input(i);
  if (t.dims() != want)
    return ctx.error(std::string(name) + " must have shape " + dims_str(want) + ", got " + dims_str(t.dims()));
  if (t.dtype() != dtype)
    return ctx.error(std::string(name) + " dtype " + dtype_name(t.dtype()) + " differs from X dtype " +
                     dtype_name(dtype));
  *out = read_doubles(t);
  return ok_status();
}

// [batch, dirs, hidden] -> [dirs, batch, hidden] (for the batch-first layout's initial states).
std::vector<double> swap01(const std::vector<double>& v, int64_t n0, int64_t n1, int64_t inner) {
  std::vector<double> out(v.size());
  for (int64_t i = 0; i < n0; ++i)
    for (int64_t j = 0; j < n1; ++j)
      for (int64_t k = 0; k < inner; ++k) out[(j * n0 + i) * inner + k] = v[(i * n1 + j) * inner + k];
  return out;
}

}  // namespace

double RnnProblem::act(int64_t dir, int k, double v) const {
  const size_t per_dir = acts.size() / static_cast<size_t>(dirs);
  return rnn_activate(acts[static_cast<size_t>(dir) * per_dir + k], clipped(v));
}

Status load_rnn_problem(const KernelContext& ctx, RnnProblem* pb) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& r = ctx.input(2);
  if (!is_compute_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported");
  pb->dtype = x.dtype();
  auto parsed = rnn_params(ctx.node());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const RnnParams& a = *parsed;
  const bool lstm = a.gates == 4;
  pb->dirs = a.num_directions;
  pb->reverse_only = a.direction == RnnDirection::kReverse;
  pb->batch_first = a.batch_first;
  pb->has_clip = a.has_clip;
  pb->clip = a.clip;
  pb->acts = a.activations;
  pb->linear_before_reset = a.linear_before_reset;
  pb->input_forget = a.input_forget;
  if (x.rank() != 3) return ctx.error("X must be 3-D, got " + dims_str(x.dims()));
  pb->seq = pb->batch_first ? x.dim(1) : x.dim(0);
  pb->batch = pb->batch_first ? x.dim(0) : x.dim(1);
  pb->input = x.dim(2);
  if (r.rank() != 3) return ctx.error("R must be 3-D, got " + dims_str(r.dims()));
  pb->hidden = r.dim(2);
  if (a.hidden_size >= 0 && a.hidden_size != pb->hidden)
    return ctx.error("hidden_size attribute " + std::to_string(a.hidden_size) + " does not match R's last dim " +
                     std::to_string(pb->hidden));
  const int64_t D = pb->dirs, H = pb->hidden, G = a.gates;
  if (w.dims() != Dims{D, G * H, pb->input})
    return ctx.error("W must have shape " + dims_str({D, G * H, pb->input}) + ", got " + dims_str(w.dims()));
  if (r.dims() != Dims{D, G * H, H})
    return ctx.error("R must have shape " + dims_str({D, G * H, H}) + ", got " + dims_str(r.dims()));
  if (w.dtype() != x.dtype() || r.dtype() != x.dtype()) return ctx.error("W and R must have X's dtype");

  pb->x = read_doubles(x);
  if (pb->batch_first) pb->x = swap01(pb->x, pb->batch, pb->seq, pb->input);
  pb->w = read_doubles(w);
  pb->r = read_doubles(r);
  KILN_RETURN_IF_ERROR(read_optional(ctx, 3, "B", {D, 2 * G * H}, x.dtype(), &pb->b));

  pb->lens.assign(static_cast<size_t>(pb->batch), pb->seq);
  if (ctx.has_input(4)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(4));
    const Tensor& sl = ctx.input(4);
    if (!is_integer(sl.dtype())) return ctx.error("sequence_lens must be an integer tensor");
    if (sl.dims() != Dims{pb->batch})
      return ctx.error("sequence_lens must have shape [" + std::to_string(pb->batch) + "], got " + dims_str(sl.dims()));
    pb->lens = tensor_to_int64s(sl);
    for (int64_t v : pb->lens) {
      if (v < 0 || v > pb->seq)
        return ctx.error("sequence_lens value " + std::to_string(v) + " is outside [0, " + std::to_string(pb->seq) +
                         "]");
    }
  }
  const Dims state_dims = pb->batch_first ? Dims{pb->batch, D, H} : Dims{D, pb->batch, H};
  KILN_RETURN_IF_ERROR(read_optional(ctx, 5, "initial_h", state_dims, x.dtype(), &pb->h0));
  if (pb->batch_first) pb->h0 = swap01(pb->h0, pb->batch, D, H);
  if (lstm) {
    KILN_RETURN_IF_ERROR(read_optional(ctx, 6, "initial_c", state_dims, x.dtype(), &pb->c0));
    if (pb->batch_first) pb->c0 = swap01(pb->c0, pb->batch, D, H);
    KILN_RETURN_IF_ERROR(read_optional(ctx, 7, "P", {D, 3 * H}, x.dtype(), &pb->p));
  }
  return ok_status();
}

Status write_rnn_outputs(KernelContext& ctx, const RnnProblem& pb, const std::vector<double>& y,
                         const std::vector<double>& yh, const std::vector<double>* yc) {
  const int64_t S = pb.seq, D = pb.dirs, N = pb.batch, H = pb.hidden;
  if (ctx.wants_output(0)) {
    std::vector<double> out = y;
    Dims dims{S, D, N, H};
    if (pb.batch_first) {
      // [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden]
      dims = {N, S, D, H};
      for (int64_t t = 0; t < S; ++t)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t b = 0; b < N; ++b)
            for (int64_t h = 0; h < H; ++h) out[((b * S + t) * D + d) * H + h] = y[((t * D + d) * N + b) * H + h];
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, make_tensor_from_doubles(pb.dtype, dims, out));
    ctx.set_output(0, std::move(t));
  }
  const std::vector<double>* states[2] = {&yh, yc};
  for (size_t k = 0; k < 2; ++k) {
    if (!states[k] || !ctx.wants_output(k + 1)) continue;
    std::vector<double> out = *states[k];
    Dims dims{D, N, H};
    if (pb.batch_first) {
      dims = {N, D, H};
      out = swap01(*states[k], D, N, H);
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, make_tensor_from_doubles(pb.dtype, dims, out));
    ctx.set_output(k + 1, std::move(t));
  }
  return ok_status();
}

}  // namespace attn
}  // namespace kiln
