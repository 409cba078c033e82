// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss reference kernels (class weights, ignore_index,
// reduction none/sum/mean; mean divides by the total weight of the non-ignored targets).
#include <cmath>
#include <limits>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"

namespace kiln::math_ref {
namespace {

// Computes the loss from log-probabilities `logp` laid out as [N, C, D] (D = product of the trailing dims).
Status nll_from_log_probs(KernelContext& ctx, const Dims& in_dims, const std::vector<double>& logp, DType out_dt,
                          size_t target_input, size_t weight_input) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(target_input));
  const Tensor& target = ctx.input(target_input);
  if (target.dtype() != DType::kInt32 && target.dtype() != DType::kInt64)
    return ctx.error(std::string("target must be int32 or int64, got ") + dtype_name(target.dtype()));
  if (in_dims.size() < 2) return ctx.error("input must have shape [N, C, d1, ...], got " + shape_str(in_dims));
  Dims expect_target(in_dims);
  expect_target.erase(expect_target.begin() + 1);
  if (target.dims() != expect_target)
    return ctx.error("target must have shape " + shape_str(expect_target) + " for input " + shape_str(in_dims) +
                     ", got " + shape_str(target.dims()));
  const int64_t n = in_dims[0], c = in_dims[1];
  int64_t d = 1;
  for (size_t i = 2; i < in_dims.size(); ++i) d *= in_dims[i];
  std::vector<double> weight;
  if (ctx.has_input(weight_input)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(weight_input));
    const Tensor& w = ctx.input(weight_input);
    if (w.rank() != 1 || w.dim(0) != c)
      return ctx.error("weight must have shape [" + std::to_string(c) + "], got " + shape_str(w.dims()));
    weight = read_doubles(w);
  }
  const bool has_ignore = ctx.attrs().has("ignore_index");
  const int64_t ignore = ctx.attrs().get_int("ignore_index", 0);
  const std::string reduction = ctx.attrs().get_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.error("reduction must be 'none', 'sum' or 'mean', got '" + reduction + "'");
  auto t = read_int64s(target);
  std::vector<double> loss(static_cast<size_t>(n * d), 0.0);
  double total = 0.0, total_weight = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t cls = t[i * d + j];
      if (has_ignore && cls == ignore) continue;
      if (cls < 0 || cls >= c)
        return ctx.error("target value " + std::to_string(cls) + " is out of range [0, " + std::to_string(c) + ")");
      const double w = weight.empty() ? 1.0 : weight[cls];
      const double l = -logp[(i * c + cls) * d + j] * w;
      loss[i * d + j] = l;
      total += l;
      total_weight += w;
    }
  }
  if (reduction == "none") {
    ctx.set_output(0, tensor_from_doubles(out_dt, expect_target, loss));
  } else {
    double r = reduction == "sum" ? total : total / total_weight;
    ctx.set_output(0, tensor_from_doubles(out_dt, {}, {r}));
  }
  return ok_status();
}

}  // namespace

Status negative_log_likelihood_loss(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported (floats only)");
  return nll_from_log_probs(ctx, x.dims(), read_doubles(x), x.dtype(), 1, 2);
}

Status softmax_cross_entropy_loss(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported (floats only)");
  if (x.rank() < 2) return ctx.error("scores must have shape [N, C, d1, ...], got " + shape_str(x.dims()));
  const int64_t n = x.dim(0), c = x.dim(1);
  int64_t d = 1;
  for (size_t i = 2; i < x.rank(); ++i) d *= x.dim(i);
  auto v = read_doubles(x);
  std::vector<double> logp(v.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < c; ++k) mx = std::max(mx, v[(i * c + k) * d + j]);
      double sum = 0.0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(v[(i * c + k) * d + j] - mx);
      for (int64_t k = 0; k < c; ++k) logp[(i * c + k) * d + j] = v[(i * c + k) * d + j] - mx - std::log(sum);
    }
  }
  KILN_RETURN_IF_ERROR(nll_from_log_probs(ctx, x.dims(), logp, x.dtype(), 1, 2));
  if (ctx.wants_output(1)) ctx.set_output(1, tensor_from_doubles(x.dtype(), x.dims(), logp));
  return ok_status();
}

}  // namespace kiln::math_ref
