// Device code of the CUDA QLinearAdd / QLinearMul and QLinearGlobalAveragePool kernels (qbinary.h).
#include <algorithm>

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

// The float32 parameters of one QLinearAdd/QLinearMul, read once per thread.
struct BinaryTerms {
  float sa, sb, sc, za, zb, zc, lo, hi;
  __device__ explicit BinaryTerms(const Q8Operand& a, const Q8Operand& b, const Q8Operand& c)
      : sa(*a.scale),
        sb(*b.scale),
        sc(*c.scale),
        za(static_cast<float>(zero_point(a))),
        zb(static_cast<float>(zero_point(b))),
        zc(static_cast<float>(zero_point(c))),
        lo(c.is_u8 ? 0.f : -128.f),
        hi(c.is_u8 ? 255.f : 127.f) {}
  // The stored byte of C for raw operand values qa, qb: separate roundings, as the unfused DequantizeLinear ->
  // Add/Mul -> QuantizeLinear (no contraction), saturated (NaN -> 0).
  __device__ __forceinline__ uint8_t apply(bool mul, int qa, int qb) const {
    const float x = __fmul_rn(__fsub_rn(static_cast<float>(qa), za), sa);
    const float v = __fmul_rn(__fsub_rn(static_cast<float>(qb), zb), sb);
    const float r = mul ? __fmul_rn(x, v) : __fadd_rn(x, v);
    float q = __fadd_rn(rintf(__fdiv_rn(r, sc)), zc);
    q = q != q ? 0.f : fminf(hi, fmaxf(lo, q));
    return static_cast<uint8_t>(static_cast<int>(q) & 0xff);
  }
};

__device__ __forceinline__ int q8_byte(uint32_t word, int b, bool is_u8) {
  const uint32_t v = (word >> (8 * b)) & 0xffu;
  return is_u8 ? static_cast<int>(v) : static_cast<int>(static_cast<int8_t>(v));
}

__global__ void qlinear_binary_kernel(bool mul, Q8Operand a, Q8Operand b, Q8Operand c, void* y, int64_t n,
                                      BroadcastDesc<2> d) {
  const BinaryTerms t(a, b, c);
  KILN_GRID_LOOP(i, n) {
    int64_t off[2];
    broadcast_offsets(d, i, off);
    static_cast<uint8_t*>(y)[i] = t.apply(mul, q8_load(a.data, a.is_u8, off[0]), q8_load(b.data, b.is_u8, off[1]));
  }
}

// A and B of C's shape, every pointer 16-byte aligned: 16 elements a thread (one 16-byte load per operand and one
// store); the last n % 16 elements by the first threads.
__global__ void qlinear_binary_same_shape_kernel(bool mul, Q8Operand a, Q8Operand b, Q8Operand c, void* y, int64_t n) {
  const BinaryTerms t(a, b, c);
  const int64_t chunks = n / 16;
  KILN_GRID_LOOP(i, chunks) {
    const uint4 va = static_cast<const uint4*>(a.data)[i], vb = static_cast<const uint4*>(b.data)[i];
    const uint32_t wa[4] = {va.x, va.y, va.z, va.w}, wb[4] = {vb.x, vb.y, vb.z, vb.w};
    uint32_t out[4];
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      uint32_t packed = 0;
#pragma unroll
      for (int k = 0; k < 4; ++k)
        packed |= static_cast<uint32_t>(t.apply(mul, q8_byte(wa[w], k, a.is_u8), q8_byte(wb[w], k, b.is_u8)))
                  << (8 * k);
      out[w] = packed;
    }
    static_cast<uint4*>(y)[i] = make_uint4(out[0], out[1], out[2], out[3]);
  }
  const int64_t tail = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x + chunks * 16;
  if (tail < n)
    static_cast<uint8_t*>(y)[tail] = t.apply(mul, q8_load(a.data, a.is_u8, tail), q8_load(b.data, b.is_u8, tail));
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
                                  const BroadcastDesc<2>& d, bool same_shape, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const uintptr_t addr =
      reinterpret_cast<uintptr_t>(a.data) | reinterpret_cast<uintptr_t>(b.data) | reinterpret_cast<uintptr_t>(y);
  if (same_shape && addr % 16 == 0) {
    qlinear_binary_same_shape_kernel<<<grid_for(std::max<int64_t>(n / 16, 16)), kThreads, 0, stream>>>(mul, a, b, c, y,
                                                                                                       n);
    return cudaGetLastError();
  }
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
