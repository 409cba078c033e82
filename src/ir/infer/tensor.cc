// Shape and type inference for the tensor family: shape-valued and reshaping ops, constant folding, registration.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/reference/kernel.h"
#include "ir/infer/tensor_infer.h"
#include "ir/op_params.h"
#include "ir/shape_rules.h"

namespace kiln {

namespace {

constexpr int64_t kFoldLimit = 1 << 16;  // elements: larger constants are not folded at build time

bool small_known(const TypeInfo& t) {
  if (!t.is_tensor() || !t.shape.fully_known()) return false;
  const int64_t n = dims_numel(t.shape.concrete());
  return n >= 0 && n <= kFoldLimit;
}

const TypeInfo* tensor_input(const InferContext& ctx, size_t i) {
  const TypeInfo& t = ctx.input_type(i);
  return t.is_tensor() ? &t : nullptr;
}

bool rank_known(const InferContext& ctx, size_t i) {
  const TypeInfo* t = tensor_input(ctx, i);
  return t && t->shape.rank_known;
}

// Length of a 1-D input whose shape is known, or -1.
int64_t known_length(const InferContext& ctx, size_t i) {
  const TypeInfo* t = tensor_input(ctx, i);
  if (!t || !t->shape.rank_known || t->shape.rank() != 1 || !t->shape.dims[0].is_known()) return -1;
  return t->shape.dims[0].value;
}

std::vector<Dim> unknown_dims(int64_t n) { return std::vector<Dim>(static_cast<size_t>(n)); }

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Dim mul_dim(const Dim& a, int64_t k) {
  if (k == 1) return a;
  if (k == 0) return Dim::known(0);
  return a.is_known() ? Dim::known(a.value * k) : Dim{};
}

void fold_if_constant(InferContext& ctx) {
  KernelFn fn = reference_kernels().find(ctx.node().op);
  if (!fn) return;
  std::vector<Value> values(ctx.num_inputs());
  std::vector<const Value*> ptrs(ctx.num_inputs(), nullptr);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const Tensor* t = ctx.input_value(i);
    if (!t || t->numel() > kFoldLimit) return;
    values[i] = Value::of(*t);
    ptrs[i] = &values[i];
  }
  for (size_t i = 0; i < ctx.num_outputs(); ++i)
    if (ctx.node().has_output(i) && !small_known(ctx.output_types()[i])) return;
  KernelContext kc(ctx.node(), ptrs, nullptr);
  if (!fn(kc).ok()) return;
  for (size_t i = 0; i < ctx.num_outputs() && i < kc.outputs().size(); ++i) {
    const Value& v = kc.outputs()[i];
    if (ctx.node().has_output(i) && v.is_tensor() && v.tensor.defined()) ctx.set_output_value(i, v.tensor);
  }
}

Status infer_reshape(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> shape;
  if (!constant_ints(ctx, 1, &shape)) {
    const int64_t n = known_length(ctx, 1);
    if (n < 0) set_unknown(ctx, 0, in.dtype);
    else ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(unknown_dims(n))));
    return ok_status();
  }
  const bool allowzero = ctx.attrs().get_int("allowzero", 0) != 0;
  const bool in_known = in.is_tensor() && in.shape.rank_known;
  std::vector<Dim> out(shape.size());
  std::vector<bool> copied(in_known ? in.shape.rank() : 0, false);
  int64_t infer_at = -1, known_product = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t d = shape[i];
    if (d == -1) {
      if (infer_at >= 0) return ctx.error("shape " + ints_str(shape) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (d < -1) {
      return ctx.error("shape " + ints_str(shape) + " has an invalid dimension " + std::to_string(d));
    } else if (d == 0 && !allowzero) {
      if (in_known) {
        if (i >= in.shape.rank())
          return ctx.error("shape " + ints_str(shape) + " copies dimension " + std::to_string(i) + " but the input has rank " +
                           std::to_string(in.shape.rank()));
        out[i] = in.shape.dims[i];
        copied[i] = true;
      }
    } else {
      out[i] = Dim::known(d);
      known_product *= d;
    }
  }
  if (in_known) {
    // Elements not accounted for by copied dims must all be known to resolve -1 (or to check the size).
    bool rest_known = true;
    int64_t rest = 1;
    const Dim* lone_unknown = nullptr;
    int unknown_count = 0;
    for (size_t i = 0; i < in.shape.rank(); ++i) {
      if (copied[i]) continue;
      if (in.shape.dims[i].is_known()) {
        rest *= in.shape.dims[i].value;
      } else {
        rest_known = false;
        lone_unknown = &in.shape.dims[i];
        ++unknown_count;
      }
    }
    // [batch, 3, 4] -> [-1, 12]: the -1 stands for the one unknown input dim when the known parts match.
    if (!rest_known && infer_at >= 0 && unknown_count == 1 && rest == known_product) out[infer_at] = *lone_unknown;
    // Copied output dims whose value is known contribute to the product on the output side too.
    if (rest_known) {
      if (infer_at >= 0) {
        if (known_product == 0 || rest % known_product != 0)
          return ctx.error("cannot reshape input " + in.shape.to_string() + " to " + ints_str(shape));
        out[infer_at] = Dim::known(rest / known_product);
      } else if (rest != known_product) {
        return ctx.error("cannot reshape input " + in.shape.to_string() + " to " + ints_str(shape));
      }
    }
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_squeeze(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(ctx, 0)) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(in.shape.rank());
  std::vector<bool> drop(r, false);
  if (ctx.has_input(1)) {
    std::vector<int64_t> axes;
    if (!constant_ints(ctx, 1, &axes)) {
      const int64_t n = known_length(ctx, 1);
      if (n < 0) set_unknown(ctx, 0, in.dtype);
      else ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(unknown_dims(std::max<int64_t>(0, r - n)))));
      return ok_status();
    }
    for (int64_t a : axes) {
      int64_t n;
      if (!normalize_axis(a, r, &n)) return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
      const Dim& d = in.shape.dims[n];
      if (d.is_known() && d.value != 1) return ctx.error("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(d.value));
      drop[n] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) {
      const Dim& d = in.shape.dims[i];
      if (!d.is_known()) return set_unknown(ctx, 0, in.dtype), ok_status();
      drop[i] = d.value == 1;
    }
  }
  std::vector<Dim> out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(in.shape.dims[i]);
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_unsqueeze(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> axes;
  if (!rank_known(ctx, 0) || !constant_ints(ctx, 1, &axes)) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(in.shape.rank() + axes.size());
  std::vector<bool> inserted(r, false);
  for (int64_t a : axes) {
    int64_t n;
    if (!normalize_axis(a, r, &n)) return ctx.error("axis " + std::to_string(a) + " is out of range for output rank " + std::to_string(r));
    if (inserted[n]) return ctx.error("axes " + ints_str(axes) + " contain a duplicate");
    inserted[n] = true;
  }
  std::vector<Dim> out;
  size_t src = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(inserted[i] ? Dim::known(1) : in.shape.dims[src++]);
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_flatten(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(ctx, 0)) {
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(unknown_dims(2))));
    return ok_status();
  }
  const int64_t r = static_cast<int64_t>(in.shape.rank());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < -r || axis > r) return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
  if (axis < 0) axis += r;
  auto product = [&](int64_t from, int64_t to) {
    if (to - from == 1) return in.shape.dims[from];
    int64_t p = 1;
    for (int64_t i = from; i < to; ++i) {
      if (!in.shape.dims[i].is_known()) return Dim{};
      p *= in.shape.dims[i].value;
    }
    return Dim::known(p);
  };
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims({product(0, axis), product(axis, r)})));
  return ok_status();
}

