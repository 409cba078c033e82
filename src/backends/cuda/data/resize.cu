// Device code of CUDA Resize: nearest moves rows of the unresized inner axes as vectors; the other modes sum, per
// output element, the tensor product of per-axis taps.
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

// Nearest by rows: out row `row` (over the first d.rank axes, here the axes before the unresized run) copies input
// row `off`; V is the vector moved per thread, I the index type, strides in units of V.
template <typename V, typename I>
__global__ void resize_nearest_rows_kernel(const V* __restrict__ in, V* __restrict__ out,
                                           const __grid_constant__ ResizeDesc d, const int64_t* __restrict__ tidx,
                                           I vecs_per_row, I n) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(blockDim.x) * gridDim.x) {
    I row = i / vecs_per_row;
    const I v = i - row * vecs_per_row;
    I off = 0;
    for (int r = d.rank - 1; r >= 0; --r) {
      const I dim = static_cast<I>(d.out_dims[r]);
      const I q = row / dim;
      const I c = row - q * dim;
      row = q;
      const I src = d.taps[r] == 0 ? c : static_cast<I>(tidx[d.table_off[r] + c]);
      off += src * static_cast<I>(d.in_strides[r]);
    }
    out[i] = in[off * vecs_per_row + v];
  }
}

template <typename V>
cudaError_t launch_rows(const void* in, void* out, const ResizeDesc& d, const int64_t* tidx, int64_t vecs_per_row,
                        int64_t n, int64_t in_vecs, cudaStream_t s) {
  if (n < (int64_t{1} << 31) && in_vecs < (int64_t{1} << 31))
    resize_nearest_rows_kernel<V, uint32_t><<<grid_for(n), kThreads, 0, s>>>(
        static_cast<const V*>(in), static_cast<V*>(out), d, tidx, static_cast<uint32_t>(vecs_per_row),
        static_cast<uint32_t>(n));
  else
    resize_nearest_rows_kernel<V, int64_t>
        <<<grid_for(n), kThreads, 0, s>>>(static_cast<const V*>(in), static_cast<V*>(out), d, tidx, vecs_per_row, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_resize_nearest_rows(size_t es, const void* in, void* out, const ResizeDesc& full,
                                       const int64_t* tidx, int64_t in_numel, cudaStream_t s) {
  // Split the axes into outer ones (up to the last resized axis) and the contiguous unresized run after them.
  int outer = full.rank;
  while (outer > 0 && full.taps[outer - 1] == 0) --outer;
  int64_t row_elems = 1, rows = 1;
  for (int r = outer; r < full.rank; ++r) row_elems *= full.out_dims[r];
  for (int r = 0; r < outer; ++r) rows *= full.out_dims[r];
  const int64_t row_bytes = row_elems * static_cast<int64_t>(es);
  const auto addr = reinterpret_cast<uintptr_t>(in) | reinterpret_cast<uintptr_t>(out);
  size_t vb = 16;
  while (vb > es && (row_bytes % static_cast<int64_t>(vb) != 0 || addr % vb != 0)) vb /= 2;
  if (vb < es) vb = es;
  ResizeDesc d = full;
  d.rank = outer;
  // Strides of the outer axes in whole rows (each is a multiple of the row: the run after it is contiguous).
  for (int r = 0; r < outer; ++r) d.in_strides[r] = full.in_strides[r] / row_elems;
  const int64_t vecs_per_row = row_bytes / static_cast<int64_t>(vb);
  const int64_t n = rows * vecs_per_row;
  const int64_t in_vecs = in_numel * static_cast<int64_t>(es) / static_cast<int64_t>(vb);
  if (n == 0) return cudaSuccess;
  switch (vb) {
    case 16: return launch_rows<uint4>(in, out, d, tidx, vecs_per_row, n, in_vecs, s);
    case 8: return launch_rows<uint2>(in, out, d, tidx, vecs_per_row, n, in_vecs, s);
    case 4: return launch_rows<uint32_t>(in, out, d, tidx, vecs_per_row, n, in_vecs, s);
    case 2: return launch_rows<uint16_t>(in, out, d, tidx, vecs_per_row, n, in_vecs, s);
    case 1: return launch_rows<uint8_t>(in, out, d, tidx, vecs_per_row, n, in_vecs, s);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launch_resize(DType dt, const void* in, void* out, const ResizeDesc& d, const int64_t* tidx,
                          const float* tw, int64_t n, cudaStream_t s) {
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
