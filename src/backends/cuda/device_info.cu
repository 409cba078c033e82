// Device code for the CUDA self-test.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

__global__ void fill_iota_i32(int* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i;
}

Status cuda_fill_iota(int device, int n, std::vector<int>* out) {
  if (cudaSetDevice(device) != cudaSuccess) return not_found("CUDA device " + std::to_string(device) + " not available");
  int* d = nullptr;
  if (cudaMalloc(&d, n * sizeof(int)) != cudaSuccess) return resource_exhausted("cudaMalloc failed");
  fill_iota_i32<<<(n + 255) / 256, 256>>>(d, n);
  out->resize(n);
  cudaError_t e = cudaMemcpy(out->data(), d, n * sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (e != cudaSuccess) return internal_error(std::string("CUDA self-test failed: ") + cudaGetErrorString(e));
  return ok_status();
}

}  // namespace kiln
