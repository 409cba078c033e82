// Reference DeformConv: convolution whose taps sample the input bilinearly at learned offsets (N-D).
#include <cmath>

#include "backends/reference/nn/nn_util.h"

namespace kiln {
namespace {

// Multilinear sample of one channel image at real coordinates `pos`; points outside read as 0.
double sample_linear(const double* img, const Dims& dims, const std::vector<int64_t>& strides, const std::vector<double>& pos) {
  const size_t nd = dims.size();
  std::vector<int64_t> lo(nd);
  std::vector<double> frac(nd);
  for (size_t i = 0; i < nd; ++i) {
    double f = std::floor(pos[i]);
    if (!(f > -2.0 && f < static_cast<double>(dims[i]) + 1.0)) return 0.0;  // far outside, NaN included
    lo[i] = static_cast<int64_t>(f);
    frac[i] = pos[i] - f;
  }
  double acc = 0.0;
  for (uint32_t corner = 0; corner < (1u << nd); ++corner) {
    double wgt = 1.0;
    int64_t off = 0;
    bool inside = true;
    for (size_t i = 0; i < nd; ++i) {
      bool hi = (corner >> i) & 1u;
      int64_t p = lo[i] + (hi ? 1 : 0);
      wgt *= hi ? frac[i] : 1.0 - frac[i];
      if (p < 0 || p >= dims[i]) inside = false;
      off += p * strides[i];
    }
    if (inside && wgt != 0.0) acc += wgt * img[off];
  }
  return acc;
}

Status deform_conv_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "W"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 2, "offset"));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& offset = ctx.input(2);
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + nn::dims_str(x.dims()));
  if (w.rank() != x.rank() || offset.rank() != x.rank())
    return ctx.error("W and offset must have the rank of X (" + std::to_string(x.rank()) + ")");
  const size_t nd = x.rank() - 2;
  const int64_t group = ctx.attrs().get_int("group", 1), og = ctx.attrs().get_int("offset_group", 1);
  if (group <= 0 || og <= 0) return ctx.error("group and offset_group must be positive");
  const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0);
  if (w.dim(1) * group != c || m % group != 0)
    return ctx.error("channels inconsistent: X " + nn::dims_str(x.dims()) + ", W " + nn::dims_str(w.dims()) + ", group " +
                     std::to_string(group));
  if (c % og != 0) return ctx.error("input channels must be divisible by offset_group");
  Dims in(x.dims().begin() + 2, x.dims().end());
  Dims kernel(w.dims().begin() + 2, w.dims().end());
  nn::Window win;
  KILN_RETURN_IF_ERROR(nn::compute_window(ctx, in, kernel, false, &win));
  const int64_t k_size = dims_numel(kernel), out_size = dims_numel(win.out), in_size = dims_numel(in);
  Dims want_off{n, og * k_size * static_cast<int64_t>(nd)};
  want_off.insert(want_off.end(), win.out.begin(), win.out.end());
  if (offset.dims() != want_off)
    return ctx.error("offset must have shape " + nn::dims_str(want_off) + "; got " + nn::dims_str(offset.dims()));
  std::vector<double> bias, mask;
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(3));
    if (ctx.input(3).rank() != 1 || ctx.input(3).dim(0) != m)
      return ctx.error("bias B must have shape [" + std::to_string(m) + "]; got " + nn::dims_str(ctx.input(3).dims()));
    bias = nn::read_doubles(ctx.input(3));
  }
  if (ctx.has_input(4)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(4));
    Dims want_mask{n, og * k_size};
    want_mask.insert(want_mask.end(), win.out.begin(), win.out.end());
    if (ctx.input(4).dims() != want_mask)
      return ctx.error("mask must have shape " + nn::dims_str(want_mask) + "; got " + nn::dims_str(ctx.input(4).dims()));
    mask = nn::read_doubles(ctx.input(4));
  }
  Dims od{n, m};
  od.insert(od.end(), win.out.begin(), win.out.end());
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x), wv = nn::read_doubles(w), ov = nn::read_doubles(offset);
  const auto in_strides = strides_of(in);
  const int64_t cg = c / group, mg = m / group, c_per_og = c / og;
  std::vector<double> y(static_cast<size_t>(n * m * out_size), 0.0);
  // samples[c][tap][out]: the deformed input value each tap reads, shared by all output channels.
  std::vector<double> samples(static_cast<size_t>(c * k_size * out_size));
  std::vector<double> pos(nd);
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t ci = 0; ci < c; ++ci) {
      const int64_t g = ci / c_per_og;
      const double* img = xv.data() + (ni * c + ci) * in_size;
      nn::for_each_index(kernel, [&](const std::vector<int64_t>& t, int64_t tk) {
        nn::for_each_index(win.out, [&](const std::vector<int64_t>& o, int64_t opos) {
          for (size_t i = 0; i < nd; ++i) {
            int64_t ch = ((g * k_size + tk) * static_cast<int64_t>(nd) + static_cast<int64_t>(i));
            double off = ov[(ni * og * k_size * nd + ch) * out_size + opos];
            pos[i] = static_cast<double>(o[i] * win.strides[i] - win.pads[i] + t[i] * win.dilations[i]) + off;
          }
          double v = sample_linear(img, in, in_strides, pos);
          if (!mask.empty()) v *= mask[(ni * og * k_size + g * k_size + tk) * out_size + opos];
          samples[(ci * k_size + tk) * out_size + opos] = v;
        });
      });
    }
    for (int64_t mi = 0; mi < m; ++mi) {
      const int64_t g = mi / mg;
      double* ym = y.data() + (ni * m + mi) * out_size;
      for (int64_t p = 0; p < out_size; ++p) ym[p] = bias.empty() ? 0.0 : bias[mi];
      for (int64_t cl = 0; cl < cg; ++cl) {
        const int64_t ci = g * cg + cl;
        for (int64_t tk = 0; tk < k_size; ++tk) {
          const double wt = wv[(mi * cg + cl) * k_size + tk];
          const double* s = samples.data() + (ci * k_size + tk) * out_size;
          for (int64_t p = 0; p < out_size; ++p) ym[p] += wt * s[p];
        }
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor result, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(result));
  return ok_status();
}

}  // namespace

namespace nn {
Status deform_conv(KernelContext& ctx) { return deform_conv_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
