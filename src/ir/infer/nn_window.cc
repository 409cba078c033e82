// Shape inference for the nn family's sliding-window ops: Conv*, ConvTranspose, DeformConv, pools, MaxUnpool.
#include "ir/infer/nn_infer.h"
#include "ir/window_params.h"

namespace kiln::nn_infer {
namespace {

// The kiln-only attribute layout="NHWC" of pools and QLinearConv (from the layout_nhwc pass): X and Y are
// channels-last. Sets *nhwc; an unknown layout is an error.
Status pool_layout(const InferContext& ctx, bool* nhwc) {
  const std::string layout = ctx.attrs().get_string("layout", "NCHW");
  if (layout != "NCHW" && layout != "NHWC") return ctx.error("layout must be NCHW or NHWC, got '" + layout + "'");
  *nhwc = layout == "NHWC";
  return ok_status();
}

// [N, spatial..., C] <-> [N, C, spatial...] for shapes of known rank >= 2.
Shape channels_first(const Shape& s) {
  if (!s.rank_known || s.rank() < 2) return s;
  std::vector<Dim> d{s.dims[0], s.dims.back()};
  d.insert(d.end(), s.dims.begin() + 1, s.dims.end() - 1);
  return Shape::of_dims(d);
}
Shape channels_last(const Shape& s) {
  if (!s.rank_known || s.rank() < 2) return s;
  std::vector<Dim> d{s.dims[0]};
  d.insert(d.end(), s.dims.begin() + 2, s.dims.end());
  d.push_back(s.dims[1]);
  return Shape::of_dims(d);
}

Dims attr_or(const Attrs& a, const char* name, size_t n, int64_t def) {
  Dims v = a.get_ints(name);
  return v.empty() ? Dims(n, def) : v;
}

// Output spatial dims of a conv/pool window (ir/window_params.h); unknown inputs give unknown outputs.
Status window_dims(const InferContext& ctx, const Shape& x, const Dims& kernel, bool ceil_mode, std::vector<Dim>* out) {
  const size_t nd = x.rank() - 2;
  if (kernel.size() != nd)
    return ctx.error("kernel has " + std::to_string(kernel.size()) + " spatial dims; input has " + std::to_string(nd));
  for (int64_t k : kernel)
    if (k <= 0) return ctx.error("kernel sizes must be positive");
  auto w = parse_window_attrs(ctx.attrs(), nd, ceil_mode);
  if (!w.ok()) return ctx.error(w.status().message());
  out->clear();
  for (size_t i = 0; i < nd; ++i) {
    const Dim& d = x.dims[i + 2];
    if (!d.is_known()) {
      out->push_back(Dim{});
      continue;
    }
    auto o = window_out_size(*w, i, d.value, kernel[i]);
    if (!o.ok()) return ctx.error(o.status().message());
    out->push_back(Dim::known(*o));
  }
  return ok_status();
}

Dims known_kernel(const Shape& w) {
  Dims k;
  for (size_t i = 2; i < w.rank(); ++i) k.push_back(w.dims[i].is_known() ? w.dims[i].value : -1);
  return k;
}

// Conv-like: X at x_in, W at w_in; output channels W[0]. `nhwc`: X, W and Y are channels-last (QLinearConv's
// kiln-only layout="NHWC" from the layout_nhwc pass; W [M, k..., C/g]).
Status conv_like(InferContext& ctx, size_t x_in, size_t w_in, DType dt, bool nhwc = false) {
  const Shape x = nhwc ? channels_first(ctx.input_type(x_in).shape) : ctx.input_type(x_in).shape;
  const Shape w = nhwc ? channels_first(ctx.input_type(w_in).shape) : ctx.input_type(w_in).shape;
  if (!x.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(dt));
    return ok_status();
  }
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + x.to_string());
  if (w.rank_known && w.rank() != x.rank()) return ctx.error("W rank must equal X rank; got " + w.to_string());
  Dims kernel = ctx.attrs().get_ints("kernel_shape");
  if (kernel.empty() && w.rank_known) kernel = known_kernel(w);
  std::vector<Dim> dims{x.dims[0], w.rank_known ? w.dims[0] : Dim{}};
  bool kernel_known = kernel.size() == x.rank() - 2;
  for (int64_t k : kernel) kernel_known = kernel_known && k > 0;
  if (kernel_known) {
    std::vector<Dim> sp;
    KILN_RETURN_IF_ERROR(window_dims(ctx, x, kernel, false, &sp));
    dims.insert(dims.end(), sp.begin(), sp.end());
  } else {
    for (size_t i = 2; i < x.rank(); ++i) dims.push_back(Dim{});
  }
  const Shape y = Shape::of_dims(dims);
  ctx.set_output_type(0, TypeInfo::tensor(dt, nhwc ? channels_last(y) : y));
  return ok_status();
}

}  // namespace

