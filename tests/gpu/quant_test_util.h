// Inputs for the GPU tests of the quant family: float32 scalars, 8-bit zero points, 8-bit tensors over their range.
#pragma once
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {

// The quant kernels follow the reference's arithmetic: outputs must match bit for bit.
inline const Tolerance kQuantExact{0.0, 0.0};

inline Tensor scalar_f32(float v) { return Tensor::scalar<float>(DType::kFloat32, v); }
// A one-element uint8/int8 tensor holding v.
inline Tensor scalar_q(DType t, int v) {
  return t == DType::kUInt8 ? Tensor::scalar<uint8_t>(t, static_cast<uint8_t>(v))
                            : Tensor::scalar<int8_t>(t, static_cast<int8_t>(v));
}
// Uniform values over the whole range of uint8 or int8.
inline Tensor q_range(DType t, const Dims& d, uint64_t seed) {
  return t == DType::kUInt8 ? random_tensor(t, d, seed, 0, 255) : random_tensor(t, d, seed, -128, 127);
}

}  // namespace kiln::testing
