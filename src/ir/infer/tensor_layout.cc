// Shape and type inference for the tensor family: layout, padding, indexing, sorting and generator ops.
#include <algorithm>

#include "ir/infer/tensor_infer.h"
#include "ir/op_params.h"

namespace kiln {

namespace {

const TypeInfo* ranked(const InferContext& ctx, size_t i) {
  const TypeInfo& t = ctx.input_type(i);
  return t.is_tensor() && t.shape.rank_known ? &t : nullptr;
}

std::string axis_msg(int64_t axis, int64_t r) {
  return "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r);
}

}  // namespace

Status infer_transpose(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  auto perm = transpose_perm(ctx.attrs(), r);
  if (!perm.ok()) return ctx.error(perm.status().message());
  std::vector<Dim> out(r);
  for (int64_t i = 0; i < r; ++i) out[i] = t->shape.dims[(*perm)[i]];
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

namespace {

Status infer_block_rearrange(InferContext& ctx, bool to_space) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  const int64_t b = ctx.attrs().get_int("blocksize", 0);
  if (b <= 0) return ctx.error("blocksize must be positive, got " + std::to_string(b));
  if (!t) {
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(std::vector<Dim>(4))));
    return ok_status();
  }
  if (t->shape.rank() != 4) return ctx.error("input must be 4-D (N,C,H,W), got " + t->shape.to_string());
  const auto& d = t->shape.dims;
  std::vector<Dim> out = {d[0], Dim{}, Dim{}, Dim{}};
  if (to_space) {
    if (d[1].is_known()) {
      if (d[1].value % (b * b) != 0) return ctx.error("channels must be divisible by blocksize^2");
      out[1] = Dim::known(d[1].value / (b * b));
    }
    out[2] = mul_dim(d[2], b);
    out[3] = mul_dim(d[3], b);
  } else {
    out[1] = mul_dim(d[1], b * b);
    for (int i = 2; i < 4; ++i)
      if (d[i].is_known()) {
        if (d[i].value % b != 0) return ctx.error("spatial dims must be divisible by blocksize");
        out[i] = Dim::known(d[i].value / b);
      }
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

}  // namespace

Status infer_depth_to_space(InferContext& ctx) { return infer_block_rearrange(ctx, true); }
Status infer_space_to_depth(InferContext& ctx) { return infer_block_rearrange(ctx, false); }

Status infer_same_shape(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (in.is_tensor()) ctx.set_output_type(0, in);
  else set_unknown(ctx, 0, DType::kUndefined);
  return ok_status();
}

Status infer_eye_like(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  DType dt = in.dtype;
  if (ctx.attrs().has("dtype") && !dtype_from_int(ctx.attrs().get_int("dtype"), &dt))
    return ctx.error("unknown dtype " + std::to_string(ctx.attrs().get_int("dtype")));
  if (const TypeInfo* t = ranked(ctx, 0)) {
    if (t->shape.rank() != 2) return ctx.error("input must be 2-D, got " + t->shape.to_string());
    ctx.set_output_type(0, TypeInfo::tensor(dt, t->shape));
  } else {
    ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(std::vector<Dim>(2))));
  }
  return ok_status();
}

Status infer_dropout(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  ctx.set_output_type(0, in);
  if (ctx.num_outputs() > 1) {
    const DType mt = ctx.opset() >= 10 ? DType::kBool : in.dtype;
    ctx.set_output_type(1, in.is_tensor() ? TypeInfo::tensor(mt, in.shape) : TypeInfo::tensor_unknown_shape(mt));
  }
  return ok_status();
}

