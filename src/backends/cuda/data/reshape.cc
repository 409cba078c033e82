// CUDA kernels that only change a tensor's shape: Identity, Reshape, Flatten, Squeeze, Unsqueeze (aliases, no copy).
#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/shape_rules.h"

namespace kiln::cuda {

bool movable_dtype(DType t) {
  if (t == DType::kString || t == DType::kUndefined || is_sub_byte(t)) return false;
  const size_t s = dtype_size(t);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

bool supports_movable(const Node& node, const std::vector<const TypeInfo*>& types) {
  const DType t = type_dtype(types, 0);
  return t == DType::kUndefined || movable_dtype(t);
}

bool supports_device_tensor(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (types.empty() || types[0] == nullptr) return true;
  if (types[0]->known() && !types[0]->is_tensor()) return false;
  return types[0]->dtype != DType::kString;
}

Status run_identity(CudaKernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("required input 0 is missing");
  return ctx.alias_output(0, 0, ctx.input_dims(0));
}

Status run_reshape(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "shape", &shape));
  auto out = reshape_output_dims(x, shape, ctx.attrs().get_int("allowzero", 0) != 0);
  if (!out.ok()) return ctx.error(out.status().message());
  return ctx.alias_output(0, 0, *out);
}

Status run_flatten(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const int64_t r = static_cast<int64_t>(x.size());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < -r || axis > r)
    return ctx.error("axis " + std::to_string(axis) + " is out of range [" + std::to_string(-r) + ", " +
                     std::to_string(r) + "]");
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x[i];
  return ctx.alias_output(0, 0, {outer, inner});
}

Status run_squeeze(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const int64_t r = static_cast<int64_t>(x.size());
  std::vector<bool> drop(r, false);
  if (ctx.has_input(1)) {
    std::vector<int64_t> axes;
    KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "axes", &axes));
    for (int64_t a : axes) {
      int64_t n;
      KILN_RETURN_IF_ERROR(normalize_axis(ctx, a, r, &n));
      if (x[n] != 1) return ctx.error("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x[n]));
      drop[n] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) drop[i] = x[i] == 1;
  }
  Dims out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(x[i]);
  return ctx.alias_output(0, 0, out);
}

Status run_unsqueeze(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  std::vector<int64_t> axes;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "axes", &axes));
  const int64_t r = static_cast<int64_t>(x.size() + axes.size());
  std::vector<bool> inserted(r, false);
  for (int64_t a : axes) {
    int64_t n;
    if (a < -r || a >= r)
      return ctx.error("axis " + std::to_string(a) + " is out of range for output rank " + std::to_string(r));
    n = a < 0 ? a + r : a;
    if (inserted[n]) return ctx.error("axes " + ints_str(axes) + " contain a duplicate");
    inserted[n] = true;
  }
  Dims out;
  size_t src = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(inserted[i] ? 1 : x[src++]);
  return ctx.alias_output(0, 0, out);
}

}  // namespace kiln::cuda
