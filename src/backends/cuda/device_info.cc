// CUDA device discovery through the runtime API.
#include "backends/cuda/device_info.h"

#include <cuda_runtime.h>

#include <cstdio>

#include "backends/cuda/runtime/device_target.h"
#include "kiln/engine.h"

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
    if (v[i] != i)
      return internal_error("CUDA self-test on device " + std::to_string(device) + " returned wrong values");
  return ok_status();
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

Result<CudaDeviceDescription> cuda_device(int index) {
  int count = cuda_device_count();
  if (index < 0 || index >= count)
    return not_found("GPU " + std::to_string(index) + " does not exist: " + std::to_string(count) + " GPU(s) visible");
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) {
    cudaGetLastError();
    return internal_error("cannot read the properties of GPU " + std::to_string(index));
  }
  CudaDeviceDescription d;
  d.index = index;
  d.name = p.name;
  d.arch = "sm_" + std::to_string(p.major) + std::to_string(p.minor);
  d.total_memory = p.totalGlobalMem;
  // NVML's and nvidia-smi's spelling, so that /metrics (NVML) and placement (CUDA runtime) name devices alike.
  const auto* u = reinterpret_cast<const unsigned char*>(p.uuid.bytes);
  char buf[64];
  std::snprintf(buf, sizeof buf, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  d.uuid = buf;
  KILN_ASSIGN_OR_RETURN(d.compat, cuda::device_target(index));
  return d;
}

}  // namespace kiln