Status infer_pad(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  std::vector<int64_t> pads, axes;
  const bool have_axes = !ctx.has_input(3) || constant_ints(ctx, 3, &axes);
  if (!constant_ints(ctx, 1, &pads) || !have_axes) {
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(std::vector<Dim>(r))));
    return ok_status();
  }
  if (!ctx.has_input(3))
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size())
    return ctx.error("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * axes.size()));
  std::vector<Dim> out = t->shape.dims;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a;
    if (!normalize_axis(axes[i], r, &a)) return ctx.error(axis_msg(axes[i], r));
    const int64_t add = pads[i] + pads[axes.size() + i];
    if (add == 0) continue;
    if (out[a].is_known()) {
      if (out[a].value + add < 0) return ctx.error("pads remove more elements than axis " + std::to_string(a) + " has");
      out[a] = Dim::known(out[a].value + add);
    } else {
      out[a] = Dim{};
    }
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_expand(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> shape;
  if (!constant_ints(ctx, 1, &shape)) {
    const TypeInfo& s = ctx.input_type(1);
    const TypeInfo* t = ranked(ctx, 0);
    if (t && s.is_tensor() && s.shape.rank_known && s.shape.rank() == 1 && s.shape.dims[0].is_known()) {
      const size_t r = std::max<size_t>(t->shape.rank(), static_cast<size_t>(s.shape.dims[0].value));
      ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(std::vector<Dim>(r))));
    } else {
      set_unknown(ctx, 0, in.dtype);
    }
    return ok_status();
  }
  for (int64_t d : shape)
    if (d < 0) return ctx.error("shape has a negative dimension " + std::to_string(d));
  if (!ranked(ctx, 0)) return set_unknown(ctx, 0, in.dtype), ok_status();
  Shape out;
  Status st = broadcast_shapes(in.shape, Shape::of(shape), &out);
  if (!st.ok()) return ctx.error(st.message());
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, out));
  return ok_status();
}

Status infer_tile(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  std::vector<int64_t> reps;
  if (ctx.opset() < 6 || !constant_ints(ctx, 1, &reps)) {
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(std::vector<Dim>(r))));
    return ok_status();
  }
  if (static_cast<int64_t>(reps.size()) != r)
    return ctx.error("repeats has " + std::to_string(reps.size()) + " entries but the input has rank " + std::to_string(r));
  std::vector<Dim> out(r);
  for (int64_t i = 0; i < r; ++i) {
    if (reps[i] < 0) return ctx.error("repeats has a negative entry");
    out[i] = mul_dim(t->shape.dims[i], reps[i]);
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_center_crop_pad(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  std::vector<int64_t> axes = ctx.attrs().get_ints("axes");
  if (!ctx.attrs().has("axes"))
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  std::vector<Dim> out = t->shape.dims;
  std::vector<int64_t> shape;
  const bool known = constant_ints(ctx, 1, &shape);
  if (known && shape.size() != axes.size())
    return ctx.error("shape has " + std::to_string(shape.size()) + " entries but there are " + std::to_string(axes.size()) + " axes");
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a;
    if (!normalize_axis(axes[i], r, &a)) return ctx.error(axis_msg(axes[i], r));
    out[a] = known ? Dim::known(shape[i]) : Dim{};
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_gather_elements(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo& ind = ctx.input_type(1);
  const TypeInfo* t = ranked(ctx, 0);
  if (t && ind.is_tensor() && ind.shape.rank_known && ind.shape.rank() != t->shape.rank())
    return ctx.error("indices rank " + std::to_string(ind.shape.rank()) + " must equal data rank " + std::to_string(t->shape.rank()));
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, ind.is_tensor() ? ind.shape : Shape::unknown_rank()));
  return ok_status();
}

Status infer_gather_nd(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  const TypeInfo* ind = ranked(ctx, 1);
  if (!t || !ind || ind->shape.rank() == 0 || !ind->shape.dims.back().is_known())
    return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  const int64_t b = ctx.attrs().get_int("batch_dims", 0);
  const int64_t last = ind->shape.dims.back().value;
  if (b < 0 || last < 1 || b + last > r)
    return ctx.error("indices last dimension " + std::to_string(last) + " with batch_dims " + std::to_string(b) +
                     " does not fit data rank " + std::to_string(r));
  std::vector<Dim> out(ind->shape.dims.begin(), ind->shape.dims.end() - 1);
  out.insert(out.end(), t->shape.dims.begin() + b + last, t->shape.dims.end());
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_compress(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!ctx.attrs().has("axis")) {
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(std::vector<Dim>(1))));
    return ok_status();
  }
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  int64_t a;
  if (!normalize_axis(ctx.attrs().get_int("axis"), r, &a)) return ctx.error(axis_msg(ctx.attrs().get_int("axis"), r));
  std::vector<Dim> out = t->shape.dims;
  out[a] = Dim{};
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_non_zero(InferContext& ctx) {
  const TypeInfo* t = ranked(ctx, 0);
  Dim rank = t ? Dim::known(std::max<int64_t>(1, static_cast<int64_t>(t->shape.rank()))) : Dim{};
  ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of_dims({rank, Dim{}})));
  return ok_status();
}

