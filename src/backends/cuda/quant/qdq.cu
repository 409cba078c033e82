// Device code of the CUDA QuantizeLinear and DequantizeLinear kernels: one grid-stride elementwise pass, four
// elements a thread when the pointers allow vector access, per-tensor or per-axis scale and zero point; 8-bit
// integers, and float8 e4m3fn / e5m2 (codes travel as uint8_t, converted by cuda_fp8.h).
#include <cuda_fp8.h>

#include "backends/cuda/device_common.cuh"
#include "backends/cuda/quant/qdq.h"

namespace kiln::cuda {

namespace {

// Four consecutive elements, aligned for one vector load/store (at most 16 bytes).
template <typename T>
struct alignas(4 * sizeof(T) < 16 ? 4 * sizeof(T) : 16) Vec4 {
  T v[4];
};

template <typename T>
bool vec4_aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % alignof(Vec4<T>) == 0;
}

// Scale and zero point by channel (QuantAxis); a null zero point reads as 0.
template <typename TS, typename TZ, typename Idx>
struct Params {
  const TS* scale;
  const TZ* zero_point;
  Idx inner, channels;
  __device__ __forceinline__ float s(Idx c) const { return to_f32(__ldg(scale + c)); }
  __device__ __forceinline__ int32_t z(Idx c) const {
    return zero_point ? static_cast<int32_t>(__ldg(zero_point + c)) : 0;
  }
};

// y[i] = f(channel of i, x[i]) for i in [0, n), grid-stride with Idx indices (uint32_t when n < 2^31, as
// KILN_GRID_LOOP32). With vec4 (x and y Vec4-aligned) each step moves four elements and derives their channels
// from one division pair; the n % 4 tail goes one element a thread. Per tensor the channel is always 0.
template <bool kPerAxis, typename Idx, typename TI, typename TO, typename F>
__device__ __forceinline__ void map_elements(const TI* __restrict__ x, TO* __restrict__ y, Idx n, Idx inner,
                                             Idx channels, bool vec4, F f) {
  const Idx start = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Idx stride = static_cast<Idx>(blockDim.x) * gridDim.x;
  Idx tail = 0;
  if (vec4) {
    const Idx n4 = n / 4;
    for (Idx v = start; v < n4; v += stride) {
      const Vec4<TI> a = reinterpret_cast<const Vec4<TI>*>(x)[v];
      Vec4<TO> b;
      Idx c = 0, r = 0;  // channel of element 4v + k, and its offset inside the channel's inner run
      if constexpr (kPerAxis) {
        const Idx q = (4 * v) / inner;
        r = 4 * v - q * inner;
        c = q % channels;
      }
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        b.v[k] = f(c, a.v[k]);
        if constexpr (kPerAxis) {
          if (++r == inner) {
            r = 0;
            if (++c == channels) c = 0;
          }
        }
      }
      reinterpret_cast<Vec4<TO>*>(y)[v] = b;
    }
    tail = n4 * 4;
  }
  for (Idx i = tail + start; i < n; i += stride) y[i] = f(kPerAxis ? (i / inner) % channels : Idx{0}, x[i]);
}

// saturate(rint(x / s) + z) in TY's range; float16 x (and scale) round the quotient to float16 first.
template <typename TX, typename TY>
__device__ __forceinline__ TY quantize_one(TX x, float s, int32_t z) {
  constexpr float lo = std::is_same_v<TY, int8_t> ? -128.f : 0.f;
  constexpr float hi = std::is_same_v<TY, int8_t> ? 127.f : 255.f;
  float q = __fdiv_rn(to_f32(x), s);
  if constexpr (std::is_same_v<TX, __half>) q = __half2float(__float2half_rn(q));
  q = isnan(q) ? 0.f : rintf(q);  // rintf: half to even
  q = fminf(fmaxf(__fadd_rn(q, static_cast<float>(z)), lo), hi);
  return static_cast<TY>(static_cast<int32_t>(q));
}

// (x - z) * s as a float32 value: exact difference, one rounding (int8/uint8). int32 x follows the reference:
// float32(x), then the difference and the product in float64, then one rounding to float32.
template <typename TX>
__device__ __forceinline__ float dequantize_one(TX x, float s, int32_t z) {
  if constexpr (std::is_same_v<TX, int32_t>) {
    const double d = __dsub_rn(static_cast<double>(__int2float_rn(x)), static_cast<double>(z));
    return __double2float_rn(__dmul_rn(d, static_cast<double>(s)));
  } else {
    return __fmul_rn(static_cast<float>(static_cast<int32_t>(x) - z), s);
  }
}

