// CUDA Pad, ConstantOfShape, Range, Trilu, EyeLike, OneHot and CumSum (host side).
#include <cmath>
#include <cstring>

#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/elementwise/host_util.h"

namespace kiln::cuda {

namespace {

int pad_mode(const std::string& m) {
  if (m == "constant") return 0;
  if (m == "reflect") return 1;
  if (m == "edge") return 2;
  if (m == "wrap") return 3;
  return -1;
}

// The bytes of `v` converted to dtype t (numeric and bool; narrow floats rounded), in `out` (8 bytes).
Status scalar_bytes(const CudaKernelContext& ctx, DType t, double v, uint64_t* out) {
  KILN_ASSIGN_OR_RETURN(Tensor s, Tensor::allocate(t, {}));
  switch (t) {
    case DType::kFloat32:
      *s.data<float>() = static_cast<float>(v);
      break;
    case DType::kFloat64:
      *s.data<double>() = v;
      break;
    case DType::kInt8:
      *s.data<int8_t>() = static_cast<int8_t>(v);
      break;
    case DType::kUInt8:
      *s.data<uint8_t>() = static_cast<uint8_t>(v);
      break;
    case DType::kInt16:
      *s.data<int16_t>() = static_cast<int16_t>(v);
      break;
    case DType::kUInt16:
      *s.data<uint16_t>() = static_cast<uint16_t>(v);
      break;
    case DType::kInt32:
      *s.data<int32_t>() = static_cast<int32_t>(v);
      break;
    case DType::kUInt32:
      *s.data<uint32_t>() = static_cast<uint32_t>(v);
      break;
    case DType::kInt64:
      *s.data<int64_t>() = static_cast<int64_t>(v);
      break;
    case DType::kUInt64:
      *s.data<uint64_t>() = static_cast<uint64_t>(v);
      break;
    case DType::kBool:
      *s.data<uint8_t>() = v != 0 ? 1 : 0;
      break;
    default:
      return ctx.unsupported(std::string("constant of dtype ") + dtype_name(t));
  }
  *out = 0;
  std::memcpy(out, s.raw(), dtype_size(t));
  return ok_status();
}

}  // namespace

bool supports_pad(const Node& node, const std::vector<const TypeInfo*>& types) {
  return pad_mode(node.attrs.get_string("mode", "constant")) >= 0 && supports_movable(node, types);
}

Status run_pad(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  const int64_t r = static_cast<int64_t>(x.size());
  const std::string mode_s = ctx.attrs().get_string("mode", "constant");
  const int mode = pad_mode(mode_s);
  if (mode < 0) return ctx.error("mode must be constant, reflect, edge or wrap, got '" + mode_s + "'");
  if (r > kMaxDims) return ctx.unsupported("rank above " + std::to_string(kMaxDims));
  std::vector<int64_t> pads, axes;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "pads", &pads));
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(read_ints(ctx, 3, "axes", &axes));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  if (pads.size() != 2 * na)
    return ctx.error("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * na) +
                     " (2 per axis)");
  std::vector<int64_t> begin(r, 0), end(r, 0);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < na; ++i) {
    int64_t a;
    KILN_RETURN_IF_ERROR(normalize_axis(ctx, axes[i], r, &a));
    if (seen[a]) return ctx.error("axes " + ints_str(axes) + " contain a duplicate");
    seen[a] = true;
    begin[a] = pads[i];
    end[a] = pads[na + i];
    const int64_t limit = int64_t{1} << 40;
    if (begin[a] < -limit || begin[a] > limit || end[a] < -limit || end[a] > limit)
      return ctx.error("pads " + ints_str(pads) + " are out of any sensible range");
  }
  PadDesc d;
  d.rank = static_cast<int>(r);
  Dims out_dims(r);
  for (int64_t a = 0; a < r; ++a) {
    out_dims[a] = x[a] + begin[a] + end[a];
    if (out_dims[a] < 0)
      return ctx.error("pads " + ints_str(pads) + " remove more than the " + std::to_string(x[a]) +
                       " elements of axis " + std::to_string(a));
    if (mode != 0 && x[a] == 0 && out_dims[a] > 0)
      return ctx.error("cannot pad empty axis " + std::to_string(a) + " in " + mode_s + " mode");
    d.out_dims[a] = out_dims[a];
    d.in_dims[a] = x[a];
    d.pad_begin[a] = begin[a];
  }
  uint64_t value = 0;
  if (mode == 0 && ctx.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(Tensor fill, ctx.host_input(2));
    if (fill.numel() != 1) return ctx.error("constant_value must be a scalar, got " + dims_to_string(fill.dims()));
    if (fill.dtype() != dt)
      return ctx.error(std::string("constant_value has dtype ") + dtype_name(fill.dtype()) + ", expected " +
                       dtype_name(dt));
    std::memcpy(&value, fill.raw(), dtype_size(dt));
  } else if (mode == 0 && ctx.attrs().has("value")) {
    if (dt == DType::kFloat16 || dt == DType::kBFloat16)
      return ctx.unsupported("Pad-2 'value' attribute on a 16-bit float tensor on CUDA");
    KILN_RETURN_IF_ERROR(scalar_bytes(ctx, dt, ctx.attrs().get_float("value"), &value));
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  return launch_status(ctx, launch_pad(dtype_size(dt), in.data, out.data, d, mode, &value, out.numel(), ctx.stream()),
                       "Pad");
}

