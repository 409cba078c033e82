// Reference normalization kernels: Batch/Instance/Layer/Group/RMS normalization and MeanVarianceNormalization.
#include <cmath>

#include "backends/reference/nn/nn_util.h"
#include "ir/norm_params.h"

namespace kiln {
namespace {

// Reads an optional per-channel (or per-group) parameter; `def` fills it when absent.
Status read_param(const KernelContext& ctx, size_t i, const char* name, int64_t want, double def, std::vector<double>* out) {
  if (!ctx.has_input(i)) {
    out->assign(static_cast<size_t>(want), def);
    return ok_status();
  }
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  if (ctx.input(i).numel() != want)
    return ctx.error(std::string(name) + " must have " + std::to_string(want) + " elements; got shape " +
                     nn::dims_str(ctx.input(i).dims()));
  *out = nn::read_doubles(ctx.input(i));
  return ok_status();
}

Status batch_norm_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  for (size_t i = 1; i < 5; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(0);
  if (x.rank() < 1) return ctx.error("input X must have rank >= 1");
  const int64_t n = x.dim(0), c = x.rank() > 1 ? x.dim(1) : 1;
  const int64_t sp = n * c == 0 ? 0 : x.numel() / (n * c);
  auto params = batch_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const double eps = params->epsilon;
  const double momentum = params->momentum;
  const bool training = params->training_mode;
  // Parameters are per channel; the pre-opset-9 spatial=0 form gives one value per (channel, position).
  const int64_t pn = ctx.input(1).numel();
  const bool per_elem = pn == c * sp && pn != c;
  if (pn != c && !per_elem) return ctx.error("scale must have " + std::to_string(c) + " elements; got shape " + nn::dims_str(ctx.input(1).dims()));
  std::vector<double> scale, bias, mean, var;
  KILN_RETURN_IF_ERROR(read_param(ctx, 1, "scale", pn, 1.0, &scale));
  KILN_RETURN_IF_ERROR(read_param(ctx, 2, "B", pn, 0.0, &bias));
  KILN_RETURN_IF_ERROR(read_param(ctx, 3, "input_mean", pn, 0.0, &mean));
  KILN_RETURN_IF_ERROR(read_param(ctx, 4, "input_var", pn, 1.0, &var));
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(xv.size());
  std::vector<double> use_mean = mean, use_var = var;
  if (training) {
    if (per_elem) return ctx.unsupported("training_mode with per-element parameters");
    for (int64_t ci = 0; ci < c; ++ci) {
      double s = 0, s2 = 0;
      for (int64_t ni = 0; ni < n; ++ni)
        for (int64_t k = 0; k < sp; ++k) s += xv[(ni * c + ci) * sp + k];
      const double cnt = static_cast<double>(std::max<int64_t>(n * sp, 1));
      const double mu = s / cnt;
      for (int64_t ni = 0; ni < n; ++ni)
        for (int64_t k = 0; k < sp; ++k) {
          double d = xv[(ni * c + ci) * sp + k] - mu;
          s2 += d * d;
        }
      use_mean[ci] = mu;
      use_var[ci] = s2 / cnt;
    }
  }
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t k = 0; k < sp; ++k) {
        const int64_t p = per_elem ? ci * sp + k : ci;
        const int64_t i = (ni * c + ci) * sp + k;
        y[i] = (xv[i] - use_mean[p]) / std::sqrt(use_var[p] + eps) * scale[p] + bias[p];
      }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  if (training) {
    std::vector<double> rm(c), rv(c);
    for (int64_t ci = 0; ci < c; ++ci) {
      rm[ci] = mean[ci] * momentum + use_mean[ci] * (1 - momentum);
      rv[ci] = var[ci] * momentum + use_var[ci] * (1 - momentum);
    }
    if (ctx.wants_output(1)) {
      KILN_ASSIGN_OR_RETURN(Tensor t, nn::make_tensor(ctx.input(3).dtype(), ctx.input(3).dims(), rm));
      ctx.set_output(1, std::move(t));
    }
    if (ctx.wants_output(2)) {
      KILN_ASSIGN_OR_RETURN(Tensor t, nn::make_tensor(ctx.input(4).dtype(), ctx.input(4).dims(), rv));
      ctx.set_output(2, std::move(t));
    }
  } else {
    // Inference: optional statistics outputs (older opsets) pass the running values through.
    if (ctx.wants_output(1)) ctx.set_output(1, ctx.input(3));
    if (ctx.wants_output(2)) ctx.set_output(2, ctx.input(4));
  }
  return ok_status();
}

// Normalizes each of `outer` rows of `inner` contiguous elements; scale/bias index by (channel) via a callback.
Status instance_norm_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "input"));
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) return ctx.error("input must have rank >= 3 (N, C, spatial...); got " + nn::dims_str(x.dims()));
  const int64_t n = x.dim(0), c = x.dim(1), sp = dims_numel(Dims(x.dims().begin() + 2, x.dims().end()));
  std::vector<double> scale, bias;
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  KILN_RETURN_IF_ERROR(read_param(ctx, 1, "scale", c, 1.0, &scale));
  KILN_RETURN_IF_ERROR(read_param(ctx, 2, "B", c, 0.0, &bias));
  auto params = instance_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const double eps = params->epsilon;
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(xv.size());
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t ci = 0; ci < c; ++ci) {
      const int64_t base = (ni * c + ci) * sp;
      double s = 0, s2 = 0;
      for (int64_t k = 0; k < sp; ++k) s += xv[base + k];
      const double mu = sp ? s / sp : 0.0;
      for (int64_t k = 0; k < sp; ++k) s2 += (xv[base + k] - mu) * (xv[base + k] - mu);
      const double inv = 1.0 / std::sqrt((sp ? s2 / sp : 0.0) + eps);
      for (int64_t k = 0; k < sp; ++k) y[base + k] = (xv[base + k] - mu) * inv * scale[ci] + bias[ci];
    }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// Reads Scale/B (unidirectionally broadcast to X.shape[axis:]) as per-inner-element vectors.