Status infer_identity(InferContext& ctx) { return infer_same_as_input(ctx, 0, 0); }

Status infer_shape(InferContext& ctx) {
  if (!rank_known(ctx, 0)) {
    ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of_dims(unknown_dims(1))));
    return ok_status();
  }
  const Shape& s = ctx.input_type(0).shape;
  const int64_t r = static_cast<int64_t>(s.rank());
  int64_t start = ctx.attrs().get_int("start", 0), end = ctx.attrs().get_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  const int64_t n = std::max<int64_t>(0, end - start);
  bool known = true;
  std::vector<int64_t> v;
  for (int64_t i = start; i < start + n; ++i) {
    known = known && s.dims[i].is_known();
    v.push_back(s.dims[i].value);
  }
  if (known) ctx.set_output_value(0, Tensor::from_vector<int64_t>(DType::kInt64, {n}, v));
  else ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of({n})));
  return ok_status();
}

Status infer_size(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (in.is_tensor() && in.shape.fully_known())
    ctx.set_output_value(0, Tensor::scalar<int64_t>(DType::kInt64, dims_numel(in.shape.concrete())));
  else
    ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of({})));
  return ok_status();
}

Status infer_constant_of_shape(InferContext& ctx) {
  DType dt = DType::kFloat32;
  if (const Tensor* v = ctx.attrs().get_tensor("value")) dt = v->dtype();
  std::vector<int64_t> shape;
  if (constant_ints(ctx, 0, &shape)) {
    for (int64_t d : shape)
      if (d < 0) return ctx.error("shape " + ints_str(shape) + " has a negative dimension");
    ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of(shape)));
  } else {
    const int64_t n = known_length(ctx, 0);
    if (n < 0) set_unknown(ctx, 0, dt);
    else ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(unknown_dims(n))));
  }
  return ok_status();
}

