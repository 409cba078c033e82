// Shape inference for nn ops other than sliding windows: normalizations, Resize, GridSample, AffineGrid,
// Col2Im, RoiAlign, MaxRoiPool and NonMaxSuppression.
#include <cmath>

#include "ir/infer/nn_infer.h"
#include "ir/norm_params.h"
#include "ir/resize_params.h"

namespace kiln::nn_infer {
namespace {

Dim first_dim(const Shape& s) { return s.rank_known && s.rank() > 0 ? s.dims[0] : Dim{}; }
Dim dim_at(const Shape& s, size_t i) { return s.rank_known && s.rank() > i ? s.dims[i] : Dim{}; }

}  // namespace

Status infer_same_float(InferContext& ctx) { return infer_same_as_input(ctx, 0, 0); }

Status infer_batch_norm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(infer_same_as_input(ctx, 0, 0));
  if (auto params = batch_norm_params(ctx.attrs()); !params.ok()) return ctx.error(params.status().message());
  const Shape& x = ctx.input_type(0).shape;
  const Shape& s = ctx.input_type(1).shape;
  if (x.rank_known && x.rank() >= 2 && s.rank_known && s.rank() == 1 && x.dims[1].is_known() && s.dims[0].is_known() &&
      x.dims[1].value != s.dims[0].value)
    return ctx.error("scale has " + std::to_string(s.dims[0].value) + " elements; X has " + std::to_string(x.dims[1].value) +
                     " channels");
  for (size_t i = 1; i < ctx.num_outputs() && i < 5; ++i) {
    size_t src = i <= 2 ? i + 2 : i;  // running mean/var mirror input_mean/var; saved stats too
    if (src > 4) src = i - 2;
    ctx.set_output_type(i, ctx.input_type(src));
  }
  return ok_status();
}

Status infer_group_norm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(infer_same_as_input(ctx, 0, 0));
  auto params = group_norm_params(ctx.node());
  if (!params.ok()) return ctx.error(params.status().message());
  const Shape& x = ctx.input_type(0).shape;
  if (x.rank_known && x.rank() >= 2 && x.dims[1].is_known()) {
    if (Status st = check_group_norm_channels(*params, x.dims[1].value); !st.ok()) return ctx.error(st.message());
  }
  return ok_status();
}

Status infer_layer_norm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(infer_same_as_input(ctx, 0, 0));
  auto params = layer_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const Shape& x = ctx.input_type(0).shape;
  Shape s = Shape::unknown_rank();
  if (x.rank_known) {
    auto axis = layer_norm_axis(*params, static_cast<int64_t>(x.rank()));
    if (!axis.ok()) return ctx.error(axis.status().message());
    s = x;
    for (size_t i = static_cast<size_t>(*axis); i < s.rank(); ++i) s.dims[i] = Dim::known(1);
  }
  const DType st = params->stash_type;
  for (size_t i = 1; i < 3 && i < ctx.num_outputs(); ++i) ctx.set_output_type(i, TypeInfo::tensor(st, s));
  return ok_status();
}

Status infer_col2im(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  const Shape& x = ctx.input_type(0).shape;
  std::vector<int64_t> image, block;
  const bool have_image = constant_ints(ctx, 1, &image), have_block = constant_ints(ctx, 2, &block);
  if (!have_image) {
    Dim r = dim_at(ctx.input_type(1).shape, 0);
    if (r.is_known()) {
      std::vector<Dim> dims{first_dim(x), Dim{}};
      dims.resize(static_cast<size_t>(r.value) + 2);
      ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(dims)));
    } else {
      ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(dt));
    }
    return ok_status();
  }
  std::vector<Dim> dims{first_dim(x), Dim{}};
  Dim c = dim_at(x, 1);
  if (have_block && c.is_known()) {
    int64_t b = 1;
    for (int64_t v : block) b *= v;
    if (b <= 0 || c.value % b != 0)
      return ctx.error("input dim 1 (" + std::to_string(c.value) + ") is not a multiple of prod(block_shape)");
    dims[1] = Dim::known(c.value / b);
  }
  for (int64_t v : image) dims.push_back(Dim::known(v));
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(dims)));
  return ok_status();
}

Status infer_roi_align(InferContext& ctx) {
  std::vector<Dim> dims{first_dim(ctx.input_type(1).shape), dim_at(ctx.input_type(0).shape, 1),
                        Dim::known(ctx.attrs().get_int("output_height", 1)), Dim::known(ctx.attrs().get_int("output_width", 1))};
  ctx.set_output_type(0, TypeInfo::tensor(ctx.input_type(0).dtype, Shape::of_dims(dims)));
  return ok_status();
}

