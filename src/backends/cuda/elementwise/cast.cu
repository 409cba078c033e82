// Device code of the CUDA Cast kernel: every supported (from, to) pair through one scalar form.
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/elementwise/cast.h"

namespace kiln::cuda {

namespace {

// A value read from any input: a float (held exactly as double) or an integer (held as int64; uint8 and
// bool fit).
struct Scalar {
  bool is_float;
  double f;
  int64_t i;
};

template <typename T>
__device__ __forceinline__ Scalar read(T v) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return {true, static_cast<double>(v), 0};
  } else if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
    return {true, static_cast<double>(to_f32(v)), 0};
  } else if constexpr (std::is_same_v<T, bool>) {
    return {false, 0.0, v ? 1 : 0};
  } else {
    return {false, 0.0, static_cast<int64_t>(v)};
  }
}

// d rounded to float with round-to-odd (truncate, set the last bit when inexact), so the later
// round-to-nearest-even into half/bfloat16 equals rounding d directly.
__device__ __forceinline__ float round_to_odd_float(double d) {
  if (isnan(d) || isinf(d)) return static_cast<float>(d);
  float f = __double2float_rz(d);
  if (static_cast<double>(f) == d) return f;
  return __uint_as_float(__float_as_uint(f) | 1u);
}

// |v| as a double rounded to odd (exact below 2^53).
__device__ __forceinline__ double round_to_odd_double(uint64_t mag) {
  double d = __ull2double_rz(mag);
  if (static_cast<uint64_t>(d) == mag) return d;
  return __longlong_as_double(__double_as_longlong(d) | 1ll);
}

__device__ __forceinline__ float narrow_input(const Scalar& v) {
  if (v.is_float) return round_to_odd_float(v.f);
  const uint64_t mag = v.i < 0 ? uint64_t{0} - static_cast<uint64_t>(v.i) : static_cast<uint64_t>(v.i);
  const float f = round_to_odd_float(round_to_odd_double(mag));
  return v.i < 0 ? -f : f;
}

__device__ __forceinline__ uint64_t integer_bits(const Scalar& v) {
  if (!v.is_float) return static_cast<uint64_t>(v.i);
  if (isnan(v.f)) return 0;
  const double t = trunc(v.f);
  constexpr double kTwo63 = 9223372036854775808.0;
  if (t >= -kTwo63 && t < kTwo63) return static_cast<uint64_t>(static_cast<int64_t>(t));
  if (t >= kTwo63 && t < 2 * kTwo63) return static_cast<uint64_t>(t);
  return uint64_t{1} << 63;
}

template <typename T>
__device__ __forceinline__ T write(const Scalar& v) {
  if constexpr (std::is_same_v<T, float>) {
    return v.is_float ? static_cast<float>(v.f) : static_cast<float>(v.i);
  } else if constexpr (std::is_same_v<T, double>) {
    return v.is_float ? v.f : static_cast<double>(v.i);
  } else if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(narrow_input(v));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(narrow_input(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v.is_float ? v.f != 0 : v.i != 0;  // NaN != 0 is true
  } else {
    return static_cast<T>(integer_bits(v));  // keeps the low bits (two's complement)
  }
}

template <typename TI, typename TO>
__global__ void cast_kernel(const TI* __restrict__ x, TO* __restrict__ y, int64_t n) {
  KILN_GRID_LOOP(i, n) y[i] = write<TO>(read<TI>(x[i]));
}

// float32 <-> float16/bfloat16, the casts at every FP16 engine's boundary: 4 elements per thread, no double
// round trip (rounding a float straight to half/bfloat16 is already correctly rounded). x and y 16-byte aligned.
template <typename TI, typename TO>
__global__ void cast_float_vec4(const TI* __restrict__ x, TO* __restrict__ y, int64_t n4) {
  KILN_GRID_LOOP(i, n4) {
    TI in[4];
    TO out[4];
    if constexpr (sizeof(TI) == 4) {
      *reinterpret_cast<float4*>(in) = reinterpret_cast<const float4*>(x)[i];
    } else {
      *reinterpret_cast<uint2*>(in) = reinterpret_cast<const uint2*>(x)[i];
    }
    for (int k = 0; k < 4; ++k) {
      if constexpr (std::is_same_v<TO, float>) {
        out[k] = to_f32(in[k]);
      } else if constexpr (std::is_same_v<TO, __half>) {
        out[k] = __float2half_rn(in[k]);
      } else {
        out[k] = __float2bfloat16_rn(in[k]);
      }
    }
    if constexpr (sizeof(TO) == 4) {
      reinterpret_cast<float4*>(y)[i] = *reinterpret_cast<float4*>(out);
    } else {
      reinterpret_cast<uint2*>(y)[i] = *reinterpret_cast<uint2*>(out);
    }
  }
}

template <typename TI, typename TO>
bool try_cast_float_vec4(const void* x, void* y, int64_t n, cudaStream_t s) {
  if (n % 4 != 0 || (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) % 16 != 0) return false;
  cast_float_vec4<TI, TO><<<grid_for(n / 4), kThreads, 0, s>>>(static_cast<const TI*>(x), static_cast<TO*>(y), n / 4);
  return true;
}

#define KILN_CAST_SWITCH(dt, MACRO) \
  switch (dt) {                     \
    case DType::kFloat32:           \
      MACRO(float)                  \
    case DType::kFloat16:           \
      MACRO(__half)                 \
    case DType::kBFloat16:          \
      MACRO(__nv_bfloat16)          \
    case DType::kFloat64:           \
      MACRO(double)                 \
    case DType::kInt8:              \
      MACRO(int8_t)                 \
    case DType::kUInt8:             \
      MACRO(uint8_t)                \
    case DType::kInt32:             \
      MACRO(int32_t)                \
    case DType::kInt64:             \
      MACRO(int64_t)                \
    case DType::kBool:              \
      MACRO(bool)                   \
    default:                        \
      return cudaErrorInvalidValue; \
  }

template <typename TI>
cudaError_t launch_from(DType to, const void* x, void* y, int64_t n, cudaStream_t s) {
#define KILN_TO_CASE(TO)                                                                                   \
  cast_kernel<TI, TO><<<grid_for(n), kThreads, 0, s>>>(static_cast<const TI*>(x), static_cast<TO*>(y), n); \
  return cudaGetLastError();
  KILN_CAST_SWITCH(to, KILN_TO_CASE)
#undef KILN_TO_CASE
}

}  // namespace

bool cuda_cast_dtype(DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat64:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kBool:
      return true;
    default:
      return false;
  }
}

cudaError_t launch_cast(DType from, DType to, const void* x, void* y, int64_t n, cudaStream_t s) {
  bool done = false;
  if (from == DType::kFloat32 && to == DType::kFloat16) done = try_cast_float_vec4<float, __half>(x, y, n, s);
  if (from == DType::kFloat32 && to == DType::kBFloat16) done = try_cast_float_vec4<float, __nv_bfloat16>(x, y, n, s);
  if (from == DType::kFloat16 && to == DType::kFloat32) done = try_cast_float_vec4<__half, float>(x, y, n, s);
  if (from == DType::kBFloat16 && to == DType::kFloat32) done = try_cast_float_vec4<__nv_bfloat16, float>(x, y, n, s);
  if (done) return cudaGetLastError();
#define KILN_FROM_CASE(TI) return launch_from<TI>(to, x, y, n, s);
  KILN_CAST_SWITCH(from, KILN_FROM_CASE)
#undef KILN_FROM_CASE
}

}  // namespace kiln::cuda
