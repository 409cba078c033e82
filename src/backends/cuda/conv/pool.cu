// Device code of the conv family's data movement and pooling: window copy (pad/crop), pools, global pools.
#include <cfloat>

#include "backends/cuda/conv/conv_device.h"
#include "backends/cuda/gemm/elem_io.cuh"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

// Element loads/stores of the pools in float: the float types through elem_io, 8-bit integers exactly.
template <class T>
__device__ __forceinline__ float pool_load(T v) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<float>(v);
  else
    return to_f32(v);
}
template <class T>
__device__ __forceinline__ T pool_store(float v) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(v);
  else
    return from_f32<T>(v);
}

template <class T>
__global__ void window_copy(WindowCopyParams p, int64_t total) {
  const T* src = static_cast<const T*>(p.src);
  T* dst = static_cast<T*>(p.dst);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rem = i, src_off = 0, src_stride = 1;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int64_t coord = rem % p.dst_dims[d] + p.offset[d];
      rem /= p.dst_dims[d];
      if (coord < 0 || coord >= p.src_dims[d]) inside = false;
      src_off += coord * src_stride;
      src_stride *= p.src_dims[d];
    }
    dst[i] = inside ? src[src_off] : from_f32<T>(0.f);
  }
}

// One thread per output element; the window loop mirrors the reference pool (count_include_pad counts taps
// inside the padded extent, never those beyond it that ceil_mode adds).
// I: the index type; 32-bit when every offset fits (64-bit division is the kernel's main cost otherwise).
template <class T, class I>
__global__ void pool_nd(PoolParams p, I total) {
  const I C = static_cast<I>(p.c);
  I in_[3], out_[3], ker[3], str_[3], dil[3], pb[3], pe[3];
  for (int d = 0; d < 3; ++d) {
    in_[d] = static_cast<I>(p.in[d]);
    out_[d] = static_cast<I>(p.out[d]);
    ker[d] = static_cast<I>(p.kernel[d]);
    str_[d] = static_cast<I>(p.stride[d]);
    dil[d] = static_cast<I>(p.dilation[d]);
    pb[d] = static_cast<I>(p.pad_begin[d]);
    pe[d] = static_cast<I>(p.pad_end[d]);
  }
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const I out_sp = out_[0] * out_[1] * out_[2], in_sp = in_[0] * in_[1] * in_[2];
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    I ni, ci, pos;
    if (p.channels_last) {
      ci = i % C;
      pos = (i / C) % out_sp;
      ni = i / (C * out_sp);
    } else {
      pos = i % out_sp;
      ci = (i / out_sp) % C;
      ni = i / (out_sp * C);
    }
    const I o2 = pos % out_[2], o1 = (pos / out_[2]) % out_[1], o0 = pos / (out_[2] * out_[1]);
    const I s0 = o0 * str_[0] - pb[0], s1 = o1 * str_[1] - pb[1], s2 = o2 * str_[2] - pb[2];
    float acc = p.is_max ? -FLT_MAX : 0.f;
    bool any = false;
    I count = 0;
    for (I k0 = 0; k0 < ker[0]; ++k0) {
      const I q0 = s0 + k0 * dil[0];
      for (I k1 = 0; k1 < ker[1]; ++k1) {
        const I q1 = s1 + k1 * dil[1];
        for (I k2 = 0; k2 < ker[2]; ++k2) {
          const I q2 = s2 + k2 * dil[2];
          const bool inside = q0 >= 0 && q0 < in_[0] && q1 >= 0 && q1 < in_[1] && q2 >= 0 && q2 < in_[2];
          if (!inside) {
            if (p.count_include_pad && q0 < in_[0] + pe[0] && q1 < in_[1] + pe[1] && q2 < in_[2] + pe[2]) ++count;
            continue;
          }
          ++count;
          const I sp = (q0 * in_[1] + q1) * in_[2] + q2;
          const I off = p.channels_last ? (ni * in_sp + sp) * C + ci : (ni * C + ci) * in_sp + sp;
          const float v = pool_load(x[off]);
          if (p.is_max) {
            if (!any || v > acc) acc = v;
          } else {
            acc += v;
          }
          any = true;
        }
      }
    }
    float r;
    if (p.is_max)
      r = any ? acc : 0.f;
    else
      r = count > 0 ? acc / static_cast<float>(count) : 0.f;
    y[i] = pool_store<T>(r);
  }
}

