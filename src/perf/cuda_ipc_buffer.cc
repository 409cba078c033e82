// CudaIpcBuffer: cudaMalloc + cudaMemcpy + cudaIpcGetMemHandle through the CUDA runtime API (when built with CUDA).
#include "perf/cuda_ipc_buffer.h"

#include <utility>

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::perf {
namespace {

constexpr const char* kWhat = "--shared-memory cuda: ";

#ifdef KILN_HAVE_CUDA
Status cuda_failure(const std::string& call, cudaError_t e) {
  return failed_precondition(std::string(kWhat) + call + " failed: " + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ")");
}
#endif

}  // namespace

CudaIpcBuffer& CudaIpcBuffer::operator=(CudaIpcBuffer&& o) noexcept {
  if (this != &o) {
    std::swap(ptr_, o.ptr_);
    std::swap(size_, o.size_);
    std::swap(device_, o.device_);
    std::swap(handle_, o.handle_);
  }
  return *this;
}

#ifdef KILN_HAVE_CUDA

Result<CudaIpcBuffer> CudaIpcBuffer::create(int device, size_t size, const void* init, size_t init_bytes) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess)
    return failed_precondition(std::string(kWhat) +
                               "no usable CUDA device (cudaGetDeviceCount: " + cudaGetErrorString(e) + ")");
  if (count == 0) return failed_precondition(std::string(kWhat) + "no CUDA device");
  if (device < 0 || device >= count)
    return failed_precondition(std::string(kWhat) + "--cuda-device " + std::to_string(device) + " is not one of the " +
                               std::to_string(count) + " device(s)");
  if (init_bytes > size) return invalid_argument(std::string(kWhat) + "initial bytes exceed the buffer");
  if ((e = cudaSetDevice(device)) != cudaSuccess) return cuda_failure("cudaSetDevice", e);
  CudaIpcBuffer b;
  b.device_ = device;
  b.size_ = size ? size : 1;
  if ((e = cudaMalloc(&b.ptr_, b.size_)) != cudaSuccess) {
    b.ptr_ = nullptr;
    return cuda_failure("cudaMalloc of " + std::to_string(b.size_) + " bytes", e);
  }
  if (init_bytes && (e = cudaMemcpy(b.ptr_, init, init_bytes, cudaMemcpyHostToDevice)) != cudaSuccess)
    return cuda_failure("cudaMemcpy", e);
  cudaIpcMemHandle_t handle;
  if ((e = cudaIpcGetMemHandle(&handle, b.ptr_)) != cudaSuccess) return cuda_failure("cudaIpcGetMemHandle", e);
  static_assert(sizeof(handle) == 64, "cudaIpcMemHandle_t is 64 bytes");
  b.handle_.assign(reinterpret_cast<const char*>(&handle), sizeof(handle));
  return b;
}

CudaIpcBuffer::~CudaIpcBuffer() {
  if (!ptr_) return;
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != device_) (void)cudaSetDevice(device_);
  (void)cudaFree(ptr_);
}

#else  // !KILN_HAVE_CUDA

Result<CudaIpcBuffer> CudaIpcBuffer::create(int, size_t, const void*, size_t) {
  return failed_precondition(std::string(kWhat) + "this kiln was built without CUDA");
}

CudaIpcBuffer::~CudaIpcBuffer() = default;

#endif

}  // namespace kiln::perf
