// Launch functions of the CUDA QuantizeLinear and DequantizeLinear kernels (device code in qdq.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

// Where element i of x finds its scale and zero point: index (i / inner) % channels. channels == 1 is per
// tensor (index 0, inner unused); channels > 1 is per axis (channels = x.dims[axis], inner = product of the
// dims after axis).
struct QuantAxis {
  int64_t inner = 1;
  int64_t channels = 1;
};

// ONNX QuantizeLinear, n > 0 elements: y = clamp(rint(x / scale[c]) + zero_point[c]) into y_dtype's range.
// x_dtype float32 or float16 (scale has x's dtype), y_dtype uint8 or int8 (zero_point has y's dtype, or is null for
// 0). The quotient is IEEE float32 division (float16 x and scale: then rounded to float16, as the reference does),
// rounded half to even; NaN counts as 0. y_dtype float8e4m3fn or float8e5m2: y = float8(quotient) (float8 zero points
// are 0 in ONNX), nearest even, `saturate` as the ONNX attribute (NaN stays NaN). Other dtypes return
// cudaErrorInvalidValue. All pointers are device memory.
cudaError_t launch_quantize_linear(DType x_dtype, DType y_dtype, const void* x, const void* scale,
                                   const void* zero_point, void* y, int64_t n, QuantAxis axis, cudaStream_t stream,
                                   bool saturate = true);

// ONNX DequantizeLinear, n > 0 elements: y = (x - zero_point[c]) * scale[c], computed in float32 (int32 x: in
// float64 from float32(x), as the reference does) and rounded once to y_dtype. x_dtype uint8, int8, int32,
// float8e4m3fn or float8e5m2 (zero_point has x's dtype, or is null for 0); y_dtype float32 or float16 (scale has y's
// dtype).
cudaError_t launch_dequantize_linear(DType x_dtype, DType y_dtype, const void* x, const void* scale,
                                     const void* zero_point, void* y, int64_t n, QuantAxis axis,
                                     cudaStream_t stream);

}  // namespace kiln::cuda
