// Host side of the CUDA LookupTable kernel (Kiln's op from fold_qdq_lookup, docs/fused-ops.md): Y[i] = Table[X[i]]
// for uint8 X, Table[X[i] + 128] for int8 X; Table is 256 values of any 1/2/4/8-byte dtype, Y has X's shape and
// Table's dtype.
#include "backends/cuda/quant/lookup.h"

#include <string>

#include "backends/cuda/elementwise/host_util.h"
#include "backends/cuda/quant/quant_kernels.h"

namespace kiln::cuda {

namespace {

// Table dtypes the kernel copies: fixed-size elements of 1, 2, 4 or 8 bytes.
bool table_dtype_ok(DType t) {
  if (t == DType::kString || t == DType::kUndefined) return false;
  const size_t s = dtype_size(t);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

bool supports_lookup(const Node& n, const std::vector<const TypeInfo*>& types) {
  const DType tt = type_dtype(types, 1);
  return dtype_in(types, 0, {DType::kUInt8, DType::kInt8}) && (tt == DType::kUndefined || table_dtype_ok(tt));
}

Status run_lookup(CudaKernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("takes inputs X and Table");
  const DType xt = ctx.input_dtype(0), tt = ctx.input_dtype(1);
  if (xt != DType::kUInt8 && xt != DType::kInt8)
    return ctx.error(std::string("X must be uint8 or int8, got ") + dtype_name(xt));
  const Dims& td = ctx.input_dims(1);
  if (td.size() != 1 || td[0] != 256)
    return ctx.error("Table must hold 256 values in one dimension, got shape " + ints_str(td));
  if (!table_dtype_ok(tt))
    return ctx.unsupported(std::string("LookupTable on CUDA does not take a ") + dtype_name(tt) + " Table");
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor table, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, tt, x.dims));
  if (x.numel() == 0) return ok_status();
  return launch_status(ctx,
                       launch_lookup_table(x.data, xt == DType::kInt8, table.data, dtype_size(tt), y.data, x.numel(),
                                           ctx.stream()),
                       "LookupTable");
}

}  // namespace

CudaKernel lookup_table_kernel() { return {run_lookup, supports_lookup}; }

}  // namespace kiln::cuda
