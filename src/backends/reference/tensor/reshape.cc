// Reference kernels that only change a tensor's shape or describe it: Reshape, Squeeze, Unsqueeze, Flatten,
// Identity, Shape, Size, Dropout (inference form).
#include <algorithm>
#include <set>

#include "backends/reference/tensor/kernels.h"
#include "backends/reference/tensor/util.h"
#include "ir/shape_rules.h"

namespace kiln {

Status reshape_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "shape", &shape));
  if (ctx.input(1).rank() != 1) return ctx.error("input 'shape' must be 1-D, got rank " + std::to_string(ctx.input(1).rank()));
  auto out = reshape_output_dims(x.dims(), shape, ctx.attrs().get_int("allowzero", 0) != 0);
  if (!out.ok()) return ctx.error(out.status().message());
  ctx.set_output(0, x.reshaped(*out));
  return ok_status();
}

Status squeeze_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<bool> drop(r, false);
  if (ctx.has_input(1)) {
    std::vector<int64_t> axes;
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "axes", &axes));
    for (int64_t a : axes) {
      int64_t n;
      if (!normalize_axis_index(a, r, &n))
        return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
      if (x.dim(n) != 1)
        return ctx.error("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.dim(n)));
      drop[n] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) drop[i] = x.dim(i) == 1;
  }
  Dims out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(x.dim(i));
  ctx.set_output(0, x.reshaped(out));
  return ok_status();
}

Status unsqueeze_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "axes", &axes));
  const int64_t r = static_cast<int64_t>(x.rank() + axes.size());
  std::vector<bool> inserted(r, false);
  for (int64_t a : axes) {
    int64_t n;
    if (!normalize_axis_index(a, r, &n))
      return ctx.error("axis " + std::to_string(a) + " is out of range for output rank " + std::to_string(r));
    if (inserted[n]) return ctx.error("axes " + ints_to_string(axes) + " contain a duplicate");
    inserted[n] = true;
  }
  Dims out;
  size_t src = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(inserted[i] ? 1 : x.dim(src++));
  ctx.set_output(0, x.reshaped(out));
  return ok_status();
}

Status flatten_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < -r || axis > r)
    return ctx.error("axis " + std::to_string(axis) + " is out of range [" + std::to_string(-r) + ", " +
                     std::to_string(r) + "]");
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.dim(i);
  ctx.set_output(0, x.reshaped({outer, inner}));
  return ok_status();
}

Status identity_kernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("required input 0 is missing");
  ctx.set_output_value(0, ctx.input_value(0));
  return ok_status();
}

Status shape_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t start = ctx.attrs().get_int("start", 0);
  int64_t end = ctx.attrs().get_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  const int64_t n = std::max<int64_t>(0, end - start);
  Tensor out(DType::kInt64, {n});
  for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = x.dim(start + i);
  ctx.set_output(0, out);
  return ok_status();
}

Status size_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  ctx.set_output(0, Tensor::scalar<int64_t>(DType::kInt64, ctx.input(0).numel()));
  return ok_status();
}

Status dropout_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  double ratio = 0.5;
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
    if (ctx.input(1).numel() != 1) return ctx.error("input 'ratio' must be a scalar");
    ratio = ctx.input(1).as_double(0);
  }
  bool training = false;
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    if (ctx.input(2).numel() != 1) return ctx.error("input 'training_mode' must be a scalar");
    training = ctx.input(2).as_int64(0) != 0;
  }
  if (ctx.opset() < 7 && ctx.attrs().get_int("is_test", 0) == 0) training = true;
  if (training) {
    if (!(ratio >= 0.0 && ratio < 1.0)) return ctx.error("ratio must be in [0, 1), got " + std::to_string(ratio));
    if (ratio != 0.0) return ctx.unsupported("training-mode Dropout with a nonzero ratio is random");
  }
  ctx.set_output(0, x);
  if (ctx.wants_output(1)) {
    const DType mask_type = ctx.opset() >= 10 ? DType::kBool : x.dtype();
    if (mask_type != DType::kBool && !is_float(mask_type))
      return ctx.error(std::string("input must be a float tensor, got ") + dtype_name(mask_type));
    KILN_ASSIGN_OR_RETURN(Tensor mask, alloc_output(ctx, mask_type, x.dims()));
    if (mask_type == DType::kBool) {
      for (int64_t i = 0; i < mask.numel(); ++i) mask.data<uint8_t>()[i] = 1;
    } else {
      Tensor one = Tensor::scalar<float>(DType::kFloat32, 1.f);
      Tensor conv = from_float32(one, mask_type);
      for (int64_t i = 0; i < mask.numel(); ++i) copy_element(conv, 0, mask, i);
    }
    ctx.set_output(1, mask);
  }
  return ok_status();
}

}  // namespace kiln
