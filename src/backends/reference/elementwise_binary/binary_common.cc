// Shared helpers of the elementwise_binary reference kernels (allocation, broadcasting, legacy broadcast).
#include "backends/reference/elementwise_binary/binary_common.h"

namespace kiln {

Result<Tensor> allocate_output(const KernelContext& ctx, DType dtype, const Dims& dims) {
  auto t = Tensor::allocate(dtype, dims);
  if (!t.ok())
    return Status(t.status().code(), ctx.node().describe() + ": cannot allocate output of shape [" +
                                         dims_to_string(dims) + "]: " + t.status().message());
  return t;
}

Status broadcast_all(const KernelContext& ctx, const std::vector<const Tensor*>& inputs, Dims* out) {
  Dims acc;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Dims next;
    if (!broadcast_dims(acc, inputs[i]->dims(), &next)) {
      std::string shapes;
      for (size_t j = 0; j < inputs.size(); ++j)
        shapes += (j ? ", " : "") + std::string("[") + dims_to_string(inputs[j]->dims()) + "]";
      return ctx.error("input shapes cannot be broadcast together: " + shapes);
    }
    acc = std::move(next);
  }
  *out = std::move(acc);
  return ok_status();
}

Result<Tensor> legacy_broadcast_operand(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset() >= 7 || ctx.attrs().get_int("broadcast", 0) == 0 || !ctx.attrs().has("axis")) return b;
  const int64_t ra = static_cast<int64_t>(a.rank());
  const int64_t rb = static_cast<int64_t>(b.rank());
  int64_t axis = ctx.attrs().get_int("axis");
  if (axis < 0) axis += ra;
  if (axis < 0 || axis + rb > ra)
    return ctx.error("legacy broadcast axis " + std::to_string(ctx.attrs().get_int("axis")) +
                     " does not fit B of rank " + std::to_string(rb) + " into A of rank " + std::to_string(ra));
  for (int64_t i = 0; i < rb; ++i) {
    if (b.dim(i) != 1 && b.dim(i) != a.dim(axis + i))
      return ctx.error("legacy broadcast: B shape [" + dims_to_string(b.dims()) + "] does not match A shape [" +
                       dims_to_string(a.dims()) + "] at axis " + std::to_string(axis));
  }
  Dims d = b.dims();
  for (int64_t i = axis + rb; i < ra; ++i) d.push_back(1);
  return b.reshaped(d);
}

Status require_same_dtype(const KernelContext& ctx, size_t i, size_t j) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(j));
  DType a = ctx.input(i).dtype(), b = ctx.input(j).dtype();
  if (a != b)
    return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(a) + " but input " + std::to_string(j) +
                     " has dtype " + dtype_name(b) + "; they must match");
  return ok_status();
}

}  // namespace kiln