Status infer_conv(InferContext& ctx) { return conv_like(ctx, 0, 1, ctx.input_type(0).dtype); }
Status infer_conv_integer(InferContext& ctx) { return conv_like(ctx, 0, 1, DType::kInt32); }
Status infer_deform_conv(InferContext& ctx) { return conv_like(ctx, 0, 1, ctx.input_type(0).dtype); }
Status infer_qlinear_conv(InferContext& ctx) {
  DType dt = ctx.has_input(7) ? ctx.input_type(7).dtype : DType::kUndefined;
  if (dt == DType::kUndefined) dt = ctx.input_type(0).dtype;
  bool nhwc = false;
  KILN_RETURN_IF_ERROR(pool_layout(ctx, &nhwc));
  return conv_like(ctx, 0, 3, dt, nhwc);
}

Status infer_conv_transpose(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  const Shape& x = ctx.input_type(0).shape;
  const Shape& w = ctx.input_type(1).shape;
  if (!x.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(dt));
    return ok_status();
  }
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + x.to_string());
  const size_t nd = x.rank() - 2;
  const Attrs& a = ctx.attrs();
  const int64_t group = a.get_int("group", 1);
  Dim m{};
  if (w.rank_known && w.rank() >= 2 && w.dims[1].is_known()) m = Dim::known(w.dims[1].value * group);
  std::vector<Dim> dims{x.dims[0], m};
  Dims kernel = a.get_ints("kernel_shape");
  if (kernel.empty() && w.rank_known) kernel = known_kernel(w);
  auto t = parse_conv_transpose_attrs(a, nd);
  if (!t.ok()) return ctx.error(t.status().message());
  for (size_t i = 0; i < nd; ++i) {
    const Dim& d = x.dims[i + 2];
    if (!t->output_shape.empty()) {
      dims.push_back(Dim::known(t->output_shape[i]));
    } else if (!d.is_known() || kernel.size() != nd || kernel[i] <= 0) {
      dims.push_back(Dim{});
    } else {
      auto o = conv_transpose_out_size(*t, i, d.value, kernel[i]);
      if (!o.ok()) return ctx.error(o.status().message());
      dims.push_back(Dim::known(*o));
    }
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(dims)));
  return ok_status();
}

Status infer_pool(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  bool nhwc = false;
  KILN_RETURN_IF_ERROR(pool_layout(ctx, &nhwc));
  if (nhwc && ctx.num_outputs() > 1 && ctx.node().has_output(1))
    return ctx.error("output Indices is not supported with layout NHWC");
  const Shape x = nhwc ? channels_first(ctx.input_type(0).shape) : ctx.input_type(0).shape;
  Shape out = Shape::unknown_rank();
  if (x.rank_known) {
    if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + x.to_string());
    std::vector<Dim> dims{x.dims[0], x.dims[1]}, sp;
    KILN_RETURN_IF_ERROR(
        window_dims(ctx, x, ctx.attrs().get_ints("kernel_shape"), ctx.attrs().get_int("ceil_mode", 0) != 0, &sp));
    dims.insert(dims.end(), sp.begin(), sp.end());
    out = Shape::of_dims(dims);
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, nhwc ? channels_last(out) : out));
  if (ctx.num_outputs() > 1) ctx.set_output_type(1, TypeInfo::tensor(DType::kInt64, out));
  return ok_status();
}

Status infer_global_pool(InferContext& ctx) {
  bool nhwc = false;
  KILN_RETURN_IF_ERROR(pool_layout(ctx, &nhwc));
  const Shape x = nhwc ? channels_first(ctx.input_type(0).shape) : ctx.input_type(0).shape;
  Shape out = Shape::unknown_rank();
  if (x.rank_known) {
    if (x.rank() < 2) return ctx.error("input X must have rank >= 2; got " + x.to_string());
    std::vector<Dim> dims{x.dims[0], x.dims[1]};
    for (size_t i = 2; i < x.rank(); ++i) dims.push_back(Dim::known(1));
    out = Shape::of_dims(dims);
  }
  ctx.set_output_type(0, TypeInfo::tensor(ctx.input_type(0).dtype, nhwc ? channels_last(out) : out));
  return ok_status();
}

Status infer_max_unpool(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  const Shape& x = ctx.input_type(0).shape;
  std::vector<int64_t> given;
  if (ctx.has_input(2) && constant_ints(ctx, 2, &given)) {
    ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of(given)));
    return ok_status();
  }
  if (ctx.has_input(2) || !x.rank_known) {
    ctx.set_output_type(
        0, TypeInfo::tensor(dt, x.rank_known ? Shape::of_dims(std::vector<Dim>(x.rank())) : Shape::unknown_rank()));
    return ok_status();
  }
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + x.to_string());
  const size_t nd = x.rank() - 2;
  const Attrs& a = ctx.attrs();
  Dims kernel = a.get_ints("kernel_shape"), strides = attr_or(a, "strides", nd, 1),
       pads = attr_or(a, "pads", 2 * nd, 0);
  if (kernel.size() != nd || strides.size() != nd || pads.size() != 2 * nd)
    return ctx.error("kernel_shape/strides/pads lengths do not match " + std::to_string(nd) + " spatial dims");
  std::vector<Dim> dims{x.dims[0], x.dims[1]};
  for (size_t i = 0; i < nd; ++i) {
    const Dim& d = x.dims[i + 2];
    dims.push_back(d.is_known() ? Dim::known((d.value - 1) * strides[i] + kernel[i] - pads[i] - pads[nd + i]) : Dim{});
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(dims)));
  return ok_status();
}

}  // namespace kiln::nn_infer