// QuantizeLinear (kQuantize: TS = TX, TZ = TY) or DequantizeLinear (TS = TY, TZ = TX) over n elements.
template <bool kQuantize, typename TX, typename TY, typename TS, typename TZ, bool kPerAxis, typename Idx>
__global__ void __launch_bounds__(kThreads)
    qdq_kernel(const TX* __restrict__ x, Params<TS, TZ, Idx> p, TY* __restrict__ y, Idx n, bool vec4) {
  float s0 = 0.f;  // per tensor: loaded once
  int32_t z0 = 0;
  if constexpr (!kPerAxis) {
    s0 = p.s(0);
    z0 = p.z(0);
  }
  map_elements<kPerAxis>(x, y, n, p.inner, p.channels, vec4, [&](Idx c, TX v) {
    const float s = kPerAxis ? p.s(c) : s0;
    const int32_t z = kPerAxis ? p.z(c) : z0;
    if constexpr (kQuantize) return quantize_one<TX, TY>(v, s, z);
    else return from_f32<TY>(dequantize_one<TX>(v, s, z));
  });
}

// Float8 codes (as uint8_t): e4m3fn (kE4M3) or e5m2, round to nearest even; `saturate` clamps finite overflow (and
// infinities) to the largest finite value, otherwise overflow gives NaN (e4m3fn) or infinity (e5m2), as ONNX says.
template <bool kE4M3>
__device__ __forceinline__ uint8_t float_to_fp8(float v, bool saturate) {
  return __nv_cvt_float_to_fp8(v, saturate ? __NV_SATFINITE : __NV_NOSAT, kE4M3 ? __NV_E4M3 : __NV_E5M2);
}
template <bool kE4M3>
__device__ __forceinline__ float fp8_to_float(uint8_t c) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(c, kE4M3 ? __NV_E4M3 : __NV_E5M2)));
}

// Float8 QuantizeLinear (kQuantize: x TF, y codes; y = fp8(x / scale), the quotient rounded to float16 first for
// float16 x as the reference does; ONNX float8 zero points are 0, so it is not read) or DequantizeLinear (x codes, y
// TF; y = (x - zero point) * scale).
// Scale TF, zero point codes (null: 0), per channel as in Params.
template <bool kQuantize, typename TF, bool kE4M3, bool kPerAxis, typename Idx>
__global__ void __launch_bounds__(kThreads)
    fp8_qdq_kernel(const void* __restrict__ x, const TF* __restrict__ scale, const uint8_t* __restrict__ zero_point,
                   void* __restrict__ y, Idx n, Idx inner, Idx channels, bool saturate, bool vec4) {
  auto s = [&](Idx c) { return to_f32(__ldg(scale + c)); };
  if constexpr (kQuantize) {
    map_elements<kPerAxis>(static_cast<const TF*>(x), static_cast<uint8_t*>(y), n, inner, channels, vec4,
                           [&](Idx c, TF v) {
                             float q = __fdiv_rn(to_f32(v), s(c));
                             if constexpr (std::is_same_v<TF, __half>) q = __half2float(__float2half_rn(q));
                             return float_to_fp8<kE4M3>(q, saturate);
                           });
  } else {
    map_elements<kPerAxis>(static_cast<const uint8_t*>(x), static_cast<TF*>(y), n, inner, channels, vec4,
                           [&](Idx c, uint8_t v) {
                             const float z = zero_point ? fp8_to_float<kE4M3>(__ldg(zero_point + c)) : 0.f;
                             return from_f32<TF>(__fmul_rn(__fsub_rn(fp8_to_float<kE4M3>(v), z), s(c)));
                           });
  }
}

template <bool kQuantize, typename TF, bool kE4M3>
cudaError_t launch_fp8(const void* x, const void* scale, const void* zero_point, void* y, int64_t n, QuantAxis a,
                       bool saturate, cudaStream_t stream) {
  const bool vec4 = vec4_aligned<TF>(kQuantize ? x : y) && vec4_aligned<uint8_t>(kQuantize ? y : x);
  const unsigned grid = grid_for(vec4 ? (n + 3) / 4 : n);
  auto go = [&](auto idx) {
    using Idx = decltype(idx);
    const auto* ps = static_cast<const TF*>(scale);
    const auto* pz = static_cast<const uint8_t*>(zero_point);
    if (a.channels > 1)
      fp8_qdq_kernel<kQuantize, TF, kE4M3, true, Idx>
          <<<grid, kThreads, 0, stream>>>(x, ps, pz, y, Idx(n), Idx(a.inner), Idx(a.channels), saturate, vec4);
    else
      fp8_qdq_kernel<kQuantize, TF, kE4M3, false, Idx>
          <<<grid, kThreads, 0, stream>>>(x, ps, pz, y, Idx(n), Idx(1), Idx(1), saturate, vec4);
    return cudaGetLastError();
  };
  return n < (int64_t{1} << 31) ? go(uint32_t{0}) : go(int64_t{0});
}

