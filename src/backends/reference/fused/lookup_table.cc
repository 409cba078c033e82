// Reference LookupTable: Y[i] = Table[X[i]] for uint8 X, Table[X[i] + 128] for int8 X (docs/fused-ops.md).
#include <cstring>

#include "backends/reference/fused/kernels.h"

namespace kiln::fused_ref {

Status lookup_table(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  const Tensor& table = ctx.input(1);
  if (x.dtype() != DType::kUInt8 && x.dtype() != DType::kInt8)
    return ctx.error(std::string("X must be uint8 or int8; got ") + dtype_name(x.dtype()));
  if (table.rank() != 1 || table.numel() != 256)
    return ctx.error("Table must hold 256 values in one dimension; got " + dims_to_string(table.dims()));
  if (table.dtype() == DType::kString || table.dtype() == DType::kUndefined)
    return ctx.unsupported(std::string("Table dtype ") + dtype_name(table.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(table.dtype(), x.dims()));
  const size_t item = dtype_size(table.dtype());
  const auto* t = static_cast<const unsigned char*>(table.raw());
  auto* out = static_cast<unsigned char*>(y.raw());
  const int offset = x.dtype() == DType::kInt8 ? 128 : 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int code = x.dtype() == DType::kInt8 ? x.data<int8_t>()[i] + offset : x.data<uint8_t>()[i];
    std::memcpy(out + static_cast<size_t>(i) * item, t + static_cast<size_t>(code) * item, item);
  }
  ctx.set_output(0, std::move(y));
  return ok_status();
}

}  // namespace kiln::fused_ref
