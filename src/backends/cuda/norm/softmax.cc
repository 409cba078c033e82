// Host side of Softmax and LogSoftmax: opset >= 13 normalizes along one axis (default -1); older opsets coerce
// the input to 2-D at `axis` (default 1) and normalize over the flattened tail, as the reference does.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/host_util.h"
#include "backends/cuda/norm/kernels.h"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

Status run_softmax(CudaKernelContext& ctx, bool log) {
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const Dims& dims = ctx.input_dims(0);
  const int64_t rank = static_cast<int64_t>(dims.size());
  const bool legacy = ctx.node().opset > 0 && ctx.node().opset < 13;
  const int64_t axis_attr = ctx.attrs().get_int("axis", legacy ? 1 : -1);
  int64_t axis;
  if (rank == 0 || !normalize_axis(axis_attr, rank, &axis))
    return ctx.error("axis " + std::to_string(axis_attr) + " is out of range for input of rank " +
                     std::to_string(rank));
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis)
      outer *= dims[d];
    else if (d == axis || legacy)
      len *= dims[d];
    else
      inner *= dims[d];
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, dt, dims));
  KILN_CUDA_RETURN_IF_ERROR(launch_softmax(dt, x.data, y.data, outer, len, inner, log, ctx.stream()));
  return ok_status();
}

bool supports_softmax(const Node& /*node*/, const std::vector<const TypeInfo*>& types) {
  return input_is_float_or_unknown(types, 0);
}

}  // namespace

CudaKernel softmax_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_softmax(ctx, false); }, &supports_softmax};
}
CudaKernel log_softmax_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_softmax(ctx, true); }, &supports_softmax};
}

}  // namespace kiln::cuda::norm
