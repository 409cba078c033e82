// allocate_host_buffer / is_pinned_host_memory (kiln/engine.h) with CUDA: pinned batch buffers for GPU contexts
// (builds without CUDA get the pageable versions from src/backends/registry.cc).
#include <algorithm>
#include <cstdlib>

#include "kiln/engine.h"

#include <cuda_runtime_api.h>

namespace kiln {

Result<std::shared_ptr<void>> allocate_host_buffer(size_t bytes, bool pinned) {
  const size_t size = std::max<size_t>(bytes, 1);
  if (pinned) {
    void* p = nullptr;
    if (cudaHostAlloc(&p, size, cudaHostAllocPortable) == cudaSuccess && p)
      return std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });
    cudaGetLastError();  // no GPU / out of pinned memory: fall back to pageable memory (bind_inputs stages it)
  }
  void* p = std::aligned_alloc(64, (size + 63) / 64 * 64);
  if (!p) return resource_exhausted("cannot allocate a host buffer of " + std::to_string(bytes) + " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

bool is_pinned_host_memory(const void* p) {
  if (!p) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

}  // namespace kiln
