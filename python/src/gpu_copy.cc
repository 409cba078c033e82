// CUDA runtime copies behind the DLPack paths (KILN_HAVE_CUDA builds); clear errors otherwise.
#include "gpu_copy.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::py {

#ifdef KILN_HAVE_CUDA
namespace {
Status cuda_status(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return ok_status();
  return internal_error(what + ": CUDA error: " + cudaGetErrorString(e));
}
}  // namespace

bool built_with_cuda() { return true; }

Status copy_device_to_host(void* dst, const void* src, size_t bytes, int device, const std::string& what) {
  if (bytes == 0) return ok_status();
  KILN_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device), what));
  return cuda_status(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), what);
}

Status copy_host_to_new_device(const void* src, size_t bytes, int device, void** dst) {
  *dst = nullptr;
  if (bytes == 0) return ok_status();
  KILN_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device), "output to cuda:" + std::to_string(device)));
  KILN_RETURN_IF_ERROR(cuda_status(cudaMalloc(dst, bytes), "output to cuda:" + std::to_string(device)));
  Status st = cuda_status(cudaMemcpy(*dst, src, bytes, cudaMemcpyHostToDevice), "output to cuda:" + std::to_string(device));
  if (!st.ok()) {
    cudaFree(*dst);
    *dst = nullptr;
  }
  return st;
}

Status copy_device_to_new_device(const void* src, size_t bytes, int device, void** dst) {
  *dst = nullptr;
  if (bytes == 0) return ok_status();
  const std::string what = "output device-to-device on cuda:" + std::to_string(device);
  KILN_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device), what));
  KILN_RETURN_IF_ERROR(cuda_status(cudaMalloc(dst, bytes), what));
  // A device-to-device cudaMemcpy may return before the copy is done: queue it on the legacy default stream (what
  // DLPack consumers order after) and wait for it, so that neither the engine's next run nor the consumer can race it.
  Status st = cuda_status(cudaMemcpyAsync(*dst, src, bytes, cudaMemcpyDeviceToDevice, cudaStreamLegacy), what);
  if (st.ok()) st = cuda_status(cudaStreamSynchronize(cudaStreamLegacy), what);
  if (!st.ok()) {
    cudaFree(*dst);
    *dst = nullptr;
  }
  return st;
}

void free_device(void* p) noexcept {
  if (p) cudaFree(p);
}
#else
namespace {
const char* kNoCuda = "this Kiln build has no CUDA backend (build the package where the CUDA toolkit is installed), "
                      "pass host (numpy or CPU) tensors";
}  // namespace

bool built_with_cuda() { return false; }

Status copy_device_to_host(void*, const void*, size_t, int, const std::string& what) {
  return failed_precondition(what + ": a CUDA tensor was given but " + kNoCuda);
}
Status copy_host_to_new_device(const void*, size_t, int device, void** dst) {
  *dst = nullptr;
  return failed_precondition("outputs on cuda:" + std::to_string(device) + " were asked for but " + kNoCuda);
}
Status copy_device_to_new_device(const void*, size_t, int device, void** dst) {
  *dst = nullptr;
  return failed_precondition("a device-to-device output copy on cuda:" + std::to_string(device) +
                             " was asked for but " + kNoCuda);
}
void free_device(void*) noexcept {}
#endif

}  // namespace kiln::py