Status inner_param(const KernelContext& ctx, size_t i, const char* name, const Dims& inner_dims, double def,
                   std::vector<double>* out) {
  const int64_t inner = dims_numel(inner_dims);
  if (!ctx.has_input(i)) {
    out->assign(static_cast<size_t>(inner), def);
    return ok_status();
  }
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& t = ctx.input(i);
  Dims b;
  if (t.rank() > inner_dims.size() || !broadcast_dims(t.dims(), inner_dims, &b) || b != inner_dims)
    return ctx.error(std::string(name) + " shape " + nn::dims_str(t.dims()) + " does not broadcast to the normalized shape " +
                     nn::dims_str(inner_dims));
  auto v = nn::read_doubles(t);
  auto map = broadcast_index_map(t.dims(), inner_dims);
  out->resize(static_cast<size_t>(inner));
  for (int64_t k = 0; k < inner; ++k) (*out)[k] = v[map[k]];
  return ok_status();
}

// LayerNormalization (rms=false) and RMSNormalization (rms=true) over X.shape[axis:].
Status layer_norm_common(KernelContext& ctx, bool rms) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  auto params = layer_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  auto axis_or = layer_norm_axis(*params, static_cast<int64_t>(x.rank()));
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  Dims inner_dims(x.dims().begin() + axis, x.dims().end());
  const int64_t inner = dims_numel(inner_dims), outer = inner ? x.numel() / inner : 0;
  std::vector<double> scale, bias;
  KILN_RETURN_IF_ERROR(inner_param(ctx, 1, "Scale", inner_dims, 1.0, &scale));
  if (!rms) KILN_RETURN_IF_ERROR(inner_param(ctx, 2, "B", inner_dims, 0.0, &bias));
  const double eps = params->epsilon;
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(xv.size()), mean_out(outer), inv_out(outer);
  for (int64_t o = 0; o < outer; ++o) {
    const double* row = xv.data() + o * inner;
    double mu = 0.0, s2 = 0.0;
    if (!rms) {
      for (int64_t k = 0; k < inner; ++k) mu += row[k];
      mu /= static_cast<double>(inner);
    }
    for (int64_t k = 0; k < inner; ++k) s2 += (row[k] - mu) * (row[k] - mu);
    const double inv = 1.0 / std::sqrt(s2 / static_cast<double>(inner) + eps);
    for (int64_t k = 0; k < inner; ++k) y[o * inner + k] = (row[k] - mu) * inv * scale[k] + (rms ? 0.0 : bias[k]);
    mean_out[o] = mu;
    inv_out[o] = inv;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  if (!rms) {
    Dims sd = x.dims();
    for (size_t i = static_cast<size_t>(axis); i < sd.size(); ++i) sd[i] = 1;
    const DType st = params->stash_type;
    if (ctx.wants_output(1)) {
      KILN_ASSIGN_OR_RETURN(Tensor t, nn::make_tensor(st, sd, mean_out));
      ctx.set_output(1, std::move(t));
    }
    if (ctx.wants_output(2)) {
      KILN_ASSIGN_OR_RETURN(Tensor t, nn::make_tensor(st, sd, inv_out));
      ctx.set_output(2, std::move(t));
    }
  }
  return ok_status();
}

