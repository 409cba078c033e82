// The backends compiled into this binary, most preferred first; the one place outside src/backends/cuda that knows
// whether CUDA is compiled in (it also supplies the device-discovery and host-buffer functions of a CPU-only build).
#include <cstdlib>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#include "kiln/engine.h"
#include "runtime/backend.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/runtime/cuda_backend.h"
#endif

namespace kiln {

void register_compiled_backends() {
#ifdef KILN_HAVE_CUDA
  register_backend(cuda::make_cuda_backend());
#endif
  register_backend(cpu::make_cpu_backend());
  register_backend(make_reference_backend());
}

#ifndef KILN_HAVE_CUDA
int cuda_device_count() { return 0; }

Result<CudaDeviceDescription> cuda_device(int index) {
  return not_found("GPU " + std::to_string(index) + " does not exist: this Kiln was built without CUDA");
}

Result<std::shared_ptr<void>> allocate_host_buffer(size_t bytes, bool /*pinned*/) {
  const size_t size = bytes < 1 ? 1 : bytes;
  void* p = std::aligned_alloc(64, (size + 63) / 64 * 64);
  if (!p) return resource_exhausted("cannot allocate a host buffer of " + std::to_string(bytes) + " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

bool is_pinned_host_memory(const void* /*p*/) { return false; }
#endif

}  // namespace kiln
