// Reference Resize (opset 10..19 semantics in canonical form): separable per-axis nearest/linear/cubic
// interpolation with every coordinate_transformation_mode, antialiasing, axes and keep_aspect_ratio_policy.
#include <algorithm>
#include <cmath>

#include "backends/reference/nn/nn_util.h"
#include "ir/resize_params.h"

namespace kiln {
namespace {

struct Tap {
  int64_t index;
  double weight;
};

// Taps for one output index; `outside` is set when tf_crop_and_resize maps it outside the input.
std::vector<Tap> axis_taps(const ResizeParams& p, double xo, int64_t in_len, double scale, bool* outside) {
  *outside = false;
  if (p.coord == ResizeCoord::kTfCropAndResize && (xo < 0 || xo > static_cast<double>(in_len - 1))) {
    *outside = true;
    return {};
  }
  if (p.mode == ResizeMode::kNearest) {
    int64_t i = std::clamp<int64_t>(resize_nearest_index(p.nearest, xo), 0, in_len - 1);
    return {{i, 1.0}};
  }
  // Neighbourhood convention: f = ceil(xo) - 1 and ratio in (0, 1]; taps at f + start + j.
  const double f = std::ceil(xo) - 1;
  const double ratio = xo - f;
  const double s = p.antialias ? std::min(scale, 1.0) : 1.0;
  int64_t start = 0;
  if (p.mode == ResizeMode::kLinear)
    start = p.antialias ? static_cast<int64_t>(std::floor(-1.0 / s)) + 1 : 0;
  else
    start = p.antialias ? static_cast<int64_t>(std::floor(-2.0 / s)) + 1 : -1;
  const int64_t n = 2 - 2 * start;
  std::vector<Tap> taps;
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = (static_cast<double>(start + j) - ratio) * s;
    double w =
        p.mode == ResizeMode::kLinear ? std::max(0.0, 1.0 - std::fabs(d)) : resize_cubic_weight(d, p.cubic_coeff_a);
    const int64_t idx = static_cast<int64_t>(f) + start + j;
    if (p.exclude_outside && (idx < 0 || idx >= in_len)) w = 0.0;
    sum += w;
    taps.push_back({std::clamp<int64_t>(idx, 0, in_len - 1), w});
  }
  if ((p.antialias || p.exclude_outside) && sum != 0.0)
    for (Tap& t : taps) t.weight /= sum;
  return taps;
}

Status resize_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()) && !is_integer(x.dtype()))
    return ctx.unsupported(std::string("input X dtype ") + dtype_name(x.dtype()) + " is not supported");
  if (is_sub_byte(x.dtype()) || is_float8(x.dtype()))
    return ctx.unsupported(std::string("input X dtype ") + dtype_name(x.dtype()) + " is not supported");
  const int64_t r = static_cast<int64_t>(x.rank());
  auto parsed = resize_params(ctx.attrs());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const ResizeParams& p = *parsed;
  auto axes_or = resize_axes(p, r);
  if (!axes_or.ok()) return ctx.error(axes_or.status().message());
  const std::vector<int64_t>& axes = *axes_or;
  const size_t na = axes.size();
  auto present = [&](size_t i) { return ctx.has_input(i) && ctx.input(i).defined() && ctx.input(i).numel() > 0; };
  std::vector<double> scales(r, 1.0), roi_lo(r, 0.0), roi_hi(r, 1.0);
  Dims out = x.dims();
  if (present(1) && p.coord == ResizeCoord::kTfCropAndResize) {
    auto rv = nn::read_doubles(ctx.input(1));
    if (rv.size() != 2 * na) return ctx.error("roi must have " + std::to_string(2 * na) + " values; got " + std::to_string(rv.size()));
    for (size_t i = 0; i < na; ++i) {
      roi_lo[axes[i]] = rv[i];
      roi_hi[axes[i]] = rv[na + i];
    }
  }
  const bool has_scales = present(2), has_sizes = present(3);
  if (has_scales == has_sizes) return ctx.error("exactly one of scales and sizes must be given");
  if (has_scales) {
    auto sv = nn::read_doubles(ctx.input(2));
    if (sv.size() != na) return ctx.error("scales must have " + std::to_string(na) + " values; got " + std::to_string(sv.size()));
    for (size_t i = 0; i < na; ++i) {
      if (!(sv[i] > 0)) return ctx.error("scales must be positive; got " + std::to_string(sv[i]));
      scales[axes[i]] = sv[i];
      const double o = std::floor(sv[i] * static_cast<double>(x.dim(axes[i])));
      if (o > 1e12) return ctx.error("scaled output is too large");
      out[axes[i]] = static_cast<int64_t>(o);
    }
  } else {
    if (!is_integer(ctx.input(3).dtype())) return ctx.error("sizes must be int64");
    auto sz = tensor_to_int64s(ctx.input(3));
    if (sz.size() != na) return ctx.error("sizes must have " + std::to_string(na) + " values; got " + std::to_string(sz.size()));
    for (size_t i = 0; i < na; ++i) {
      if (sz[i] < 0) return ctx.error("sizes must be non-negative");
      if (x.dim(axes[i]) == 0) return ctx.error("cannot resize an empty axis");
      out[axes[i]] = sz[i];
      scales[axes[i]] = static_cast<double>(sz[i]) / static_cast<double>(x.dim(axes[i]));
    }
    if (p.aspect != ResizeAspect::kStretch) {
      const bool not_larger = p.aspect == ResizeAspect::kNotLarger;
      double s = not_larger ? 1e300 : 0.0;
      for (int64_t a : axes) s = not_larger ? std::min(s, scales[a]) : std::max(s, scales[a]);
      for (int64_t a : axes) {
        scales[a] = s;
        out[a] = static_cast<int64_t>(s * static_cast<double>(x.dim(a)) + 0.5);
      }
    }
  }
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), out).status());
  // Separable passes, one axis at a time.
  std::vector<double> cur = nn::read_doubles(x);
  Dims cur_dims = x.dims();
  for (int64_t a = 0; a < r; ++a) {
    const int64_t in_len = cur_dims[a], out_len = out[a];
    if (in_len == out_len && scales[a] == 1.0 && p.coord != ResizeCoord::kTfCropAndResize) continue;
    if (in_len == 0 && out_len > 0) return ctx.error("cannot resize an empty axis");
    const int64_t outer = dims_numel(Dims(cur_dims.begin(), cur_dims.begin() + a));
    const int64_t inner = dims_numel(Dims(cur_dims.begin() + a + 1, cur_dims.end()));
    std::vector<std::vector<Tap>> taps(out_len);
    std::vector<bool> outside(out_len, false);
    for (int64_t o = 0; o < out_len; ++o) {
      bool ext = false;
      double xo =
          resize_source_coord(p.coord, static_cast<double>(o), in_len, out_len, scales[a], roi_lo[a], roi_hi[a]);
      taps[o] = axis_taps(p, xo, in_len, scales[a], &ext);
      outside[o] = ext;
    }
    std::vector<double> next(static_cast<size_t>(outer * out_len * inner));
    for (int64_t ou = 0; ou < outer; ++ou)
      for (int64_t o = 0; o < out_len; ++o)
        for (int64_t k = 0; k < inner; ++k) {
          double v = 0.0;
          if (outside[o]) {
            v = p.extrapolation_value;
          } else {
            for (const Tap& t : taps[o]) v += t.weight * cur[(ou * in_len + t.index) * inner + k];
          }
          next[(ou * out_len + o) * inner + k] = v;
        }
    cur = std::move(next);
    cur_dims[a] = out_len;
  }
  if (is_integer(x.dtype())) {
    const double lo = is_signed_int(x.dtype()) ? -std::ldexp(1.0, static_cast<int>(dtype_size(x.dtype()) * 8 - 1)) : 0.0;
    const double hi = is_signed_int(x.dtype()) ? -lo - 1 : std::ldexp(1.0, static_cast<int>(dtype_size(x.dtype()) * 8)) - 1;
    for (double& v : cur) v = std::clamp(std::nearbyint(v), lo, hi);
  }
  KILN_ASSIGN_OR_RETURN(Tensor result, nn::make_tensor(x.dtype(), out, cur));
  ctx.set_output(0, std::move(result));
  return ok_status();
}

}  // namespace

namespace nn {
Status resize(KernelContext& ctx) { return resize_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
