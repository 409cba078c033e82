// Device helpers of the int8 GEMM path shared by its kernels (qgemm.cu, q8_mma.cu): signed-8-bit reads, zero
// points and the exact requantization of a corrected integer sum (qgemm.h for the algebra).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/quant/qgemm.h"

namespace kiln::cuda {

// The signed-8-bit value of element i (uint8 shifted by -128).
__device__ __forceinline__ int s8_at(const Q8Source& s, int64_t i) {
  return s.is_u8 ? static_cast<int>(static_cast<const uint8_t*>(s.data)[i]) - 128
                 : static_cast<int>(static_cast<const int8_t*>(s.data)[i]);
}

// Raw value of a zero point (element j, or 0 when j is past a per-tensor count), and shifted when asked.
__device__ __forceinline__ int zp_at(const QZeroPoint& z, int64_t j, bool shifted) {
  int v = 0;
  if (z.data) {
    const int64_t at = z.count == 1 ? 0 : j;
    v = z.is_u8 ? static_cast<int>(static_cast<const uint8_t*>(z.data)[at])
                : static_cast<int>(static_cast<const int8_t*>(z.data)[at]);
  }
  return shifted ? v - 128 : v;
}

// The combined requantization scale of output channel n: float32 steps (scale_in_float) or double.
__device__ __forceinline__ double combined_scale(const RequantParams& p, int64_t n) {
  const float sa = *p.a_scale, sb = p.b_scale[p.b_scale_count == 1 ? 0 : n], sy = *p.y_scale;
  return p.scale_in_float ? static_cast<double>(__fdiv_rn(__fmul_rn(sa, sb), sy))
                          : static_cast<double>(sa) * static_cast<double>(sb) / static_cast<double>(sy);
}

// y's zero point, range and overflow rule, read once per thread.
struct Requant8 {
  double zy = 0, lo = 0, hi = 0;
  bool saturate = true;
};
__device__ __forceinline__ Requant8 requant8_of(const RequantParams& p) {
  return {static_cast<double>(zp_at(p.y_zp, 0, false)), p.y_is_u8 ? 0.0 : -128.0, p.y_is_u8 ? 255.0 : 127.0,
          p.saturate};
}

// The stored 8-bit value of exact integer sum `acc` (zero points and bias applied) at combined scale `scale`:
// rounded half to even, plus y's zero point, then saturated, or wrapped as the ONNX reference's astype does.
__device__ __forceinline__ uint8_t requant8(const Requant8& r, int64_t acc, double scale) {
  double q = rint(static_cast<double>(acc) * scale) + r.zy;
  if (r.saturate || q != q) q = fmin(r.hi, fmax(r.lo, q != q ? 0.0 : q));
  const int64_t wide = fabs(q) < 9.2e18 ? static_cast<int64_t>(q) : 0;
  return static_cast<uint8_t>(wide & 0xff);
}
__device__ __forceinline__ uint8_t requant_scaled(const RequantParams& p, int64_t acc, double scale) {
  return requant8(requant8_of(p), acc, scale);
}

}  // namespace kiln::cuda