// Where vector i of a channels-last 2-D pool's output (vectors of `per_vec` channels, `vecs` per pixel) reads: its
// channel vector cv, image ni and the window's top-left input coordinate (h0, w0).
struct NhwcWindow {
  int cv, h0, w0;
  int64_t ni;
};
__device__ __forceinline__ NhwcWindow nhwc_window(const PoolParams& p, int64_t i, int vecs) {
  const int out_h = static_cast<int>(p.out[0]), out_w = static_cast<int>(p.out[1]);
  NhwcWindow r;
  r.cv = static_cast<int>(i % vecs);
  int64_t rest = i / vecs;
  const int ow = static_cast<int>(rest % out_w);
  rest /= out_w;
  const int oh = static_cast<int>(rest % out_h);
  r.ni = rest / out_h;
  r.h0 = oh * static_cast<int>(p.stride[0]) - static_cast<int>(p.pad_begin[0]);
  r.w0 = ow * static_cast<int>(p.stride[1]) - static_cast<int>(p.pad_begin[1]);
  return r;
}

// Channels-last 2-D pool for 16-bit types with C % 8 == 0: one thread per (n, oh, ow, 8 channels), 16-byte loads.
// Same window semantics as pool_nd (max over inside taps; average over taps inside the padded extent or inside
// the input). The generic kernel's per-element index arithmetic made ResNet's 3x3/s2 max pool ~10x slower.
template <class T>
__global__ void pool2d_nhwc_vec8(PoolParams p, int64_t total) {
  const int c8 = static_cast<int>(p.c / 8);
  const int in_h = static_cast<int>(p.in[0]), in_w = static_cast<int>(p.in[1]);
  const uint4* x = static_cast<const uint4*>(p.x);
  uint4* y = static_cast<uint4*>(p.y);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [cv, h0, w0, ni] = nhwc_window(p, i, c8);
    float acc[8];
    for (int k = 0; k < 8; ++k) acc[k] = p.is_max ? -FLT_MAX : 0.f;
    int count = 0;
    bool any = false;
    for (int kh = 0; kh < p.kernel[0]; ++kh) {
      const int h = h0 + kh * static_cast<int>(p.dilation[0]);
      for (int kw = 0; kw < p.kernel[1]; ++kw) {
        const int w = w0 + kw * static_cast<int>(p.dilation[1]);
        const bool inside = h >= 0 && h < in_h && w >= 0 && w < in_w;
        if (!inside) {
          if (p.count_include_pad && h < in_h + p.pad_end[0] && w < in_w + p.pad_end[1]) ++count;
          continue;
        }
        ++count;
        any = true;
        const uint4 v = x[((ni * in_h + h) * in_w + w) * c8 + cv];
        const T* e = reinterpret_cast<const T*>(&v);
        for (int k = 0; k < 8; ++k) {
          const float f = to_f32(e[k]);
          acc[k] = p.is_max ? fmaxf(acc[k], f) : acc[k] + f;
        }
      }
    }
    uint4 out;
    T* o = reinterpret_cast<T*>(&out);
    for (int k = 0; k < 8; ++k) {
      const float r = p.is_max ? (any ? acc[k] : 0.f) : (count > 0 ? acc[k] / static_cast<float>(count) : 0.f);
      o[k] = from_f32<T>(r);
    }
    y[i] = out;
  }
}

// Channels-last 2-D max pool over 8-bit values with C % 16 == 0: one thread per (n, oh, ow, 16 channels), 16-byte
// loads, four bytes compared at once (__vmaxs4 / __vmaxu4). A window with no tap inside the input gives 0, as
// pool_nd does.
template <bool kSigned>
__global__ void maxpool2d_nhwc_q8x16(PoolParams p, int64_t total) {
  const int c16 = static_cast<int>(p.c / 16);
  const int in_h = static_cast<int>(p.in[0]), in_w = static_cast<int>(p.in[1]);
  const uint4* x = static_cast<const uint4*>(p.x);
  uint4* y = static_cast<uint4*>(p.y);
  const uint32_t lowest = kSigned ? 0x80808080u : 0u;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [cv, h0, w0, ni] = nhwc_window(p, i, c16);
    uint32_t acc[4] = {lowest, lowest, lowest, lowest};
    bool any = false;
    for (int kh = 0; kh < p.kernel[0]; ++kh) {
      const int h = h0 + kh * static_cast<int>(p.dilation[0]);
      if (h < 0 || h >= in_h) continue;
      for (int kw = 0; kw < p.kernel[1]; ++kw) {
        const int w = w0 + kw * static_cast<int>(p.dilation[1]);
        if (w < 0 || w >= in_w) continue;
        any = true;
        const uint4 v = x[((ni * in_h + h) * in_w + w) * c16 + cv];
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) acc[k] = kSigned ? __vmaxs4(acc[k], words[k]) : __vmaxu4(acc[k], words[k]);
      }
    }
    y[i] = any ? make_uint4(acc[0], acc[1], acc[2], acc[3]) : make_uint4(0, 0, 0, 0);
  }
}