Status infer_max_roi_pool(InferContext& ctx) {
  std::vector<int64_t> pooled = ctx.attrs().get_ints("pooled_shape");
  if (pooled.size() != 2) return ctx.error("pooled_shape must have 2 values");
  std::vector<Dim> dims{first_dim(ctx.input_type(1).shape), dim_at(ctx.input_type(0).shape, 1), Dim::known(pooled[0]),
                        Dim::known(pooled[1])};
  ctx.set_output_type(0, TypeInfo::tensor(ctx.input_type(0).dtype, Shape::of_dims(dims)));
  return ok_status();
}

Status infer_nms(InferContext& ctx) {
  ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of_dims({Dim{}, Dim::known(3)})));
  return ok_status();
}

Status infer_resize(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  const Shape& x = ctx.input_type(0).shape;
  if (!x.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(dt));
    return ok_status();
  }
  const int64_t r = static_cast<int64_t>(x.rank());
  auto params = resize_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  auto axes_or = resize_axes(*params, r);
  if (!axes_or.ok()) return ctx.error(axes_or.status().message());
  const std::vector<int64_t>& axes = *axes_or;
  Shape out = x;
  std::vector<int64_t> sizes;
  const Tensor* scales = ctx.has_input(2) ? ctx.input_value(2) : nullptr;
  const ResizeAspect policy = params->aspect;
  if (ctx.has_input(3) && constant_ints(ctx, 3, &sizes) && !sizes.empty()) {
    if (sizes.size() != axes.size()) return ctx.error("sizes must have " + std::to_string(axes.size()) + " values");
    if (policy == ResizeAspect::kStretch) {
      for (size_t i = 0; i < axes.size(); ++i) out.dims[axes[i]] = Dim::known(sizes[i]);
    } else {
      bool all_known = true;
      for (int64_t a : axes) all_known = all_known && x.dims[a].is_known();
      const bool not_larger = policy == ResizeAspect::kNotLarger;
      double s = not_larger ? 1e300 : 0.0;
      for (size_t i = 0; i < axes.size() && all_known; ++i) {
        double f = static_cast<double>(sizes[i]) / static_cast<double>(x.dims[axes[i]].value);
        s = not_larger ? std::min(s, f) : std::max(s, f);
      }
      for (int64_t a : axes)
        out.dims[a] = all_known ? Dim::known(static_cast<int64_t>(s * static_cast<double>(x.dims[a].value) + 0.5)) : Dim{};
    }
  } else if (scales && scales->numel() > 0 && is_float(scales->dtype())) {
    if (static_cast<size_t>(scales->numel()) != axes.size())
      return ctx.error("scales must have " + std::to_string(axes.size()) + " values");
    for (size_t i = 0; i < axes.size(); ++i) {
      const Dim& d = x.dims[axes[i]];
      const double s = scales->as_double(static_cast<int64_t>(i));
      if (s == 1.0) continue;
      out.dims[axes[i]] = d.is_known() ? Dim::known(static_cast<int64_t>(std::floor(s * static_cast<double>(d.value)))) : Dim{};
    }
  } else {
    for (int64_t a : axes) out.dims[a] = Dim{};
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, out));
  return ok_status();
}

Status infer_grid_sample(InferContext& ctx) {
  const Shape& x = ctx.input_type(0).shape;
  const Shape& g = ctx.input_type(1).shape;
  Shape out = Shape::unknown_rank();
  if (g.rank_known && g.rank() >= 3) {
    std::vector<Dim> dims{first_dim(x).is_known() ? first_dim(x) : g.dims[0], dim_at(x, 1)};
    for (size_t i = 1; i + 1 < g.rank(); ++i) dims.push_back(g.dims[i]);
    out = Shape::of_dims(dims);
  }
  ctx.set_output_type(0, TypeInfo::tensor(ctx.input_type(0).dtype, out));
  return ok_status();
}

Status infer_affine_grid(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  std::vector<int64_t> size;
  if (constant_ints(ctx, 1, &size)) {
    if (size.size() != 4 && size.size() != 5) return ctx.error("size must have 4 or 5 values");
    std::vector<int64_t> d{size[0]};
    d.insert(d.end(), size.begin() + 2, size.end());
    d.push_back(static_cast<int64_t>(size.size()) - 2);
    ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of(d)));
    return ok_status();
  }
  Dim n = dim_at(ctx.input_type(1).shape, 0);
  if (n.is_known() && (n.value == 4 || n.value == 5)) {
    std::vector<Dim> dims(static_cast<size_t>(n.value) - 1);
    dims[0] = first_dim(ctx.input_type(0).shape);
    dims.back() = Dim::known(n.value - 2);
    ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(dims)));
  } else {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(dt));
  }
  return ok_status();
}

}  // namespace kiln::nn_infer
