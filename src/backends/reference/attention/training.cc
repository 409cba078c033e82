// Reference kernels for ai.onnx.preview.training optimizers: Adagrad, Adam and Momentum (one update step).
#include <cmath>

#include "backends/reference/attention/float_io.h"
#include "backends/reference/attention/kernels.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers
namespace {

// The scalar learning rate R and step count T, plus the number of optimized tensors given `groups` inputs
// per tensor (X, G, ... state tensors).
Status read_common(const KernelContext& ctx, size_t groups, double* r, int64_t* t, size_t* n) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& rt = ctx.input(0);
  const Tensor& tt = ctx.input(1);
  if (!is_compute_float(rt.dtype()) || rt.numel() != 1) return ctx.error("R must be a float scalar");
  if (!is_integer(tt.dtype()) || tt.numel() != 1) return ctx.error("T must be an int64 scalar");
  *r = rt.as_double(0);
  *t = tt.as_int64(0);
  const size_t rest = ctx.num_inputs() - 2;
  if (rest == 0 || rest % groups != 0)
    return ctx.error("expected " + std::to_string(groups) + "*n tensors after R and T, got " + std::to_string(rest));
  *n = rest / groups;
  if (ctx.num_outputs() > (groups - 1) * *n)
    return ctx.error("expected at most " + std::to_string((groups - 1) * *n) + " outputs, got " +
                     std::to_string(ctx.num_outputs()));
  return ok_status();
}

// The k-th group's tensor for optimized tensor i, validated against X_i's shape and dtype.
Status group_tensor(const KernelContext& ctx, size_t n, size_t group, size_t i, std::vector<double>* out) {
  const size_t idx = 2 + group * n + i;
  KILN_RETURN_IF_ERROR(ctx.require_tensor(idx));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2 + i));
  const Tensor& x = ctx.input(2 + i);
  const Tensor& t = ctx.input(idx);
  if (!is_compute_float(t.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(t.dtype()) + " is not supported");
  if (t.dims() != x.dims())
    return ctx.error("input " + std::to_string(idx) + " has shape " + dims_str(t.dims()) + ", expected X's " +
                     dims_str(x.dims()));
  *out = read_doubles(t);
  return ok_status();
}

Status set_out(KernelContext& ctx, size_t i, const Tensor& like, const std::vector<double>& v) {
  if (!ctx.wants_output(i)) return ok_status();
  KILN_ASSIGN_OR_RETURN(Tensor t, make_tensor_from_doubles(like.dtype(), like.dims(), v));
  ctx.set_output(i, std::move(t));
  return ok_status();
}

}  // namespace

Status train_adagrad_kernel(KernelContext& ctx) {
  double r;
  int64_t t;
  size_t n;
  KILN_RETURN_IF_ERROR(read_common(ctx, 3, &r, &t, &n));
  const auto& a = ctx.attrs();
  const double decay = a.get_float("decay_factor", 0.f), eps = a.get_float("epsilon", 1e-6f);
  const double norm = a.get_float("norm_coefficient", 0.f);
  const double lr = r / (1.0 + static_cast<double>(t) * decay);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> x, g, h;
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 0, i, &x));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 1, i, &g));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 2, i, &h));
    for (size_t k = 0; k < x.size(); ++k) {
      const double gr = norm * x[k] + g[k];
      h[k] += gr * gr;
      x[k] -= lr * gr / (std::sqrt(h[k]) + eps);
    }
    KILN_RETURN_IF_ERROR(set_out(ctx, i, ctx.input(2 + i), x));
    KILN_RETURN_IF_ERROR(set_out(ctx, n + i, ctx.input(2 + 2 * n + i), h));
  }
  return ok_status();
}

Status train_adam_kernel(KernelContext& ctx) {
  double r;
  int64_t t;
  size_t n;
  KILN_RETURN_IF_ERROR(read_common(ctx, 4, &r, &t, &n));
  const auto& a = ctx.attrs();
  const double alpha = a.get_float("alpha", 0.9f), beta = a.get_float("beta", 0.999f);
  const double eps = a.get_float("epsilon", 1e-6f), norm = a.get_float("norm_coefficient", 0.f);
  const double norm_post = a.get_float("norm_coefficient_post", 0.f);
  // Bias correction of the moments once T > 0.
  const double td = static_cast<double>(t);
  const double lr = t > 0 ? r * std::sqrt(1.0 - std::pow(beta, td)) / (1.0 - std::pow(alpha, td)) : r;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> x, g, v, h;
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 0, i, &x));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 1, i, &g));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 2, i, &v));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 3, i, &h));
    for (size_t k = 0; k < x.size(); ++k) {
      const double gr = norm * x[k] + g[k];
      v[k] = alpha * v[k] + (1.0 - alpha) * gr;
      h[k] = beta * h[k] + (1.0 - beta) * gr * gr;
      x[k] = (1.0 - norm_post) * (x[k] - lr * v[k] / (std::sqrt(h[k]) + eps));
    }
    KILN_RETURN_IF_ERROR(set_out(ctx, i, ctx.input(2 + i), x));
    KILN_RETURN_IF_ERROR(set_out(ctx, n + i, ctx.input(2 + 2 * n + i), v));
    KILN_RETURN_IF_ERROR(set_out(ctx, 2 * n + i, ctx.input(2 + 3 * n + i), h));
  }
  return ok_status();
}

Status train_momentum_kernel(KernelContext& ctx) {
  double r;
  int64_t t;
  size_t n;
  KILN_RETURN_IF_ERROR(read_common(ctx, 3, &r, &t, &n));
  const auto& a = ctx.attrs();
  for (const char* req : {"alpha", "beta", "mode", "norm_coefficient"}) {
    if (!a.has(req)) return ctx.error(std::string("attribute '") + req + "' is required");
  }
  const double alpha = a.get_float("alpha"), beta = a.get_float("beta"), norm = a.get_float("norm_coefficient");
  const std::string mode = a.get_string("mode");
  if (mode != "standard" && mode != "nesterov")
    return ctx.error("mode must be standard or nesterov, got '" + mode + "'");
  // The gradient's coefficient is 1 on the first step (T == 0).
  const double beta_adj = t > 0 ? beta : 1.0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> x, g, v;
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 0, i, &x));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 1, i, &g));
    KILN_RETURN_IF_ERROR(group_tensor(ctx, n, 2, i, &v));
    for (size_t k = 0; k < x.size(); ++k) {
      const double gr = norm * x[k] + g[k];
      v[k] = alpha * v[k] + beta_adj * gr;
      x[k] -= mode == "standard" ? r * v[k] : r * (gr + alpha * v[k]);
    }
    KILN_RETURN_IF_ERROR(set_out(ctx, i, ctx.input(2 + i), x));
    KILN_RETURN_IF_ERROR(set_out(ctx, n + i, ctx.input(2 + 2 * n + i), v));
  }
  return ok_status();
}

}  // namespace kiln