// NCHW: one block per (n, c) plane, shared-memory tree reduction.
template <class T>
__global__ void global_pool_planes(const T* x, T* y, bool is_max, int64_t spatial) {
  __shared__ float buf[kBlock];
  const T* plane = x + blockIdx.x * spatial;
  float acc = is_max ? -FLT_MAX : 0.f;
  for (int64_t s = threadIdx.x; s < spatial; s += blockDim.x) {
    const float v = to_f32(plane[s]);
    acc = is_max ? fmaxf(acc, v) : acc + v;
  }
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w)
      buf[threadIdx.x] =
          is_max ? fmaxf(buf[threadIdx.x], buf[threadIdx.x + w]) : buf[threadIdx.x] + buf[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = from_f32<T>(is_max ? buf[0] : buf[0] / static_cast<float>(spatial));
}

// NHWC, before the vectorized kernel below was verified on a GPU: one thread per (n, c); neighbouring threads read
// neighbouring channels (launch_global_pool with splits == 0).
template <class T>
__global__ void global_pool_channels_last(const T* x, T* y, bool is_max, int64_t n, int64_t c, int64_t spatial) {
  KILN_GRID_LOOP(i, n * c) {
    const int64_t ni = i / c, ci = i % c;
    const T* base = x + ni * spatial * c + ci;
    float acc = is_max ? -FLT_MAX : 0.f;
    for (int64_t s = 0; s < spatial; ++s) {
      const float v = to_f32(base[s * c]);
      acc = is_max ? fmaxf(acc, v) : acc + v;
    }
    y[i] = from_f32<T>(is_max ? acc : acc / static_cast<float>(spatial));
  }
}

// NHWC global pools, bandwidth-bound: a block covers `lanes` channel vectors of V channels (neighbouring lanes read
// neighbouring 16-byte vectors) times `rows` spatial slices; blockIdx.z splits the spatial positions so that small
// batches still fill the GPU. With one split the block writes y (finished); with several it writes float partials
// [n, split, c] that global_pool_finish reduces (no atomics: results do not depend on scheduling).
template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <class T, int V>
__global__ void global_pool_nhwc(const T* x, void* out, bool is_max, bool finish, int64_t c, int64_t spatial,
                                 int64_t chunk) {
  extern __shared__ float part[];  // [rows][lanes * V]
  const int lanes = blockDim.x, rows = blockDim.y, lane = threadIdx.x, row = threadIdx.y;
  const int64_t cv = static_cast<int64_t>(blockIdx.x) * lanes + lane;  // channel vector
  const int64_t n = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
  const int64_t s_begin = split * chunk, s_end = s_begin + chunk < spatial ? s_begin + chunk : spatial;
  float acc[V];
  for (int k = 0; k < V; ++k) acc[k] = is_max ? -FLT_MAX : 0.f;
  if (cv * V < c) {
    const Vec<T, V>* base = reinterpret_cast<const Vec<T, V>*>(x + n * spatial * c) + cv;
    const int64_t step = c / V;
#pragma unroll 4
    for (int64_t s = s_begin + row; s < s_end; s += rows) {
      const Vec<T, V> v = base[s * step];
      for (int k = 0; k < V; ++k) acc[k] = is_max ? fmaxf(acc[k], to_f32(v.v[k])) : acc[k] + to_f32(v.v[k]);
    }
  }
  for (int k = 0; k < V; ++k) part[(row * lanes + lane) * V + k] = acc[k];
  __syncthreads();
  if (row != 0 || cv * V >= c) return;
  for (int r = 1; r < rows; ++r)
    for (int k = 0; k < V; ++k) {
      const float o = part[(r * lanes + lane) * V + k];
      acc[k] = is_max ? fmaxf(acc[k], o) : acc[k] + o;
    }
  if (finish) {
    T* y = static_cast<T*>(out) + n * c + cv * V;
    for (int k = 0; k < V; ++k) y[k] = from_f32<T>(is_max ? acc[k] : acc[k] / static_cast<float>(spatial));
  } else {
    float* y = static_cast<float*>(out) + (n * splits + split) * c + cv * V;
    for (int k = 0; k < V; ++k) y[k] = acc[k];
  }
}

