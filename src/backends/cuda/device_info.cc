// CUDA device discovery through the runtime API.
#include "backends/cuda/device_info.h"

#include <cuda_runtime.h>

namespace kiln {

Status cuda_fill_iota(int device, int n, std::vector<int>* out);  // device_info.cu

std::vector<CudaDeviceInfo> cuda_devices() {
  std::vector<CudaDeviceInfo> out;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    out.push_back({i, p.name, p.major, p.minor, p.totalGlobalMem});
  }
  return out;
}

Status cuda_self_test(int device) {
  std::vector<int> v;
  KILN_RETURN_IF_ERROR(cuda_fill_iota(device, 1000, &v));
  for (int i = 0; i < 1000; ++i)
    if (v[i] != i) return internal_error("CUDA self-test on device " + std::to_string(device) + " returned wrong values");
  return ok_status();
}

}  // namespace kiln
