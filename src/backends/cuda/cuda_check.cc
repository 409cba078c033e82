// Error-code-to-Status conversion for the CUDA runtime, cuBLASLt and cuDNN.
#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return ok_status();
  cudaGetLastError();  // clear a sticky launch error so the next call starts clean
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + what;
  if (e == cudaErrorMemoryAllocation) return resource_exhausted("out of GPU memory: " + msg);
  return internal_error(msg);
}

Status cublas_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return ok_status();
  std::string msg = std::string("cuBLAS error ") + std::to_string(static_cast<int>(s)) + " in " + what;
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) return unimplemented(msg + " (not supported)");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return resource_exhausted(msg + " (allocation failed)");
  return internal_error(msg);
}

Status cudnn_status(cudnnStatus_t s, const char* what) {
  if (s == CUDNN_STATUS_SUCCESS) return ok_status();
  std::string msg = std::string("cuDNN error ") + cudnnGetErrorString(s) + " in " + what;
  if (s == CUDNN_STATUS_NOT_SUPPORTED) return unimplemented(msg);
  if (s == CUDNN_STATUS_ALLOC_FAILED) return resource_exhausted(msg);
  return internal_error(msg);
}

}  // namespace kiln::cuda
