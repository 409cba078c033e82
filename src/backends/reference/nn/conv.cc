// Reference Conv, ConvInteger, QLinearConv and FusedQLinearConv: direct N-D convolution loops computed in double.
#include <cmath>

#include "backends/reference/nn/nn_util.h"

namespace kiln {
namespace {

using nn::Window;

struct ConvShapes {
  int64_t n = 0, c = 0, m = 0, group = 1;
  Window win;
};

// Validates X/W ranks and channel counts and computes the window geometry.
Status conv_shapes(const KernelContext& ctx, const Tensor& x, const Tensor& w, ConvShapes* s) {
  if (x.rank() < 3)
    return ctx.error("input X must have rank >= 3 (N, C, spatial...); got shape " + nn::dims_str(x.dims()));
  if (w.rank() != x.rank())
    return ctx.error("weight W rank " + std::to_string(w.rank()) + " must equal input rank " +
                     std::to_string(x.rank()));
  s->group = ctx.attrs().get_int("group", 1);
  if (s->group <= 0) return ctx.error("group must be positive; got " + std::to_string(s->group));
  s->n = x.dim(0);
  s->c = x.dim(1);
  s->m = w.dim(0);
  if (w.dim(1) * s->group != s->c)
    return ctx.error("input channels " + std::to_string(s->c) + " != W.shape[1] (" + std::to_string(w.dim(1)) +
                     ") * group (" + std::to_string(s->group) + ")");
  if (s->m % s->group != 0)
    return ctx.error("output channels " + std::to_string(s->m) + " not divisible by group " + std::to_string(s->group));
  Dims in(x.dims().begin() + 2, x.dims().end());
  Dims kernel(w.dims().begin() + 2, w.dims().end());
  Dims ks = ctx.attrs().get_ints("kernel_shape");
  if (!ks.empty() && ks != kernel)
    return ctx.error("kernel_shape " + nn::dims_str(ks) + " does not match W spatial shape " + nn::dims_str(kernel));
  return nn::compute_window(ctx, in, kernel, false, &s->win);
}

// y[n, m, out...] = sum_{c in group, taps} x[n, c, o*s - pb + t*d] * w[m, c, t] (+ bias[m]).
std::vector<double> conv_loops(const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>* bias, const ConvShapes& s) {
  const Window& win = s.win;
  const size_t nd = win.nd;
  const int64_t in_size = dims_numel(win.in), out_size = dims_numel(win.out), k_size = dims_numel(win.kernel);
  const int64_t cg = s.c / s.group, mg = s.m / s.group;
  const auto in_strides = strides_of(win.in);
  std::vector<double> y(static_cast<size_t>(s.n * s.m * out_size), 0.0);
  std::vector<int64_t> tap_off(static_cast<size_t>(k_size));
  for (int64_t ni = 0; ni < s.n; ++ni) {
    for (int64_t mi = 0; mi < s.m; ++mi) {
      const int64_t g = mi / mg;
      const double* wm = w.data() + mi * cg * k_size;
      const double* xg = x.data() + (ni * s.c + g * cg) * in_size;
      double* ym = y.data() + (ni * s.m + mi) * out_size;
      nn::for_each_index(win.out, [&](const std::vector<int64_t>& o, int64_t pos) {
        double acc = bias ? (*bias)[mi] : 0.0;
        nn::for_each_index(win.kernel, [&](const std::vector<int64_t>& t, int64_t tk) {
          int64_t off = 0;
          for (size_t i = 0; i < nd; ++i) {
            int64_t p = o[i] * win.strides[i] - win.pads[i] + t[i] * win.dilations[i];
            if (p < 0 || p >= win.in[i]) return;
            off += p * in_strides[i];
          }
          for (int64_t ci = 0; ci < cg; ++ci) acc += xg[ci * in_size + off] * wm[ci * k_size + tk];
        });
        ym[pos] = acc;
      });
    }
  }
  return y;
}

Dims conv_out_dims(const ConvShapes& s) {
  Dims d{s.n, s.m};
  d.insert(d.end(), s.win.out.begin(), s.win.out.end());
  return d;
}

Status conv_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "W"));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (w.dtype() != x.dtype()) return ctx.error("W dtype must match X dtype");
  ConvShapes s;
  KILN_RETURN_IF_ERROR(conv_shapes(ctx, x, w, &s));
  std::vector<double> bias;
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    const Tensor& b = ctx.input(2);
    if (b.rank() != 1 || b.dim(0) != s.m)
      return ctx.error("bias B must have shape [" + std::to_string(s.m) + "]; got " + nn::dims_str(b.dims()));
    bias = nn::read_doubles(b);
  }
  Dims od = conv_out_dims(s);
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  auto y = conv_loops(nn::read_doubles(x), nn::read_doubles(w), ctx.has_input(2) ? &bias : nullptr, s);
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// Subtracts a zero point that is a scalar or (for per-channel weights) one value per slice of axis 0.
Status subtract_zero_point(const KernelContext& ctx, size_t zp_index, const Tensor& data, DType want, bool per_channel,
                           const char* what, std::vector<double>* v) {
  *v = nn::read_doubles(data);
  if (!ctx.has_input(zp_index)) return ok_status();
  KILN_RETURN_IF_ERROR(ctx.require_tensor(zp_index));
  const Tensor& zp = ctx.input(zp_index);
  if (zp.dtype() != want)
    return ctx.error(std::string(what) + " zero point dtype " + dtype_name(zp.dtype()) + " must match its data (" +
                     dtype_name(want) + ")");
  auto z = nn::read_doubles(zp);
  if (z.size() == 1) {
    for (double& e : *v) e -= z[0];
    return ok_status();
  }
  if (!per_channel || zp.rank() != 1 || data.rank() == 0 || zp.dim(0) != data.dim(0))
    return ctx.error(std::string(what) + " zero point must be a scalar" +
                     (per_channel ? " or 1-D per output channel" : "") + "; got shape " + nn::dims_str(zp.dims()));
  const int64_t per = data.numel() / std::max<int64_t>(1, data.dim(0));
  for (size_t i = 0; i < v->size(); ++i) (*v)[i] -= z[i / per];
  return ok_status();
}