// The float8 launch for (float type, float8 type), or cudaErrorInvalidValue.
template <bool kQuantize>
cudaError_t launch_fp8_for(DType ft, DType f8, const void* x, const void* s, const void* z, void* y, int64_t n,
                           QuantAxis a, bool saturate, cudaStream_t st) {
  const bool e4m3 = f8 == DType::kFloat8E4M3FN;
  if (!e4m3 && f8 != DType::kFloat8E5M2) return cudaErrorInvalidValue;
  if (ft == DType::kFloat32)
    return e4m3 ? launch_fp8<kQuantize, float, true>(x, s, z, y, n, a, saturate, st)
                : launch_fp8<kQuantize, float, false>(x, s, z, y, n, a, saturate, st);
  if (ft == DType::kFloat16)
    return e4m3 ? launch_fp8<kQuantize, __half, true>(x, s, z, y, n, a, saturate, st)
                : launch_fp8<kQuantize, __half, false>(x, s, z, y, n, a, saturate, st);
  return cudaErrorInvalidValue;
}

// One launch with the index type n needs (uint32_t below 2^31 elements) and the per-axis form when channels > 1.
template <bool kQuantize, typename TX, typename TY, typename TS, typename TZ>
cudaError_t launch_typed(const void* x, const void* scale, const void* zero_point, void* y, int64_t n, QuantAxis a,
                         cudaStream_t stream) {
  const bool vec4 = vec4_aligned<TX>(x) && vec4_aligned<TY>(y);
  const unsigned grid = grid_for(vec4 ? (n + 3) / 4 : n);
  auto go = [&](auto idx) {
    using Idx = decltype(idx);
    const Params<TS, TZ, Idx> p{static_cast<const TS*>(scale), static_cast<const TZ*>(zero_point),
                                static_cast<Idx>(a.inner), static_cast<Idx>(a.channels)};
    const auto* px = static_cast<const TX*>(x);
    auto* py = static_cast<TY*>(y);
    if (a.channels > 1)
      qdq_kernel<kQuantize, TX, TY, TS, TZ, true, Idx><<<grid, kThreads, 0, stream>>>(px, p, py, Idx(n), vec4);
    else
      qdq_kernel<kQuantize, TX, TY, TS, TZ, false, Idx><<<grid, kThreads, 0, stream>>>(px, p, py, Idx(n), vec4);
    return cudaGetLastError();
  };
  return n < (int64_t{1} << 31) ? go(uint32_t{0}) : go(int64_t{0});
}

template <typename TX, typename TY>
cudaError_t quantize_as(const void* x, const void* s, const void* z, void* y, int64_t n, QuantAxis a,
                        cudaStream_t st) {
  return launch_typed<true, TX, TY, TX, TY>(x, s, z, y, n, a, st);
}

template <typename TX, typename TY>
cudaError_t dequantize_as(const void* x, const void* s, const void* z, void* y, int64_t n, QuantAxis a,
                          cudaStream_t st) {
  return launch_typed<false, TX, TY, TY, TX>(x, s, z, y, n, a, st);
}

}  // namespace

cudaError_t launch_quantize_linear(DType xt, DType yt, const void* x, const void* scale, const void* zero_point,
                                   void* y, int64_t n, QuantAxis axis, cudaStream_t stream, bool saturate) {
  if (is_float8(yt)) return launch_fp8_for<true>(xt, yt, x, scale, zero_point, y, n, axis, saturate, stream);
  const bool f32 = xt == DType::kFloat32, f16 = xt == DType::kFloat16;
  if (f32 && yt == DType::kUInt8) return quantize_as<float, uint8_t>(x, scale, zero_point, y, n, axis, stream);
  if (f32 && yt == DType::kInt8) return quantize_as<float, int8_t>(x, scale, zero_point, y, n, axis, stream);
  if (f16 && yt == DType::kUInt8) return quantize_as<__half, uint8_t>(x, scale, zero_point, y, n, axis, stream);
  if (f16 && yt == DType::kInt8) return quantize_as<__half, int8_t>(x, scale, zero_point, y, n, axis, stream);
  return cudaErrorInvalidValue;
}

cudaError_t launch_dequantize_linear(DType xt, DType yt, const void* x, const void* scale, const void* zero_point,
                                     void* y, int64_t n, QuantAxis axis, cudaStream_t stream) {
  if (is_float8(xt)) return launch_fp8_for<false>(yt, xt, x, scale, zero_point, y, n, axis, true, stream);
  auto to = [&](auto tag) {
    using TX = decltype(tag);
    if (yt == DType::kFloat32) return dequantize_as<TX, float>(x, scale, zero_point, y, n, axis, stream);
    if (yt == DType::kFloat16) return dequantize_as<TX, __half>(x, scale, zero_point, y, n, axis, stream);
    return cudaErrorInvalidValue;
  };
  if (xt == DType::kUInt8) return to(uint8_t{0});
  if (xt == DType::kInt8) return to(int8_t{0});
  if (xt == DType::kInt32) return to(int32_t{0});
  return cudaErrorInvalidValue;
}

}  // namespace kiln::cuda
