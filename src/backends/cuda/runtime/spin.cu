// launch_spin: a busy-wait kernel on the GPU's global nanosecond timer.
#include "backends/cuda/runtime/spin.h"

namespace kiln::cuda {
namespace {

__device__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void spin_kernel(unsigned long long ns) {
  const unsigned long long start = global_ns();
  while (global_ns() - start < ns) __nanosleep(500);
}

}  // namespace

void launch_spin(cudaStream_t stream, int microseconds) {
  spin_kernel<<<1, 1, 0, stream>>>(static_cast<unsigned long long>(microseconds) * 1000ull);
}

}  // namespace kiln::cuda
