// cuDNN frontend helpers: dtype mapping, stream binding, version string.
#include "backends/cuda/cudnn_fe/fe_util.h"

#include <cudnn_frontend.h>

#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {

cudnn_frontend::DataType_t fe_data_type(ElemType t) {
  switch (t) {
    case ElemType::kF16:
      return cudnn_frontend::DataType_t::HALF;
    case ElemType::kBF16:
      return cudnn_frontend::DataType_t::BFLOAT16;
    default:
      return cudnn_frontend::DataType_t::FLOAT;
  }
}

Status fe_bind_stream(CudaKernelContext& ctx) {
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.cudnn(), ctx.stream()));
  return ok_status();
}

std::string cudnn_version_string() {
  const size_t v = cudnnGetVersion();  // 9.19.0 -> 91900
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace kiln::cuda
