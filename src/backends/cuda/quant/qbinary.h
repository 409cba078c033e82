// Device entry points of the CUDA QLinearAdd / QLinearMul (com.microsoft) and QLinearGlobalAveragePool kernels.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/elementwise/broadcast.h"

namespace kiln::cuda {

// One 8-bit operand with its per-tensor parameters (device pointers; zero_point may be null = 0).
struct Q8Operand {
  const void* data = nullptr;
  bool is_u8 = false;
  const float* scale = nullptr;
  const void* zero_point = nullptr;
};

// C = Q(DQ(A) op DQ(B)) over the broadcast shape in float32 steps (the unfused ops' math): (x - z) * s for each
// operand, their sum or product, / C's scale rounded half to even, + C's zero point, saturated. `same_shape`: A and B
// both have C's shape (no broadcast), which takes 16 elements a thread when the pointers allow.
cudaError_t launch_qlinear_binary(bool mul, Q8Operand a, Q8Operand b, Q8Operand c, void* y, int64_t n,
                                  const BroadcastDesc<2>& d, bool same_shape, cudaStream_t stream);

// QLinearGlobalAveragePool over NC<spatial> x (`rows` = N * C rows of `spatial` contiguous values): per row the
// exact integer sum, then Q(DQ(sum) / spatial) with x's and y's parameters in double (the reference's arithmetic).
// y has x's dtype.
cudaError_t launch_qlinear_global_average_pool(Q8Operand x, Q8Operand y, void* out, int64_t rows, int64_t spatial,
                                               cudaStream_t stream);

}  // namespace kiln::cuda