bool supports_constant_of_shape(const Node& node, const std::vector<const TypeInfo*>& types) {
  const Tensor* v = node.attrs.get_tensor("value");
  return v == nullptr || (v->numel() == 1 && movable_dtype(v->dtype()));
}

Status run_constant_of_shape(CudaKernelContext& ctx) {
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 0, "input", &shape));
  if (ctx.input_dims(0).size() > 1)
    return ctx.error("input shape must be 1-D, got " + dims_to_string(ctx.input_dims(0)));
  for (int64_t d : shape)
    if (d < 0) return ctx.error("shape " + ints_str(shape) + " has a negative dimension");
  DType dt = DType::kFloat32;
  uint64_t value = 0;
  if (const Tensor* v = ctx.attrs().get_tensor("value")) {
    if (v->numel() != 1)
      return ctx.error("attribute 'value' must hold exactly one element, got " + dims_to_string(v->dims()));
    if (!movable_dtype(v->dtype())) return ctx.unsupported(std::string("value dtype ") + dtype_name(v->dtype()));
    dt = v->dtype();
    std::memcpy(&value, v->raw(), dtype_size(dt));
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, shape));
  if (out.numel() == 0) return ok_status();
  return launch_status(ctx, launch_fill(dtype_size(dt), out.data, out.numel(), &value, ctx.stream()),
                       "ConstantOfShape");
}

bool supports_range(const Node& node, const std::vector<const TypeInfo*>& types) {
  return dtype_in(types, 0,
                  {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64,
                   DType::kInt16, DType::kInt8, DType::kUInt8});
}

Status run_range(CudaKernelContext& ctx) {
  Tensor v[3];
  for (size_t i = 0; i < 3; ++i) {
    KILN_ASSIGN_OR_RETURN(v[i], ctx.host_input(i));
    if (v[i].numel() != 1) return ctx.error("input " + std::to_string(i) + " must be a scalar");
    if (v[i].dtype() != v[0].dtype()) return ctx.error("start, limit and delta must have the same dtype");
  }
  const DType dt = v[0].dtype();
  const double start = v[0].as_double(0), limit = v[1].as_double(0), delta = v[2].as_double(0);
  if (delta == 0) return ctx.error("delta must be nonzero");
  const double count = std::ceil((limit - start) / delta);
  if (!(count < static_cast<double>(int64_t{1} << 36)))
    return ctx.error("range has too many elements or is not finite");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, {n}));
  if (n == 0) return ok_status();
  return launch_status(
      ctx, launch_range(dt, out.data, n, start, delta, v[0].as_int64(0), v[2].as_int64(0), ctx.stream()), "Range");
}

Status run_trilu(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  if (x.size() < 2) return ctx.error("input must have rank >= 2, got " + dims_to_string(x));
  int64_t k = 0;
  if (ctx.has_input(1)) {
    std::vector<int64_t> kv;
    KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "k", &kv));
    if (kv.size() != 1) return ctx.error("input 'k' must be a scalar");
    k = kv[0];
  }
  const bool upper = ctx.attrs().get_int("upper", 1) != 0;
  const int64_t rows = x[x.size() - 2], cols = x[x.size() - 1];
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, x));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  return launch_status(
      ctx,
      launch_trilu(dtype_size(dt), in.data, out.data, out.numel() / (rows * cols), rows, cols, k, upper, ctx.stream()),
      "Trilu");
}

namespace {
bool eye_dtype(DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kInt16:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      return true;
    default:
      return false;
  }
}
}  // namespace