Status infer_range(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  const Tensor *s = ctx.input_value(0), *l = ctx.input_value(1), *d = ctx.input_value(2);
  if (s && l && d && s->numel() == 1 && l->numel() == 1 && d->numel() == 1) {
    const double delta = d->as_double(0);
    if (delta == 0) return ctx.error("delta must be nonzero");
    const double count = std::ceil((l->as_double(0) - s->as_double(0)) / delta);
    if (count < double(int64_t{1} << 40)) {
      ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of({count > 0 ? static_cast<int64_t>(count) : 0})));
      return ok_status();
    }
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(unknown_dims(1))));
  return ok_status();
}

Status infer_concat(InferContext& ctx) {
  DType dt = DType::kUndefined;
  int64_t r = -1;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo* t = tensor_input(ctx, i);
    if (!t) continue;
    if (t->dtype != DType::kUndefined) {
      if (dt != DType::kUndefined && t->dtype != dt)
        return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(t->dtype) + ", expected " + dtype_name(dt));
      dt = t->dtype;
    }
    if (t->shape.rank_known) {
      if (r >= 0 && static_cast<int64_t>(t->shape.rank()) != r)
        return ctx.error("inputs have different ranks (" + std::to_string(r) + " and " + std::to_string(t->shape.rank()) + ")");
      r = static_cast<int64_t>(t->shape.rank());
    }
  }
  if (r < 0) return set_unknown(ctx, 0, dt), ok_status();
  auto axis_or = concat_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  std::vector<Dim> out(r);
  bool axis_known = true;
  int64_t axis_sum = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo* t = tensor_input(ctx, i);
    if (!t || !t->shape.rank_known) {
      axis_known = false;
      continue;
    }
    for (int64_t d = 0; d < r; ++d) {
      const Dim& x = t->shape.dims[d];
      if (d == axis) {
        if (x.is_known()) axis_sum += x.value;
        else axis_known = false;
        continue;
      }
      if (x.is_known() && out[d].is_known() && x.value != out[d].value)
        return ctx.error("input " + std::to_string(i) + " has dimension " + std::to_string(x.value) + " on axis " +
                         std::to_string(d) + ", expected " + std::to_string(out[d].value));
      if (x.is_known() || (!out[d].is_known() && out[d].symbol.empty())) out[d] = x;
    }
  }
  out[axis] = axis_known ? Dim::known(axis_sum) : Dim{};
  if (ctx.num_inputs() == 1 && tensor_input(ctx, 0)) out[axis] = ctx.input_type(0).shape.dims[axis];
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(out)));
  return ok_status();
}

