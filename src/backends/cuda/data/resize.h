// CUDA Resize: per-axis tap tables (built on the host, uploaded to workspace) and the launch function of the
// kernel that sums the tensor product of the resized axes' taps (device code in resize.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/elementwise/broadcast.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

// Axis a reads input index c (taps[a] == 0: the axis is not resized) or, for a resized axis, taps[a] entries
// per output index o at table offset table_off[a] + o * taps[a]: index (-1: outside the input, the output is
// the extrapolation value) and weight.
struct ResizeDesc {
  int rank = 0;
  int64_t out_dims[kMaxDims] = {};
  int64_t in_strides[kMaxDims] = {};
  int taps[kMaxDims] = {};
  int64_t table_off[kMaxDims] = {};
  float extrapolation = 0.f;
};

// Float dtypes (float32/16/bf16): weighted sums in float32 (linear, cubic, and nearest with extrapolation).
cudaError_t launch_resize(DType dtype, const void* in, void* out, const ResizeDesc& d,
                          const int64_t* tap_index, const float* tap_weight, int64_t n, cudaStream_t stream);

// Nearest without extrapolation (every tap index inside the input), any element size: rows are the innermost run of
// axes that are not resized (an NHWC upsample's channels), moved as the widest vectors (16 bytes down to 1) that the
// row length and both pointers allow, with 32-bit index math when the tensors allow it. The tables hold one tap
// per output index; in_numel is the input's element count.
cudaError_t launch_resize_nearest_rows(size_t element_size, const void* in, void* out, const ResizeDesc& d,
                                       const int64_t* tap_index, int64_t in_numel, cudaStream_t stream);

}  // namespace kiln::cuda