Status conv_integer_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (!is_8bit(x.dtype()) || !is_8bit(w.dtype()))
    return ctx.unsupported(std::string("ConvInteger takes int8/uint8 inputs; got ") + dtype_name(x.dtype()) + " and " +
                           dtype_name(w.dtype()));
  ConvShapes s;
  KILN_RETURN_IF_ERROR(conv_shapes(ctx, x, w, &s));
  std::vector<double> xv, wv;
  KILN_RETURN_IF_ERROR(subtract_zero_point(ctx, 2, x, x.dtype(), false, "x", &xv));
  KILN_RETURN_IF_ERROR(subtract_zero_point(ctx, 3, w, w.dtype(), true, "w", &wv));
  Dims od = conv_out_dims(s);
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, DType::kInt32, od).status());
  auto y = conv_loops(xv, wv, nullptr, s);
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(DType::kInt32, od, y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// QLinearConv inputs: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B (FusedQLinearConv: + R, R_scale, R_zp).
Status qlinear_conv_kernel(KernelContext& ctx) {
  for (size_t i : {0, 1, 3, 4, 6}) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(3);
  if (!is_8bit(x.dtype()) || !is_8bit(w.dtype()))
    return ctx.unsupported(std::string("QLinearConv takes int8/uint8 x and w; got ") + dtype_name(x.dtype()) + " and " +
                           dtype_name(w.dtype()));
  DType ydt = ctx.has_input(7) ? ctx.input(7).dtype() : x.dtype();
  if (!is_8bit(ydt))
    return ctx.unsupported(std::string("y_zero_point dtype ") + dtype_name(ydt) + " is not int8/uint8");
  ConvShapes s;
  KILN_RETURN_IF_ERROR(conv_shapes(ctx, x, w, &s));
  std::vector<double> xv, wv;
  KILN_RETURN_IF_ERROR(subtract_zero_point(ctx, 2, x, x.dtype(), false, "x", &xv));
  KILN_RETURN_IF_ERROR(subtract_zero_point(ctx, 5, w, w.dtype(), true, "w", &wv));
  auto xs = nn::read_doubles(ctx.input(1));
  auto ws = nn::read_doubles(ctx.input(4));
  auto ys = nn::read_doubles(ctx.input(6));
  if (xs.size() != 1) return ctx.error("x_scale must be a scalar");
  if (ys.size() != 1) return ctx.error("y_scale must be a scalar");
  if (ws.size() != 1 && static_cast<int64_t>(ws.size()) != s.m)
    return ctx.error("w_scale must be a scalar or have " + std::to_string(s.m) + " values; got " +
                     std::to_string(ws.size()));
  double yzp = ctx.has_input(7) ? ctx.input(7).as_double(0) : 0.0;
  std::vector<double> bias;
  if (ctx.has_input(8)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(8));
    const Tensor& b = ctx.input(8);
    if (b.dtype() != DType::kInt32) return ctx.error("bias B must be int32");
    if (b.rank() != 1 || b.dim(0) != s.m)
      return ctx.error("bias B must have shape [" + std::to_string(s.m) + "]; got " + nn::dims_str(b.dims()));
    bias = nn::read_doubles(b);
  }
  Dims od = conv_out_dims(s);
  // FusedQLinearConv: the residual R (input 9, Y's shape) dequantized with R_scale / R_zero_point (10, 11) joins the
  // accumulators before the one requantization.
  std::vector<double> rv;
  double rs = 0;
  if (ctx.node().op == OpKind::kFusedQLinearConv) {
    for (size_t i : {9, 10}) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    const Tensor& r = ctx.input(9);
    if (!is_8bit(r.dtype()) || r.dims() != od)
      return ctx.error("residual R must be int8/uint8 of Y's shape " + nn::dims_str(od) + "; got " +
                       dtype_name(r.dtype()) + " " + nn::dims_str(r.dims()));
    KILN_RETURN_IF_ERROR(subtract_zero_point(ctx, 11, r, r.dtype(), false, "R", &rv));
    auto rsv = nn::read_doubles(ctx.input(10));
    if (rsv.size() != 1) return ctx.error("R_scale must be a scalar");
    rs = rsv[0];
  }
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, ydt, od).status());
  auto acc = conv_loops(xv, wv, ctx.has_input(8) ? &bias : nullptr, s);
  const double lo = ydt == DType::kInt8 ? -128 : 0, hi = ydt == DType::kInt8 ? 127 : 255;
  const int64_t per_m = dims_numel(s.win.out);
  for (size_t i = 0; i < acc.size(); ++i) {
    int64_t mi = (static_cast<int64_t>(i) / per_m) % s.m;
    double scale = xs[0] * ws[ws.size() == 1 ? 0 : mi] / ys[0];
    double q = std::nearbyint(rv.empty() ? acc[i] * scale : acc[i] * scale + rv[i] * rs / ys[0]) + yzp;
    acc[i] = std::min(hi, std::max(lo, q));
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(ydt, od, acc));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

namespace nn {
Status conv(KernelContext& ctx) { return conv_kernel(ctx); }
Status conv_integer(KernelContext& ctx) { return conv_integer_kernel(ctx); }
// layout="NHWC" (layout_nhwc on the GPU's int8 regions): X [N, H, W, C], W [M, kH, kW, C/g], Y [N, oH, oW, M].
// FusedQLinearConv's residual R is channels-last there too.
Status qlinear_conv(KernelContext& ctx) {
  if (ctx.node().op == OpKind::kFusedQLinearConv) return run_channels_last(ctx, {0, 3, 9}, qlinear_conv_kernel);
  return run_channels_last(ctx, {0, 3}, qlinear_conv_kernel);
}
}  // namespace nn

}  // namespace kiln
