// allocate_host_buffer / is_pinned_host_memory (kiln/engine.h): pinned batch buffers for GPU execution contexts.
#include <algorithm>
#include <cstdlib>

#include "kiln/engine.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln {

Result<std::shared_ptr<void>> allocate_host_buffer(size_t bytes, bool pinned) {
  const size_t size = std::max<size_t>(bytes, 1);
#ifdef KILN_HAVE_CUDA
  if (pinned) {
    void* p = nullptr;
    if (cudaHostAlloc(&p, size, cudaHostAllocPortable) == cudaSuccess && p)
      return std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });
    cudaGetLastError();  // no GPU / out of pinned memory: fall back to pageable memory (bind_inputs stages it)
  }
#else
  (void)pinned;
#endif
  void* p = std::aligned_alloc(64, (size + 63) / 64 * 64);
  if (!p) return resource_exhausted("cannot allocate a host buffer of " + std::to_string(bytes) + " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

bool is_pinned_host_memory(const void* p) {
#ifdef KILN_HAVE_CUDA
  if (!p) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
#else
  (void)p;
  return false;
#endif
}

}  // namespace kiln