Status infer_one_hot(InferContext& ctx) {
  const DType dt = ctx.input_type(2).dtype;
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, dt), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank()) + 1;
  int64_t a;
  if (!normalize_axis(ctx.attrs().get_int("axis", -1), r, &a)) return ctx.error(axis_msg(ctx.attrs().get_int("axis", -1), r));
  Dim depth;
  const Tensor* d = ctx.input_value(1);
  if (d && d->numel() == 1 && d->dtype() != DType::kString) {
    const double v = d->as_double(0);
    if (!(v >= 1)) return ctx.error("depth must be positive");
    if (v < double(int64_t{1} << 40)) depth = Dim::known(static_cast<int64_t>(v));
  }
  std::vector<Dim> out = t->shape.dims;
  out.insert(out.begin() + a, depth);
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(out)));
  return ok_status();
}

Status infer_top_k(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) {
    set_unknown(ctx, 0, in.dtype);
    set_unknown(ctx, 1, DType::kInt64);
    return ok_status();
  }
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  int64_t a;
  if (!normalize_axis(ctx.attrs().get_int("axis", -1), r, &a)) return ctx.error(axis_msg(ctx.attrs().get_int("axis", -1), r));
  std::vector<Dim> out = t->shape.dims;
  std::vector<int64_t> k;
  if (constant_ints(ctx, 1, &k) && k.size() == 1) {
    if (k[0] < 0 || (out[a].is_known() && k[0] > out[a].value))
      return ctx.error("K = " + std::to_string(k[0]) + " is outside [0, axis size]");
    out[a] = Dim::known(k[0]);
  } else {
    out[a] = Dim{};
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  ctx.set_output_type(1, TypeInfo::tensor(DType::kInt64, Shape::of_dims(out)));
  return ok_status();
}

Status infer_arg_reduce(InferContext& ctx) {
  const TypeInfo* t = ranked(ctx, 0);
  if (!t) return set_unknown(ctx, 0, DType::kInt64), ok_status();
  const int64_t r = static_cast<int64_t>(t->shape.rank());
  int64_t a;
  if (!normalize_axis(ctx.attrs().get_int("axis", 0), r, &a)) return ctx.error(axis_msg(ctx.attrs().get_int("axis", 0), r));
  std::vector<Dim> out = t->shape.dims;
  if (ctx.attrs().get_int("keepdims", 1) != 0) out[a] = Dim::known(1);
  else out.erase(out.begin() + a);
  ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of_dims(out)));
  return ok_status();
}

Status infer_unique(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* t = ranked(ctx, 0);
  const Shape vec = Shape::of_dims(std::vector<Dim>(1));
  if (!ctx.attrs().has("axis")) {
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, vec));
  } else if (t) {
    const int64_t r = static_cast<int64_t>(t->shape.rank());
    int64_t a;
    if (!normalize_axis(ctx.attrs().get_int("axis"), r, &a)) return ctx.error(axis_msg(ctx.attrs().get_int("axis"), r));
    std::vector<Dim> out = t->shape.dims;
    out[a] = Dim{};
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  } else {
    set_unknown(ctx, 0, in.dtype);
  }
  for (size_t i = 1; i < 4; ++i) ctx.set_output_type(i, TypeInfo::tensor(DType::kInt64, vec));
  return ok_status();
}

}  // namespace kiln
