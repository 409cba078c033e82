// Shared plumbing of the RNN/GRU/LSTM reference kernels.
#include "backends/reference/attention/rnn_common.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "backends/reference/attention/float_io.h"

namespace kiln {
namespace attn {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct ActSpec {
  const char* name;
  RnnActivation::Kind kind;
  bool uses_alpha, uses_beta;
  double def_alpha, def_beta;
};

constexpr ActSpec kActSpecs[] = {
    {"relu", RnnActivation::Kind::kRelu, false, false, 0, 0},
    {"tanh", RnnActivation::Kind::kTanh, false, false, 0, 0},
    {"sigmoid", RnnActivation::Kind::kSigmoid, false, false, 0, 0},
    {"affine", RnnActivation::Kind::kAffine, true, true, 1.0, 0.0},
    {"leakyrelu", RnnActivation::Kind::kLeakyRelu, true, false, 0.01, 0},
    {"thresholdedrelu", RnnActivation::Kind::kThresholdedRelu, true, false, 1.0, 0},
    {"scaledtanh", RnnActivation::Kind::kScaledTanh, true, true, 1.0, 1.0},
    {"hardsigmoid", RnnActivation::Kind::kHardSigmoid, true, true, 0.2, 0.5},
    {"elu", RnnActivation::Kind::kElu, true, false, 1.0, 0},
    {"softsign", RnnActivation::Kind::kSoftsign, false, false, 0, 0},
    {"softplus", RnnActivation::Kind::kSoftplus, false, false, 0, 0},
};

Status parse_activations(const KernelContext& ctx, const std::vector<std::string>& defaults, int64_t dirs,
                         std::vector<RnnActivation>* out) {
  const auto& a = ctx.attrs();
  std::vector<std::string> names = a.get_strings("activations");
  const size_t per_dir = defaults.size();
  if (names.empty()) {
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (dirs == 2 && names.size() == per_dir) {
    std::vector<std::string> twice = names;
    twice.insert(twice.end(), names.begin(), names.end());
    names = twice;
  }
  if (names.size() != per_dir * static_cast<size_t>(dirs))
    return ctx.error("activations must list " + std::to_string(per_dir * dirs) + " functions, got " +
                     std::to_string(names.size()));
  const std::vector<float> alphas = a.get_floats("activation_alpha");
  const std::vector<float> betas = a.get_floats("activation_beta");
  size_t ai = 0, bi = 0;
  for (const std::string& n : names) {
    const std::string ln = lower(n);
    const ActSpec* spec = nullptr;
    for (const ActSpec& s : kActSpecs) {
      if (ln == s.name) spec = &s;
    }
    if (!spec) return ctx.unsupported("activation function '" + n + "' is not supported");
    RnnActivation act;
    act.kind = spec->kind;
    act.alpha = spec->def_alpha;
    act.beta = spec->def_beta;
    // Alphas and betas are consumed in order by the activations that take them.
    if (spec->uses_alpha && ai < alphas.size()) act.alpha = alphas[ai++];
    if (spec->uses_beta && bi < betas.size()) act.beta = betas[bi++];
    out->push_back(act);
  }
  return ok_status();
}

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

double RnnActivation::apply(double x) const {
  switch (kind) {
    case Kind::kRelu:
      return x > 0 ? x : 0.0;
    case Kind::kTanh:
      return std::tanh(x);
    case Kind::kSigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case Kind::kAffine:
      return alpha * x + beta;
    case Kind::kLeakyRelu:
      return x >= 0 ? x : alpha * x;
    case Kind::kThresholdedRelu:
      return x > alpha ? x : 0.0;
    case Kind::kScaledTanh:
      return alpha * std::tanh(beta * x);
    case Kind::kHardSigmoid:
      return std::max(0.0, std::min(1.0, alpha * x + beta));
    case Kind::kElu:
      return x >= 0 ? x : alpha * (std::exp(x) - 1.0);
    case Kind::kSoftsign:
      return x / (1.0 + std::fabs(x));
    case Kind::kSoftplus:
      return std::log1p(std::exp(x));
  }
  return x;
}

double RnnProblem::act(int64_t dir, int k, double v) const {
  const size_t per_dir = acts.size() / static_cast<size_t>(dirs);
  return acts[static_cast<size_t>(dir) * per_dir + k].apply(clipped(v));
}

Status load_rnn_problem(const KernelContext& ctx, int gates, const std::vector<std::string>& default_acts, bool lstm,
                        RnnProblem* pb) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& r = ctx.input(2);
  if (!is_compute_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported");
  pb->dtype = x.dtype();
  const auto& a = ctx.attrs();
  const std::string direction = a.get_string("direction", "forward");
  if (direction == "forward" || direction == "reverse") {
    pb->dirs = 1;
    pb->reverse_only = direction == "reverse";
  } else if (direction == "bidirectional") {
    pb->dirs = 2;
  } else {
    return ctx.error("direction must be forward, reverse or bidirectional, got '" + direction + "'");
  }
  const int64_t layout = a.get_int("layout", 0);
  if (layout != 0 && layout != 1) return ctx.error("layout must be 0 or 1, got " + std::to_string(layout));
  pb->batch_first = layout == 1;
  if (x.rank() != 3) return ctx.error("X must be 3-D, got " + dims_str(x.dims()));
  pb->seq = pb->batch_first ? x.dim(1) : x.dim(0);
  pb->batch = pb->batch_first ? x.dim(0) : x.dim(1);
  pb->input = x.dim(2);
  if (r.rank() != 3) return ctx.error("R must be 3-D, got " + dims_str(r.dims()));
  pb->hidden = r.dim(2);
  if (a.has("hidden_size") && a.get_int("hidden_size") != pb->hidden)
    return ctx.error("hidden_size attribute " + std::to_string(a.get_int("hidden_size")) +
                     " does not match R's last dim " + std::to_string(pb->hidden));
  const int64_t D = pb->dirs, H = pb->hidden, G = gates;
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
  if (a.has("clip")) {
    pb->has_clip = true;
    pb->clip = a.get_float("clip");
    if (!(pb->clip > 0)) return ctx.error("clip must be positive");
  }
  return parse_activations(ctx, default_acts, D, &pb->acts);
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
