// Device code of CUDA Resize: one thread per output element sums the tensor product of per-axis taps.
#include "backends/cuda/data/resize.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

// Output coordinates of element i, and the number of tap combinations of the resized axes.
__device__ __forceinline__ int64_t coords_of(const ResizeDesc& d, int64_t i, int64_t (&c)[kMaxDims]) {
  int64_t combos = 1;
  for (int r = d.rank - 1; r >= 0; --r) {
    const int64_t q = i / d.out_dims[r];
    c[r] = i - q * d.out_dims[r];
    i = q;
    if (d.taps[r] > 0) combos *= d.taps[r];
  }
  return combos;
}

template <typename T>
__global__ void resize_kernel(const T* __restrict__ in, T* __restrict__ out, const __grid_constant__ ResizeDesc d,
                              const int64_t* __restrict__ tidx, const float* __restrict__ tw, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    int64_t c[kMaxDims];
    const int64_t combos = coords_of(d, i, c);
    int64_t base = 0;
    bool outside = false;
    for (int r = 0; r < d.rank; ++r) {
      if (d.taps[r] == 0) {
        base += c[r] * d.in_strides[r];
      } else if (tidx[d.table_off[r] + c[r] * d.taps[r]] < 0) {
        outside = true;
      }
    }
    if (outside) {
      out[i] = from_f32<T>(d.extrapolation);
      continue;
    }
    float acc = 0.f;
    for (int64_t k = 0; k < combos; ++k) {
      int64_t rem = k, off = base;
      float w = 1.f;
      for (int r = d.rank - 1; r >= 0; --r) {
        if (d.taps[r] == 0) continue;
        const int64_t t = rem % d.taps[r];
        rem /= d.taps[r];
        const int64_t e = d.table_off[r] + c[r] * d.taps[r] + t;
        off += tidx[e] * d.in_strides[r];
        w *= tw[e];
      }
      acc += w * to_f32(in[off]);
    }
    out[i] = from_f32<T>(acc);
  }
}

// Nearest: one tap per resized axis, bytes copied.
template <typename E>
__global__ void resize_nearest_kernel(const E* __restrict__ in, E* __restrict__ out,
                                      const __grid_constant__ ResizeDesc d, const int64_t* __restrict__ tidx,
                                      E extrapolation, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    int64_t rem = i, off = 0;
    bool outside = false;
    for (int r = d.rank - 1; r >= 0; --r) {
      const int64_t q = rem / d.out_dims[r];
      const int64_t c = rem - q * d.out_dims[r];
      rem = q;
      if (d.taps[r] == 0) {
        off += c * d.in_strides[r];
      } else {
        const int64_t s = tidx[d.table_off[r] + c];
        if (s < 0) outside = true;
        off += s * d.in_strides[r];
      }
    }
    out[i] = outside ? extrapolation : in[off];
  }
}

}  // namespace

cudaError_t launch_resize(DType dt, bool nearest, const void* in, void* out, const ResizeDesc& d, const int64_t* tidx,
                          const float* tw, int64_t n, cudaStream_t s) {
  if (nearest && !(dt == DType::kFloat32 || dt == DType::kFloat16 || dt == DType::kBFloat16)) {
    // Non-float dtypes move bytes; the host sends tf_crop_and_resize (extrapolation) on them to the CPU.
#define KILN_BODY                                                                                           \
  resize_nearest_kernel<E>                                                                                  \
      <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), d, tidx, E(0), n); \
  return cudaGetLastError();
    KILN_ELEM_SWITCH(dtype_size(dt), KILN_BODY)
#undef KILN_BODY
  }
  switch (dt) {
    case DType::kFloat32:
      resize_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<const float*>(in), static_cast<float*>(out), d, tidx,
                                                     tw, n);
      break;
    case DType::kFloat16:
      resize_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<const __half*>(in), static_cast<__half*>(out), d, tidx,
                                                     tw, n);
      break;
    case DType::kBFloat16:
      resize_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(in),
                                                     static_cast<__nv_bfloat16*>(out), d, tidx, tw, n);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