// GroupNormalization: scale/bias are per group (opset 18) or per channel (opset 21); the sizes tell them apart.
Status group_norm_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...); got " + nn::dims_str(x.dims()));
  auto params = group_norm_params(ctx.node());
  if (!params.ok()) return ctx.error(params.status().message());
  const int64_t g = params->num_groups;
  const int64_t n = x.dim(0), c = x.dim(1);
  if (Status s = check_group_norm_channels(*params, c); !s.ok()) return ctx.error(s.message());
  const int64_t sp = dims_numel(Dims(x.dims().begin() + 2, x.dims().end()));
  const int64_t pn = ctx.input(1).numel();
  const bool per_channel = params->per_channel(c, pn);
  std::vector<double> scale, bias;
  KILN_RETURN_IF_ERROR(read_param(ctx, 1, "scale", per_channel ? c : g, 1.0, &scale));
  KILN_RETURN_IF_ERROR(read_param(ctx, 2, "bias", per_channel ? c : g, 0.0, &bias));
  const double eps = params->epsilon;
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(xv.size());
  const int64_t cpg = c / g, gsize = cpg * sp;
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t gi = 0; gi < g; ++gi) {
      const int64_t base = (ni * c + gi * cpg) * sp;
      double s = 0, s2 = 0;
      for (int64_t k = 0; k < gsize; ++k) s += xv[base + k];
      const double mu = gsize ? s / gsize : 0.0;
      for (int64_t k = 0; k < gsize; ++k) s2 += (xv[base + k] - mu) * (xv[base + k] - mu);
      const double inv = 1.0 / std::sqrt((gsize ? s2 / gsize : 0.0) + eps);
      for (int64_t k = 0; k < gsize; ++k) {
        const int64_t p = per_channel ? gi * cpg + k / std::max<int64_t>(sp, 1) : gi;
        y[base + k] = (xv[base + k] - mu) * inv * scale[p] + bias[p];
      }
    }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// MeanVarianceNormalization: (X - mean) / (sqrt(var) + 1e-9) over `axes`.
Status mvn_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  Dims axes = ctx.attrs().get_ints("axes", {0, 2, 3});
  std::vector<bool> reduced(x.rank(), false);
  for (int64_t a : axes) {
    int64_t na = 0;
    if (!normalize_axis_index(a, r, &na)) return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
    reduced[na] = true;
  }
  // Group id of each element = its index over the kept axes.
  Dims kept_dims;
  for (int64_t i = 0; i < r; ++i) kept_dims.push_back(reduced[i] ? 1 : x.dim(i));
  const auto gid = broadcast_index_map(kept_dims, x.dims());
  const int64_t ng = dims_numel(kept_dims);
  const auto xv = nn::read_doubles(x);
  std::vector<double> sum(ng, 0.0), sq(ng, 0.0), cnt(ng, 0.0);
  for (size_t i = 0; i < xv.size(); ++i) {
    sum[gid[i]] += xv[i];
    sq[gid[i]] += xv[i] * xv[i];
    cnt[gid[i]] += 1;
  }
  std::vector<double> y(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const double mu = sum[gid[i]] / cnt[gid[i]];
    const double var = std::max(0.0, sq[gid[i]] / cnt[gid[i]] - mu * mu);
    y[i] = (xv[i] - mu) / (std::sqrt(var) + 1e-9);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

namespace nn {
Status batch_normalization(KernelContext& ctx) { return batch_norm_kernel(ctx); }
Status instance_normalization(KernelContext& ctx) { return instance_norm_kernel(ctx); }
Status layer_normalization(KernelContext& ctx) { return layer_norm_common(ctx, false); }
Status rms_normalization(KernelContext& ctx) { return layer_norm_common(ctx, true); }
Status group_normalization(KernelContext& ctx) { return group_norm_kernel(ctx); }
Status mean_variance_normalization(KernelContext& ctx) { return mvn_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
