// Device code of the flash Attention kernel (float16/bfloat16, head_dim 32/64/80/96/128): a block of 4 warps
// owns 64 query rows (16 per warp); K/V tiles of 64 keys stream through shared memory; S = Q K^T and O += P V
// run on tensor cores (nvcuda::wmma, float32 accumulation); the online softmax and the running output stay in
// float32 (O in shared memory, rescaled per row when the running maximum grows).
#include <mma.h>

#include "backends/cuda/norm/attention_common.cuh"

namespace kiln::cuda::norm {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kBlockM = 64;  // query rows per block
constexpr int kBlockN = 64;  // keys per tile
constexpr int kWarps = 4;    // each warp owns kBlockM / kWarps = 16 rows
constexpr int kThreads = kWarps * 32;
constexpr int kLdS = kBlockN + 4;  // float scores
constexpr int kLdP = kBlockN + 8;  // 16-bit probabilities

template <int D>
struct FlashLayout {
  static constexpr int kLdT = D + 8;  // 16-bit Q/K/V rows (keeps 32-byte alignment, staggers banks)
  static constexpr int kLdO = D + 4;  // float output rows
  static constexpr size_t kQ = 0;
  static constexpr size_t kK = kQ + size_t{kBlockM} * kLdT * 2;
  static constexpr size_t kV = kK + size_t{kBlockN} * kLdT * 2;
  static constexpr size_t kS = kV + size_t{kBlockN} * kLdT * 2;
  static constexpr size_t kP = kS + size_t{kBlockM} * kLdS * 4;
  static constexpr size_t kO = kP + size_t{kBlockM} * kLdP * 2;
  static constexpr size_t kM = kO + size_t{kBlockM} * kLdO * 4;
  static constexpr size_t kL = kM + size_t{kBlockM} * 4;
  static constexpr size_t kBytes = kL + size_t{kBlockM} * 4;
};

// Copies `rows` rows of D 16-bit elements (row r at src + r * stride) into shared memory, zero-filling rows
// [rows, 64). 16-byte vector accesses: D % 8 == 0 and 16-byte aligned rows (checked by the host).
template <class T, int D>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int64_t stride, int64_t rows) {
  constexpr int kChunks = D / 8;
  for (int t = threadIdx.x; t < kBlockM * kChunks; t += kThreads) {
    const int r = t / kChunks, c = t % kChunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < rows) v = *reinterpret_cast<const uint4*>(src + r * stride + c * 8);
    *reinterpret_cast<uint4*>(dst + r * FlashLayout<D>::kLdT + c * 8) = v;
  }
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) attention_flash(AttentionParams p) {
  using L = FlashLayout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  T* q_s = reinterpret_cast<T*>(smem + L::kQ);
  T* k_s = reinterpret_cast<T*>(smem + L::kK);
  T* v_s = reinterpret_cast<T*>(smem + L::kV);
  float* s_s = reinterpret_cast<float*>(smem + L::kS);
  T* p_s = reinterpret_cast<T*>(smem + L::kP);
  float* o_s = reinterpret_cast<float*>(smem + L::kO);
  float* m_s = reinterpret_cast<float*>(smem + L::kM);
  float* l_s = reinterpret_cast<float*>(smem + L::kL);

  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kBlockM, h = blockIdx.y, b = blockIdx.z;
  const int64_t kh = h / (p.q_heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.qs.b + h * p.qs.h;
  const T* k = static_cast<const T*>(p.k) + b * p.ks.b + kh * p.ks.h;
  const T* v = static_cast<const T*>(p.v) + b * p.vs.b + kh * p.vs.h;
  T* y = static_cast<T*>(p.y) + b * p.ys.b + h * p.ys.h;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = warp * 16;

  load_tile<T, D>(q_s, q + q0 * p.qs.s, p.qs.s, min(static_cast<int64_t>(kBlockM), p.q_len - q0));
  for (int t = threadIdx.x; t < kBlockM * L::kLdO; t += kThreads) o_s[t] = 0.f;
  for (int t = threadIdx.x; t < kBlockM; t += kThreads) {
    m_s[t] = -kInfF;
    l_s[t] = 0.f;
  }
  const int64_t kv_end = p.causal ? min(p.kv_len, q0 + kBlockM) : p.kv_len;

  for (int64_t j0 = 0; j0 < kv_end; j0 += kBlockN) {
    __syncthreads();  // previous tile fully consumed
    const int64_t n_valid = min(static_cast<int64_t>(kBlockN), kv_end - j0);
    load_tile<T, D>(k_s, k + j0 * p.ks.s, p.ks.s, n_valid);
    load_tile<T, D>(v_s, v + j0 * p.vs.s, p.vs.s, n_valid);
    __syncthreads();

    // S[row0:row0+16, :] = Q K^T on tensor cores.
#pragma unroll
    for (int c = 0; c < kBlockN / 16; ++c) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;
        wmma::load_matrix_sync(fa, q_s + row0 * L::kLdT + kk * 16, L::kLdT);
        wmma::load_matrix_sync(fb, k_s + (c * 16) * L::kLdT + kk * 16, L::kLdT);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(s_s + row0 * kLdS + c * 16, acc, kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of this warp's 16 rows; lanes own columns lane and lane + 32.
    for (int r = 0; r < 16; ++r) {
      const int row = row0 + r;
      const int64_t i = q0 + row;
      float sv[2];
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int c = lane + u * 32;
        const int64_t j = j0 + c;
        sv[u] = (i < p.q_len && c < n_valid) ? s_s[row * kLdS + c] * p.scale + attention_bias(p, b, h, i, j) : -kInfF;
      }
      const float m_old = m_s[row];
      const float m_new = nan_max(m_old, warp_max(nan_max(sv[0], sv[1])));
      float corr = 1.f, sum = 0.f;
      if (m_new != -kInfF) {
        corr = m_old == -kInfF ? 0.f : expf(m_old - m_new);
#pragma unroll
        for (int u = 0; u < 2; ++u) {
          sv[u] = sv[u] == -kInfF ? 0.f : expf(sv[u] - m_new);
          sum += sv[u];
        }
      } else {
        sv[0] = sv[1] = 0.f;
      }
      p_s[row * kLdP + lane] = from_f32<T>(sv[0]);
      p_s[row * kLdP + lane + 32] = from_f32<T>(sv[1]);
      sum = warp_sum(sum);
      if (corr != 1.f)
        for (int d = lane; d < D; d += 32) o_s[row * L::kLdO + d] *= corr;
      __syncwarp();
      if (lane == 0) {
        l_s[row] = l_s[row] * corr + sum;
        m_s[row] = m_new;
      }
    }
    __syncwarp();

    // O[row0:row0+16, :] += P V on tensor cores.
#pragma unroll
    for (int c = 0; c < D / 16; ++c) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, o_s + row0 * L::kLdO + c * 16, L::kLdO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, p_s + row0 * kLdP + kk * 16, kLdP);
        wmma::load_matrix_sync(fb, v_s + (kk * 16) * L::kLdT + c * 16, L::kLdT);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(o_s + row0 * L::kLdO + c * 16, acc, L::kLdO, wmma::mem_row_major);
    }
    __syncwarp();
  }
  __syncthreads();

  // Y = O / l; l == 0 (every key masked out) gives NaN, as the reference does.
  for (int t = threadIdx.x; t < kBlockM * D; t += kThreads) {
    const int row = t / D, d = t % D;
    const int64_t i = q0 + row;
    if (i >= p.q_len) continue;
    y[i * p.ys.s + d] = from_f32<T>(o_s[row * L::kLdO + d] / l_s[row]);
  }
}