bool supports_eye_like(const Node& node, const std::vector<const TypeInfo*>& types) {
  DType t = type_dtype(types, 0);
  if (node.attrs.has("dtype") && !dtype_from_int(node.attrs.get_int("dtype"), &t)) return false;
  return t == DType::kUndefined || eye_dtype(t);
}

Status run_eye_like(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  if (x.size() != 2) return ctx.error("input must be 2-D, got " + dims_to_string(x));
  DType dt = ctx.input_dtype(0);
  if (ctx.attrs().has("dtype") && !dtype_from_int(ctx.attrs().get_int("dtype"), &dt))
    return ctx.error("unknown dtype " + std::to_string(ctx.attrs().get_int("dtype")));
  if (!eye_dtype(dt)) return ctx.unsupported(std::string("EyeLike of dtype ") + dtype_name(dt) + " on CUDA");
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, x));
  if (out.numel() == 0) return ok_status();
  return launch_status(ctx, launch_eye(dt, out.data, x[0], x[1], ctx.attrs().get_int("k", 0), ctx.stream()), "EyeLike");
}

bool supports_one_hot(const Node& node, const std::vector<const TypeInfo*>& types) {
  return dtype_in(
             types, 0,
             {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64}) &&
         (type_dtype(types, 2) == DType::kUndefined || movable_dtype(type_dtype(types, 2)));
}

Status run_one_hot(CudaKernelContext& ctx) {
  const DType it = ctx.input_dtype(0);
  if (!(is_float_dtype(it) || it == DType::kFloat64 || it == DType::kInt32 || it == DType::kInt64))
    return ctx.unsupported(std::string("indices of dtype ") + dtype_name(it) + " on CUDA");
  KILN_ASSIGN_OR_RETURN(Tensor depth_t, ctx.host_input(1));
  KILN_ASSIGN_OR_RETURN(Tensor values, ctx.host_input(2));
  if (depth_t.dtype() == DType::kString) return ctx.error("indices and depth must be numeric");
  if (depth_t.numel() != 1) return ctx.error("depth must be a scalar");
  if (values.numel() != 2)
    return ctx.error("values must hold [off_value, on_value], got " + dims_to_string(values.dims()));
  if (!movable_dtype(values.dtype()))
    return ctx.unsupported(std::string("values of dtype ") + dtype_name(values.dtype()));
  const double depth_f = depth_t.as_double(0);
  if (!(depth_f >= 1) || depth_f > double(int64_t{1} << 36))
    return ctx.error("depth must be a positive number, got " + std::to_string(depth_f));
  const int64_t depth = static_cast<int64_t>(depth_f);
  const Dims& ind = ctx.input_dims(0);
  const int64_t r = static_cast<int64_t>(ind.size()) + 1;
  int64_t axis;
  KILN_RETURN_IF_ERROR(normalize_axis(ctx, ctx.attrs().get_int("axis", -1), r, &axis));
  Dims out_dims = ind;
  out_dims.insert(out_dims.begin() + axis, depth);
  int64_t inner = 1, outer = 1;
  for (int64_t a = axis + 1; a < r; ++a) inner *= out_dims[a];
  for (int64_t a = 0; a < axis; ++a) outer *= out_dims[a];
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, values.dtype(), out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor idx, ctx.input(0));
  const size_t es = dtype_size(values.dtype());
  const char* vb = static_cast<const char*>(values.raw());
  return launch_status(ctx, launch_one_hot(es, it, idx.data, out.data, outer, depth, inner, vb, vb + es, ctx.stream()),
                       "OneHot");
}

bool supports_cumsum(const Node& node, const std::vector<const TypeInfo*>& types) {
  return dtype_in(types, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64});
}

Status run_cumsum(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  std::vector<int64_t> axis_v;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "axis", &axis_v));
  if (axis_v.size() != 1) return ctx.error("axis must be a scalar");
  const int64_t r = static_cast<int64_t>(x.size());
  int64_t axis;
  KILN_RETURN_IF_ERROR(normalize_axis(ctx, axis_v[0], r, &axis));
  const bool exclusive = ctx.attrs().get_int("exclusive", 0) != 0, reverse = ctx.attrs().get_int("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= x[a];
  for (int64_t a = axis + 1; a < r; ++a) inner *= x[a];
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, x));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  return launch_status(
      ctx, launch_cumsum(dt, in.data, out.data, outer, x[axis], inner, exclusive, reverse, ctx.stream()), "CumSum");
}

}  // namespace kiln::cuda