// y[n, c] from the partials [n, splits, c] of global_pool_nhwc.
template <class T>
__global__ void global_pool_finish(const float* part, T* y, bool is_max, int64_t n, int64_t c, int64_t splits,
                                   int64_t spatial) {
  KILN_GRID_LOOP(i, n * c) {
    const int64_t ni = i / c, ci = i % c;
    float acc = is_max ? -FLT_MAX : 0.f;
    for (int64_t s = 0; s < splits; ++s) {
      const float v = part[(ni * splits + s) * c + ci];
      acc = is_max ? fmaxf(acc, v) : acc + v;
    }
    y[i] = from_f32<T>(is_max ? acc : acc / static_cast<float>(spatial));
  }
}

template <class T, int V>
cudaError_t launch_global_pool_nhwc(const T* x, T* y, float* partials, bool is_max, int64_t n, int64_t c,
                                    int64_t spatial, int64_t splits, cudaStream_t stream) {
  const int64_t vecs = c / V;
  const int lanes = static_cast<int>(vecs < 32 ? vecs : 32);
  const int rows = kBlock / lanes;
  const int64_t chunk = (spatial + splits - 1) / splits;
  const dim3 grid(static_cast<unsigned>((vecs + lanes - 1) / lanes), static_cast<unsigned>(n),
                  static_cast<unsigned>(splits));
  const size_t shared = sizeof(float) * V * lanes * rows;
  if (splits == 1) {
    global_pool_nhwc<T, V><<<grid, dim3(lanes, rows), shared, stream>>>(x, y, is_max, true, c, spatial, chunk);
    return cudaGetLastError();
  }
  global_pool_nhwc<T, V><<<grid, dim3(lanes, rows), shared, stream>>>(x, partials, is_max, false, c, spatial, chunk);
  global_pool_finish<T><<<grid_for(n * c, kBlock), kBlock, 0, stream>>>(partials, y, is_max, n, c, splits, spatial);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_window_copy(const WindowCopyParams& p, cudaStream_t stream) {
  int64_t total = 1;
  for (int d = 0; d < p.rank; ++d) total *= p.dst_dims[d];
  if (total == 0) return cudaSuccess;
  KILN_DISPATCH_ELEM(p.type, window_copy<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total));
  return cudaGetLastError();
}

cudaError_t launch_pool(const PoolParams& p, cudaStream_t stream) {
  const int64_t total = p.n * p.c * p.out[0] * p.out[1] * p.out[2];
  if (total == 0) return cudaSuccess;
  const int64_t in_total = p.n * p.c * p.in[0] * p.in[1] * p.in[2];
  const bool aligned16 = (reinterpret_cast<uintptr_t>(p.x) | reinterpret_cast<uintptr_t>(p.y)) % 16 == 0;
  const bool nhwc_2d = p.channels_last && p.in[2] == 1 && p.out[2] == 1 && p.kernel[2] == 1 && aligned16 &&
                       p.in[0] < INT32_MAX / 2 && p.in[1] < INT32_MAX / 2;
  if (p.q8 != 0) {
    if (!p.is_max) return cudaErrorInvalidValue;
    if (nhwc_2d && p.c % 16 == 0) {
      const int64_t vec_total = total / 16;
      if (p.q8 == 1)
        maxpool2d_nhwc_q8x16<false><<<grid_for(vec_total, kBlock), kBlock, 0, stream>>>(p, vec_total);
      else
        maxpool2d_nhwc_q8x16<true><<<grid_for(vec_total, kBlock), kBlock, 0, stream>>>(p, vec_total);
      return cudaGetLastError();
    }
    const bool i32 = total < INT32_MAX && in_total < INT32_MAX;
    if (p.q8 == 1 && i32) pool_nd<uint8_t, int32_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, int32_t(total));
    if (p.q8 == 1 && !i32) pool_nd<uint8_t, int64_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total);
    if (p.q8 == 2 && i32) pool_nd<int8_t, int32_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, int32_t(total));
    if (p.q8 == 2 && !i32) pool_nd<int8_t, int64_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total);
    return cudaGetLastError();
  }
  if (nhwc_2d && p.type != ElemType::kF32 && p.c % 8 == 0) {
    const int64_t vec_total = total / 8;
    if (p.type == ElemType::kF16) {
      pool2d_nhwc_vec8<__half><<<grid_for(vec_total, kBlock), kBlock, 0, stream>>>(p, vec_total);
    } else {
      pool2d_nhwc_vec8<__nv_bfloat16><<<grid_for(vec_total, kBlock), kBlock, 0, stream>>>(p, vec_total);
    }
    return cudaGetLastError();
  }
  if (total < INT32_MAX && in_total < INT32_MAX) {
    KILN_DISPATCH_ELEM(
        p.type, pool_nd<T, int32_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, static_cast<int32_t>(total)));
  } else {
    KILN_DISPATCH_ELEM(p.type, pool_nd<T, int64_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total));
  }
  return cudaGetLastError();
}

