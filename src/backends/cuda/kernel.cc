// Small shared pieces of the CUDA kernel contract.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

int64_t numel_of(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t DeviceTensor::numel() const { return numel_of(dims); }
size_t DeviceTensor::nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }

bool is_float_dtype(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

Status CudaKernelContext::error(const std::string& msg) const { return invalid_argument(node().describe() + ": " + msg); }
Status CudaKernelContext::unsupported(const std::string& msg) const {
  return unimplemented(node().describe() + ": " + msg);
}

}  // namespace kiln::cuda