Status infer_slice(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(ctx, 0)) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(in.shape.rank());
  std::vector<int64_t> starts, ends, axes, steps;
  const bool known = constant_ints(ctx, 1, &starts) && constant_ints(ctx, 2, &ends) &&
                     (!ctx.has_input(3) || constant_ints(ctx, 3, &axes)) && (!ctx.has_input(4) || constant_ints(ctx, 4, &steps));
  std::vector<Dim> out = in.shape.dims;
  if (!known) {
    // Only the sliced axes change; without constant axes any axis may.
    std::vector<int64_t> ax;
    if (ctx.has_input(3) && constant_ints(ctx, 3, &ax)) {
      for (int64_t a : ax) {
        int64_t n;
        if (normalize_axis(a, r, &n)) out[n] = Dim{};
      }
    } else {
      const int64_t n = ctx.has_input(3) ? -1 : known_length(ctx, 1);
      for (int64_t d = 0; d < r; ++d)
        if (n < 0 || d < n) out[d] = Dim{};
    }
    ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
    return ok_status();
  }
  if (!ctx.has_input(3))
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (!ctx.has_input(4)) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, ends, axes and steps must have the same length");
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a;
    if (!normalize_axis(axes[i], r, &a)) return ctx.error("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(r));
    const int64_t s = steps[i];
    if (s == 0) return ctx.error("steps must be nonzero");
    const Dim& dim = in.shape.dims[a];
    if (!dim.is_known()) {
      // Full-range slices with step 1 keep a symbolic dim.
      const bool full = s == 1 && (starts[i] == 0 || starts[i] <= INT64_MIN / 2) && ends[i] >= INT32_MAX;
      out[a] = full ? dim : Dim{};
      continue;
    }
    out[a] = Dim::known(slice_range(starts[i], ends[i], s, dim.value).count);
  }
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_gather(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const TypeInfo* ind = tensor_input(ctx, 1);
  if (!rank_known(ctx, 0) || !ind || !ind->shape.rank_known) return set_unknown(ctx, 0, in.dtype), ok_status();
  const int64_t r = static_cast<int64_t>(in.shape.rank());
  if (r == 0) return ctx.error("data must have rank >= 1");
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  std::vector<int64_t> idx;
  const Dim& dim = in.shape.dims[axis];
  if (dim.is_known() && constant_ints(ctx, 1, &idx))
    for (int64_t i : idx)
      if (i < -dim.value || i >= dim.value)
        return ctx.error("index " + std::to_string(i) + " is out of range for axis size " + std::to_string(dim.value));
  std::vector<Dim> out(in.shape.dims.begin(), in.shape.dims.begin() + axis);
  out.insert(out.end(), ind->shape.dims.begin(), ind->shape.dims.end());
  out.insert(out.end(), in.shape.dims.begin() + axis + 1, in.shape.dims.end());
  ctx.set_output_type(0, TypeInfo::tensor(in.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_split(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const size_t n_out = ctx.num_outputs();
  if (!rank_known(ctx, 0)) {
    for (size_t i = 0; i < n_out; ++i) set_unknown(ctx, i, in.dtype);
    return ok_status();
  }
  const int64_t r = static_cast<int64_t>(in.shape.rank());
  int64_t axis;
  if (!normalize_axis(ctx.attrs().get_int("axis", 0), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  const Dim& dim = in.shape.dims[axis];
  std::vector<Dim> sizes(n_out);
  std::vector<int64_t> split;
  if (ctx.has_input(1)) {
    if (constant_ints(ctx, 1, &split)) {
      if (split.size() != n_out)
        return ctx.error("split has " + std::to_string(split.size()) + " entries but the node has " + std::to_string(n_out) + " outputs");
      int64_t sum = 0;
      for (size_t i = 0; i < n_out; ++i) {
        if (split[i] < 0) return ctx.error("split " + ints_str(split) + " has a negative entry");
        sizes[i] = Dim::known(split[i]);
        sum += split[i];
      }
      if (dim.is_known() && sum != dim.value)
        return ctx.error("split " + ints_str(split) + " sums to " + std::to_string(sum) + " but the axis has size " + std::to_string(dim.value));
    }
  } else if (dim.is_known() && n_out > 0) {
    const int64_t parts = static_cast<int64_t>(n_out);
    if (ctx.attrs().has("num_outputs")) {
      const int64_t chunk = (dim.value + parts - 1) / parts;
      for (int64_t i = 0; i < parts; ++i) sizes[i] = Dim::known(std::clamp<int64_t>(dim.value - i * chunk, 0, chunk));
    } else {
      if (dim.value % parts != 0)
        return ctx.error("axis of size " + std::to_string(dim.value) + " cannot be split evenly into " + std::to_string(parts) + " outputs");
      for (auto& s : sizes) s = Dim::known(dim.value / parts);
    }
  }
  for (size_t i = 0; i < n_out; ++i) {
    std::vector<Dim> d = in.shape.dims;
    d[axis] = sizes[i];
    ctx.set_output_type(i, TypeInfo::tensor(in.dtype, Shape::of_dims(d)));
  }
  return ok_status();
}

namespace {

template <InferFn F>
Status with_fold(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(F(ctx));
  fold_if_constant(ctx);
  return ok_status();
}

}  // namespace

void register_tensor_infer(InferRegistry& r) {
  r.add(OpKind::kReshape, with_fold<infer_reshape>);
  r.add(OpKind::kSqueeze, with_fold<infer_squeeze>);
  r.add(OpKind::kUnsqueeze, with_fold<infer_unsqueeze>);
  r.add(OpKind::kFlatten, with_fold<infer_flatten>);
  r.add(OpKind::kIdentity, with_fold<infer_identity>);
  r.add(OpKind::kShape, infer_shape);
  r.add(OpKind::kSize, infer_size);
  r.add(OpKind::kConstantOfShape, with_fold<infer_constant_of_shape>);
  r.add(OpKind::kRange, with_fold<infer_range>);
  r.add(OpKind::kConcat, with_fold<infer_concat>);
  r.add(OpKind::kSlice, with_fold<infer_slice>);
  r.add(OpKind::kGather, with_fold<infer_gather>);
  r.add(OpKind::kSplit, with_fold<infer_split>);
  r.add(OpKind::kTranspose, with_fold<infer_transpose>);
  r.add(OpKind::kDepthToSpace, infer_depth_to_space);
  r.add(OpKind::kSpaceToDepth, infer_space_to_depth);
  r.add(OpKind::kTrilu, infer_same_shape);
  r.add(OpKind::kReverseSequence, infer_same_shape);
  r.add(OpKind::kCumSum, with_fold<infer_same_shape>);
  r.add(OpKind::kScatter, with_fold<infer_same_shape>);
  r.add(OpKind::kScatterElements, with_fold<infer_same_shape>);
  r.add(OpKind::kScatterND, with_fold<infer_same_shape>);
  r.add(OpKind::kTensorScatter, infer_same_shape);
  r.add(OpKind::kEyeLike, infer_eye_like);
  r.add(OpKind::kDropout, infer_dropout);
  r.add(OpKind::kPad, with_fold<infer_pad>);
  r.add(OpKind::kExpand, with_fold<infer_expand>);
  r.add(OpKind::kTile, with_fold<infer_tile>);
  r.add(OpKind::kCenterCropPad, infer_center_crop_pad);
  r.add(OpKind::kGatherElements, with_fold<infer_gather_elements>);
  r.add(OpKind::kGatherND, with_fold<infer_gather_nd>);
  r.add(OpKind::kCompress, infer_compress);
  r.add(OpKind::kNonZero, infer_non_zero);
  r.add(OpKind::kOneHot, with_fold<infer_one_hot>);
  r.add(OpKind::kTopK, infer_top_k);
  r.add(OpKind::kArgMax, with_fold<infer_arg_reduce>);
  r.add(OpKind::kArgMin, with_fold<infer_arg_reduce>);
  r.add(OpKind::kUnique, infer_unique);
}

}  // namespace kiln
