// Host side of Softmax and LogSoftmax: opset >= 13 normalizes along one axis (default -1); older opsets coerce
// the input to 2-D at `axis` (default 1) and normalize over the flattened tail, as the reference does.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/host_util.h"
#include "backends/cuda/norm/kernels.h"
#include "backends/cuda/norm/launch.h"
#include "ir/op_params.h"

namespace kiln::cuda::norm {
namespace {

Status run_softmax(CudaKernelContext& ctx, bool log) {
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const Dims& dims = ctx.input_dims(0);
  KILN_ASSIGN_OR_RETURN(const SoftmaxShape sm, softmax_shape(ctx.node(), dims));
  const int64_t outer = sm.outer, len = sm.len, inner = sm.inner;
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
