// A kernel that keeps the GPU busy for a while: launched before timed work so that the work queues up behind it.
#pragma once
#include <cuda_runtime.h>

namespace kiln::cuda {

// Enqueues one single-thread kernel on `stream` that returns after about `microseconds` of GPU time.
void launch_spin(cudaStream_t stream, int microseconds);

}  // namespace kiln::cuda
