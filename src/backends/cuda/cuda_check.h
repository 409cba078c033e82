// Turning CUDA, cuBLASLt and cuDNN error codes into Status (host code only).
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

#include "kiln/status.h"

namespace kiln::cuda {

Status cuda_status(cudaError_t e, const char* what);
Status cublas_status(cublasStatus_t s, const char* what);
Status cudnn_status(cudnnStatus_t s, const char* what);

}  // namespace kiln::cuda

// Return a Status from the enclosing function when a CUDA/cuBLAS/cuDNN call fails.
#define KILN_CUDA_RETURN_IF_ERROR(expr)                                              \
  do {                                                                               \
    ::kiln::Status kiln_cuda_st_ = ::kiln::cuda::cuda_status((expr), #expr);         \
    if (!kiln_cuda_st_.ok()) return kiln_cuda_st_;                                   \
  } while (0)
#define KILN_CUBLAS_RETURN_IF_ERROR(expr)                                            \
  do {                                                                               \
    ::kiln::Status kiln_cuda_st_ = ::kiln::cuda::cublas_status((expr), #expr);       \
    if (!kiln_cuda_st_.ok()) return kiln_cuda_st_;                                   \
  } while (0)
#define KILN_CUDNN_RETURN_IF_ERROR(expr)                                             \
  do {                                                                               \
    ::kiln::Status kiln_cuda_st_ = ::kiln::cuda::cudnn_status((expr), #expr);        \
    if (!kiln_cuda_st_.ok()) return kiln_cuda_st_;                                   \
  } while (0)
// After a kernel launch: reports launch-configuration errors (not asynchronous faults).
#define KILN_CUDA_RETURN_IF_LAUNCH_ERROR(what) KILN_CUDA_RETURN_IF_ERROR(cudaGetLastError())