template <class T, int D>
cudaError_t launch_typed(const AttentionParams& p, cudaStream_t stream) {
  constexpr size_t kSmem = FlashLayout<D>::kBytes;
  const cudaError_t e =
      cudaFuncSetAttribute(attention_flash<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
  if (e != cudaSuccess) return e;
  const dim3 grid(static_cast<unsigned>((p.q_len + kBlockM - 1) / kBlockM), static_cast<unsigned>(p.q_heads),
                  static_cast<unsigned>(p.batch));
  attention_flash<T, D><<<grid, kThreads, kSmem, stream>>>(p);
  return cudaGetLastError();
}

template <class T>
cudaError_t launch_dim(const AttentionParams& p, cudaStream_t stream) {
  switch (p.head_dim) {
    case 32:
      return launch_typed<T, 32>(p, stream);
    case 64:
      return launch_typed<T, 64>(p, stream);
    case 80:
      return launch_typed<T, 80>(p, stream);
    case 96:
      return launch_typed<T, 96>(p, stream);
    case 128:
      return launch_typed<T, 128>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

}  // namespace

bool flash_attention_supported(DType dtype, int64_t head_dim, int64_t v_head_dim) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return false;
  if (head_dim != v_head_dim) return false;
  return head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 96 || head_dim == 128;
}

cudaError_t launch_attention_flash(const AttentionParams& p, cudaStream_t stream) {
  if (!flash_attention_supported(p.dtype, p.head_dim, p.v_head_dim)) return cudaErrorInvalidValue;
  // Vector loads need 16-byte aligned rows; otherwise take the simple kernel.
  const bool strides_ok = p.qs.s % 8 == 0 && p.ks.s % 8 == 0 && p.vs.s % 8 == 0 && p.qs.h % 8 == 0 && p.ks.h % 8 == 0 &&
                          p.vs.h % 8 == 0 && p.qs.b % 8 == 0 && p.ks.b % 8 == 0 && p.vs.b % 8 == 0;
  if (!strides_ok || !aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v)) return launch_attention_simple(p, stream);
  if (p.batch > 65535 || p.q_heads > 65535) return cudaErrorInvalidValue;
  if (p.dtype == DType::kFloat16) return launch_dim<__half>(p, stream);
  return launch_dim<__nv_bfloat16>(p, stream);
}

}  // namespace kiln::cuda::norm
