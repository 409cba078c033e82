// Device code of the CUDA QLinearAdd / QLinearMul and QLinearGlobalAveragePool kernels (qbinary.h).
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/quant/qbinary.h"

namespace kiln::cuda {

namespace {

__device__ __forceinline__ int q8_load(const void* p, bool is_u8, int64_t i) {
  return is_u8 ? static_cast<int>(static_cast<const uint8_t*>(p)[i])
               : static_cast<int>(static_cast<const int8_t*>(p)[i]);
}
__device__ __forceinline__ int zero_point(const Q8Operand& o) {
  return o.zero_point ? q8_load(o.zero_point, o.is_u8, 0) : 0;
}

__device__ __forceinline__ void q8_store(void* p, bool is_u8, int64_t i, double q) {
  const double lo = is_u8 ? 0.0 : -128.0, hi = is_u8 ? 255.0 : 127.0;
  q = fmin(hi, fmax(lo, q));
  if (is_u8)
    static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(q);
  else
    static_cast<int8_t*>(p)[i] = static_cast<int8_t>(q);
}

__global__ void qlinear_binary_kernel(bool mul, Q8Operand a, Q8Operand b, Q8Operand c, void* y, int64_t n,
                                      BroadcastDesc<2> d) {
  const float sa = *a.scale, sb = *b.scale, sc = *c.scale;
  const float za = static_cast<float>(zero_point(a)), zb = static_cast<float>(zero_point(b));
  const float zc = static_cast<float>(zero_point(c));
  KILN_GRID_LOOP(i, n) {
    int64_t off[2];
    broadcast_offsets(d, i, off);
    // Separate roundings, as the unfused DequantizeLinear -> Add/Mul -> QuantizeLinear (no contraction).
    const float x = __fmul_rn(__fsub_rn(static_cast<float>(q8_load(a.data, a.is_u8, off[0])), za), sa);
    const float v = __fmul_rn(__fsub_rn(static_cast<float>(q8_load(b.data, b.is_u8, off[1])), zb), sb);
    const float r = mul ? __fmul_rn(x, v) : __fadd_rn(x, v);
    const float q = __fadd_rn(rintf(__fdiv_rn(r, sc)), zc);
    q8_store(y, c.is_u8, i, q != q ? 0.0 : static_cast<double>(q));
  }
}

// One warp per row.
__global__ void qlinear_gap_kernel(Q8Operand x, Q8Operand yq, void* out, int64_t rows, int64_t spatial) {
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  int64_t sum = 0;
  for (int64_t i = lane; i < spatial; i += 32) sum += q8_load(x.data, x.is_u8, row * spatial + i);
  for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
  if (lane != 0) return;
  const double sx = *x.scale, sy = *yq.scale, zx = zero_point(x), zy = zero_point(yq);
  const double cnt = static_cast<double>(spatial);
  const double q = spatial == 0 ? zy : rint(sx * (static_cast<double>(sum) - cnt * zx) / cnt / sy) + zy;
  q8_store(out, yq.is_u8, row, q);
}

}  // namespace

cudaError_t launch_qlinear_binary(bool mul, Q8Operand a, Q8Operand b, Q8Operand c, void* y, int64_t n,
                                  const BroadcastDesc<2>& d, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  qlinear_binary_kernel<<<grid_for(n), kThreads, 0, stream>>>(mul, a, b, c, y, n, d);
  return cudaGetLastError();
}

cudaError_t launch_qlinear_global_average_pool(Q8Operand x, Q8Operand y, void* out, int64_t rows, int64_t spatial,
                                               cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  const int64_t threads = rows * 32;
  qlinear_gap_kernel<<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      x, y, out, rows, spatial);
  return cudaGetLastError();
}

}  // namespace kiln::cuda