int64_t global_pool_splits(bool channels_last, int64_t n, int64_t c, int64_t spatial, int sm_count) {
  if (!channels_last || n * c == 0 || spatial == 0) return 1;
  const int64_t lanes = c < 32 ? c : 32;  // lanes of scalar channels: an upper bound on the blocks per image
  const int64_t blocks = n * ((c + lanes - 1) / lanes);
  const int64_t want = 4 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1);
  if (blocks >= want) return 1;
  int64_t splits = (want + blocks - 1) / blocks;
  const int64_t rows = kBlock / lanes;
  const int64_t most = spatial / (4 * rows);  // at least 4 positions per thread
  if (splits > most) splits = most;
  if (splits > 256) splits = 256;
  return splits < 1 ? 1 : splits;
}

cudaError_t launch_global_pool(const void* x, void* y, float* partials, ElemType type, bool is_max, bool channels_last,
                               int64_t n, int64_t c, int64_t spatial, int64_t splits, cudaStream_t stream) {
  if (n * c == 0 || spatial == 0) return cudaSuccess;
  if (channels_last && splits == 0) {
    KILN_DISPATCH_ELEM(type, global_pool_channels_last<T><<<grid_for(n * c, kBlock), kBlock, 0, stream>>>(
                                 static_cast<const T*>(x), static_cast<T*>(y), is_max, n, c, spatial));
    return cudaGetLastError();
  }
  if (channels_last) {
    if (n > 65535 || splits < 1 || splits > 65535 || (splits > 1 && !partials)) return cudaErrorInvalidValue;
    const bool aligned16 = reinterpret_cast<uintptr_t>(x) % 16 == 0;
    if (type == ElemType::kF16 && aligned16 && c % 8 == 0)
      return launch_global_pool_nhwc<__half, 8>(static_cast<const __half*>(x), static_cast<__half*>(y), partials,
                                                is_max, n, c, spatial, splits, stream);
    if (type == ElemType::kBF16 && aligned16 && c % 8 == 0)
      return launch_global_pool_nhwc<__nv_bfloat16, 8>(static_cast<const __nv_bfloat16*>(x),
                                                       static_cast<__nv_bfloat16*>(y), partials, is_max, n, c, spatial,
                                                       splits, stream);
    if (type == ElemType::kF32 && aligned16 && c % 4 == 0)
      return launch_global_pool_nhwc<float, 4>(static_cast<const float*>(x), static_cast<float*>(y), partials, is_max,
                                               n, c, spatial, splits, stream);
    KILN_DISPATCH_ELEM(type, return launch_global_pool_nhwc<T, 1>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                  partials, is_max, n, c, spatial, splits, stream));
  } else {
    if (n * c > 0x7fffffff) return cudaErrorInvalidConfiguration;
    KILN_DISPATCH_ELEM(type, global_pool_planes<T><<<static_cast<unsigned>(n * c), kBlock, 0, stream>>>(
                                 static_cast<const T*>(x), static_cast<T*>(y), is_max, spatial));
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
