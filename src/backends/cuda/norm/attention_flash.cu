// Device code of the flash Attention kernel (float16/bfloat16, head_dim 32/64/80/96/128): each warp owns 16 query
// rows and keeps their scores, online-softmax state and output in registers (mma.sync m16n8k16, float32
// accumulation); K/V tiles of 64 keys are double-buffered in shared memory with cp.async; a block is 4 warps
// (64 rows) or, for long sequences, 8 warps (128 rows) sharing each K/V tile; at small batch, where 64-row blocks
// would leave SMs idle (BERT b1: 12 heads x 2 blocks on 132 SMs), 2 or 1 warps (32 or 16 rows) per block.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>

#include "backends/cuda/mma_util.cuh"
#include "backends/cuda/norm/attention_common.cuh"

namespace kiln::cuda::norm {
namespace {

constexpr int kBlockN = 64;                    // keys per K/V tile
constexpr float kLog2e = 1.4426950408889634f;  // softmax runs in base 2: exp(x) = exp2(x * log2e)

template <int D, int kWarps>
struct FlashConfig {
  static constexpr int kBlockM = 16 * kWarps;  // query rows per block
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kLd = D + 8;  // 16-bit elements per shared row: 16-byte aligned, conflict-free ldmatrix
  static constexpr size_t kQBytes = size_t{kBlockM} * kLd * 2;
  static constexpr size_t kTileBytes = size_t{kBlockN} * kLd * 2;
  static constexpr size_t kBytes = kQBytes + 4 * kTileBytes;  // Q, K stages 0/1, V stages 0/1
};

// c += a (16x16, row) * b (16x8, col), float32 accumulators.
template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as one register of two 16-bit values (the lower column in the low half).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// Issues async copies of kRows rows of D 16-bit elements (row r at src + r * stride) into a shared tile,
// zero-filling rows >= valid. Needs 16-byte aligned rows (checked by the host).
template <class T, int D, int kRows, int kThreads>
__device__ __forceinline__ void load_rows_async(T* dst, const T* src, int64_t stride, int64_t valid) {
  constexpr int kChunks = D / 8;
  constexpr int kLd = D + 8;
#pragma unroll 1
  for (int t = threadIdx.x; t < kRows * kChunks; t += kThreads) {
    const int r = t / kChunks, c = t % kChunks;
    const bool ok = r < valid;
    cp_async16(dst + r * kLd + c * 8, ok ? src + r * stride + c * 8 : src, ok ? 16 : 0);
  }
}

// Mask value of key j for a row whose mask row starts at `row` (already offset by b, h, i), as a float.
__device__ __forceinline__ float mask_value(MaskKind kind, const void* row, int64_t j) {
  switch (kind) {
    case MaskKind::kBool:
      return static_cast<const uint8_t*>(row)[j] ? 0.f : -kInfF;
    case MaskKind::kFloat32:
      return static_cast<const float*>(row)[j];
    case MaskKind::kFloat16:
      return __half2float(static_cast<const __half*>(row)[j]);
    case MaskKind::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(row)[j]);
    default:
      return 0.f;
  }
}

__device__ __forceinline__ const void* mask_row(const AttentionParams& p, int64_t b, int64_t h, int64_t i) {
  const int64_t off = b * p.mask_sb + h * p.mask_sh + i * p.mask_sq;
  const size_t es = p.mask_kind == MaskKind::kBool ? 1 : p.mask_kind == MaskKind::kFloat32 ? 4 : 2;
  return static_cast<const unsigned char*>(p.mask) + off * es;
}

// Register budget: head dims up to 64 keep 16 warps per SM (128 registers); larger ones take up to 255.
template <int D, int kWarps>
constexpr int kMinBlocks = (D <= 64 ? 16 : 8) / kWarps;

template <class T, int D, int kWarps>
__global__ void __launch_bounds__(32 * kWarps, (kMinBlocks<D, kWarps>)) attention_flash_mma(AttentionParams p) {
  using C = FlashConfig<D, kWarps>;
  constexpr int kLd = C::kLd;
  constexpr int kNT = kBlockN / 8;  // score n-tiles per warp
  constexpr int kDT = D / 8;        // output n-tiles per warp
  constexpr int kDK = D / 16;       // k-steps of Q K^T
  extern __shared__ __align__(128) unsigned char smem[];
  T* q_s = reinterpret_cast<T*>(smem);
  T* k_s = reinterpret_cast<T*>(smem + C::kQBytes);  // stage s at k_s + s * kBlockN * kLd
  T* v_s = k_s + 2 * kBlockN * kLd;

  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * C::kBlockM, h = blockIdx.y, b = blockIdx.z;
  const int64_t kh = h / (p.q_heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.qs.b + h * p.qs.h + q0 * p.qs.s;
  const T* k = static_cast<const T*>(p.k) + b * p.ks.b + kh * p.ks.h;
  const T* v = static_cast<const T*>(p.v) + b * p.vs.b + kh * p.vs.h;
  T* y = static_cast<T*>(p.y) + b * p.ys.b + h * p.ys.h;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, tig = lane & 3;  // mma fragment row group and column pair
  const int row0 = warp * 16;
  // Row and key positions fit in 32 bits (the grid's x dimension bounds the rows; the host bounds the keys).
  const int i_first = static_cast<int>(q0) + row0;      // first query row of this warp
  const int i_row[2] = {i_first + g, i_first + g + 8};  // the two rows this thread holds
  const bool warp_active = i_first < p.q_len;           // padding warps skip the math, not the barriers

  const int64_t kv_end = p.causal ? min(p.kv_len, q0 + C::kBlockM) : p.kv_len;
  const int n_tiles = static_cast<int>((kv_end + kBlockN - 1) / kBlockN);

  const bool has_mask = p.mask_kind != MaskKind::kNone;
  const void* mrow[2] = {nullptr, nullptr};
  if (has_mask)
    for (int r = 0; r < 2; ++r) mrow[r] = mask_row(p, b, h, min(static_cast<int64_t>(i_row[r]), p.q_len - 1));
  const bool mask_rows_shared = p.mask_sq == 0;
  const float scale2 = p.scale * kLog2e;

  load_rows_async<T, D, C::kBlockM, C::kThreads>(q_s, q, p.qs.s, min(static_cast<int64_t>(C::kBlockM), p.q_len - q0));
  load_rows_async<T, D, kBlockN, C::kThreads>(k_s, k, p.ks.s, min(static_cast<int64_t>(kBlockN), kv_end));
  load_rows_async<T, D, kBlockN, C::kThreads>(v_s, v, p.vs.s, min(static_cast<int64_t>(kBlockN), kv_end));
  cp_async_commit();

  uint32_t qf[kDK][4];
  float o[kDT][4];
#pragma unroll
  for (int t = 0; t < kDT; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
  float m_run[2] = {-kInfF, -kInfF}, l_run[2] = {0.f, 0.f};  // l_run: this thread's partial row sums

  for (int tile = 0; tile < n_tiles; ++tile) {
    const int j0 = tile * kBlockN;
    const int stage = tile & 1;
    if (tile + 1 < n_tiles) {  // prefetch the next tile into the other stage (freed by the previous barrier)
      const int64_t jn = j0 + kBlockN;
      const int64_t nv = min(static_cast<int64_t>(kBlockN), kv_end - jn);
      load_rows_async<T, D, kBlockN, C::kThreads>(k_s + (stage ^ 1) * kBlockN * kLd, k + jn * p.ks.s, p.ks.s, nv);
      load_rows_async<T, D, kBlockN, C::kThreads>(v_s + (stage ^ 1) * kBlockN * kLd, v + jn * p.vs.s, p.vs.s, nv);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (tile == 0) {
#pragma unroll
      for (int kk = 0; kk < kDK; ++kk) {
        const int m = lane >> 3;
        ldmatrix_x4(qf[kk], q_s + (row0 + (m & 1) * 8 + (lane & 7)) * kLd + kk * 16 + (m >> 1) * 8);
      }
    }
    // Causal: a tile whose first key lies after this warp's last row adds nothing.
    const bool skip = !warp_active || (p.causal && j0 > i_first + 15);
    if (!skip) {
      const T* kt = k_s + stage * kBlockN * kLd;
      const T* vt = v_s + stage * kBlockN * kLd;
      float s[kNT][4];
#pragma unroll
      for (int t = 0; t < kNT; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.f;
#pragma unroll
      for (int np = 0; np < kNT / 2; ++np) {
#pragma unroll
        for (int kk = 0; kk < kDK; ++kk) {
          const int m = lane >> 3;
          uint32_t kb[4];
          ldmatrix_x4(kb, kt + (np * 16 + (m >> 1) * 8 + (lane & 7)) * kLd + kk * 16 + (m & 1) * 8);
          mma16816<T>(s[2 * np], qf[kk], kb[0], kb[1]);
          mma16816<T>(s[2 * np + 1], qf[kk], kb[2], kb[3]);
        }
      }

      // Scale, bias and mask in base 2; row maxima over the quad that shares a row. Column limits are relative to
      // j0 (32-bit): keys at or past kv_len, after the row (causal) or past the mask's last dim are masked out.
      const int kv_lim = static_cast<int>(min(p.kv_len - j0, static_cast<int64_t>(kBlockN)));
      const bool need_causal = p.causal && j0 + kBlockN - 1 > i_first;
      int lim[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) lim[r] = need_causal ? min(kv_lim, i_row[r] - j0 + 1) : kv_lim;
      float mx[2] = {-kInfF, -kInfF};
#pragma unroll
      for (int t = 0; t < kNT; ++t) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1, c = t * 8 + tig * 2 + (e & 1);
          s[t][e] = c < lim[r] ? s[t][e] * scale2 : -kInfF;
        }
      }
      if (has_mask) {
        const int mask_lim = static_cast<int>(max(min(p.mask_len - j0, static_cast<int64_t>(kBlockN)), int64_t{0}));
#pragma unroll
        for (int t = 0; t < kNT; ++t) {
#pragma unroll
          for (int u = 0; u < 2; ++u) {
            const int c = t * 8 + tig * 2 + u;
            float b0 = -kInfF, b1 = -kInfF;
            if (c < mask_lim) {
              b0 = mask_value(p.mask_kind, mrow[0], static_cast<int64_t>(j0 + c)) * kLog2e;
              b1 = mask_rows_shared ? b0 : mask_value(p.mask_kind, mrow[1], static_cast<int64_t>(j0 + c)) * kLog2e;
            }
            s[t][u] += b0;
            s[t][u + 2] += b1;
          }
        }
      }
#pragma unroll
      for (int t = 0; t < kNT; ++t) {
#pragma unroll
        for (int e = 0; e < 4; ++e) mx[e >> 1] = nan_max(mx[e >> 1], s[t][e]);
      }
      float corr[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = nan_max(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = nan_max(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float m_new = nan_max(m_run[r], mx[r]);
        // A row with every key so far masked keeps max -inf: subtract 0 so that exp2 gives 0, not NaN.
        const float m_use = m_new == -kInfF ? 0.f : m_new;
        corr[r] = exp2f(m_run[r] - m_use);
        m_run[r] = m_new;
        mx[r] = m_use;
      }
      float sum[2] = {0.f, 0.f};
#pragma unroll
      for (int t = 0; t < kNT; ++t) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1;
          s[t][e] = exp2f(s[t][e] - mx[r]);
          sum[r] += s[t][e];
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) l_run[r] = l_run[r] * corr[r] + sum[r];
#pragma unroll
      for (int t = 0; t < kDT; ++t) {
        o[t][0] *= corr[0];
        o[t][1] *= corr[0];
        o[t][2] *= corr[1];
        o[t][3] *= corr[1];
      }

      // O += P V: the score accumulators of n-tiles 2kk and 2kk+1 are exactly the A fragment of k-step kk.
#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        uint32_t pa[4];
        pa[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
        pa[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
        pa[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          const int m = lane >> 3;
          uint32_t vb[4];
          ldmatrix_x4_trans(vb, vt + (kk * 16 + (m & 1) * 8 + (lane & 7)) * kLd + dp * 16 + (m >> 1) * 8);
          mma16816<T>(o[2 * dp], pa, vb[0], vb[1]);
          mma16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
        }
      }
    }
    __syncthreads();  // this stage is refilled by the next iteration's prefetch
  }

  // Y = O / l through this warp's own rows of the Q tile (coalesced 16-byte stores). l == 0 (every key masked
  // out) gives NaN, as the reference does.
  if (!warp_active) return;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = l_run[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    inv[r] = 1.f / l;
  }
  T* o_s = q_s + row0 * kLd;
#pragma unroll
  for (int t = 0; t < kDT; ++t) {
    const int c = t * 8 + tig * 2;
    *reinterpret_cast<uint32_t*>(o_s + g * kLd + c) = pack2<T>(o[t][0] * inv[0], o[t][1] * inv[0]);
    *reinterpret_cast<uint32_t*>(o_s + (g + 8) * kLd + c) = pack2<T>(o[t][2] * inv[1], o[t][3] * inv[1]);
  }
  __syncwarp();
  constexpr int kChunks = D / 8;
  for (int t = lane; t < 16 * kChunks; t += 32) {
    const int r = t / kChunks, c = t % kChunks;
    const int64_t i = static_cast<int64_t>(i_first) + r;
    if (i < p.q_len)
      *reinterpret_cast<uint4*>(y + i * p.ys.s + c * 8) = *reinterpret_cast<const uint4*>(o_s + r * kLd + c * 8);
  }
}

template <class T, int D, int kWarps>
cudaError_t launch_typed(const AttentionParams& p, cudaStream_t stream) {
  using C = FlashConfig<D, kWarps>;
  constexpr size_t kSmem = C::kBytes;
  const cudaError_t attr = cudaFuncSetAttribute(attention_flash_mma<T, D, kWarps>,
                                                cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
  if (attr != cudaSuccess) return attr;
  const dim3 grid(ceil_div_u(p.q_len, C::kBlockM), static_cast<unsigned>(p.q_heads), static_cast<unsigned>(p.batch));
  attention_flash_mma<T, D, kWarps><<<grid, C::kThreads, kSmem, stream>>>(p);
  return cudaGetLastError();
}

// Multiprocessors of the current device (cached per device; 132 when the query fails).
int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return 132;
  int n = cached[dev].load(std::memory_order_relaxed);
  if (n > 0) return n;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 132;
  cached[dev].store(n, std::memory_order_relaxed);
  return n;
}

// Warps per block (16 query rows each) for p: p.flash_warps when set (tests), else by shape. 128-row blocks halve
// the K/V traffic per row once there are enough rows (and blocks) to fill them; 64-row blocks are the default; when
// those give fewer blocks than SMs, smaller blocks spread the rows over more SMs (each re-reads K/V, from L2).
int flash_warps(const AttentionParams& p) {
  if (p.flash_warps == 1 || p.flash_warps == 2 || p.flash_warps == 4 || p.flash_warps == 8) return p.flash_warps;
  const int64_t heads = p.q_heads * p.batch;
  const int64_t blocks128 = (p.q_len + 127) / 128 * heads;
  if (p.q_len >= 256 && blocks128 >= 264) return 8;
  const int64_t sms = sm_count();
  if ((p.q_len + 63) / 64 * heads >= sms) return 4;
  if ((p.q_len + 31) / 32 * heads >= sms) return 2;
  return 1;
}

template <class T, int D>
cudaError_t launch_rows(const AttentionParams& p, cudaStream_t stream) {
  switch (flash_warps(p)) {
    case 8:
      return launch_typed<T, D, 8>(p, stream);
    case 2:
      return launch_typed<T, D, 2>(p, stream);
    case 1:
      return launch_typed<T, D, 1>(p, stream);
    default:
      return launch_typed<T, D, 4>(p, stream);
  }
}

template <class T>
cudaError_t launch_dim(const AttentionParams& p, cudaStream_t stream) {
  switch (p.head_dim) {
    case 32:
      return launch_rows<T, 32>(p, stream);
    case 64:
      return launch_rows<T, 64>(p, stream);
    case 80:
      return launch_rows<T, 80>(p, stream);
    case 96:
      return launch_rows<T, 96>(p, stream);
    case 128:
      return launch_rows<T, 128>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

bool flash_attention_supported(DType dtype, int64_t head_dim, int64_t v_head_dim) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return false;
  if (head_dim != v_head_dim) return false;
  return head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 96 || head_dim == 128;
}

cudaError_t launch_attention_flash(const AttentionParams& p, cudaStream_t stream) {
  if (!flash_attention_supported(p.dtype, p.head_dim, p.v_head_dim)) return cudaErrorInvalidValue;
  // cp.async and the output stores move 16 bytes: rows must be 16-byte aligned; otherwise the simple kernel.
  const bool strides_ok = p.qs.s % 8 == 0 && p.ks.s % 8 == 0 && p.vs.s % 8 == 0 && p.ys.s % 8 == 0 && p.qs.h % 8 == 0 &&
                          p.ks.h % 8 == 0 && p.vs.h % 8 == 0 && p.ys.h % 8 == 0 && p.qs.b % 8 == 0 && p.ks.b % 8 == 0 &&
                          p.vs.b % 8 == 0 && p.ys.b % 8 == 0;
  if (!strides_ok || !aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v) || !aligned16(p.y))
    return launch_attention_simple(p, stream);
  if (p.batch > 65535 || p.q_heads > 65535) return cudaErrorInvalidValue;
  if (p.q_len > (int64_t{1} << 30) || p.kv_len > (int64_t{1} << 30)) return launch_attention_simple(p, stream);
  if (p.dtype == DType::kFloat16) return launch_dim<__half>(p, stream);
  return launch_dim<__nv_bfloat16>(p, stream);
}

}  // namespace kiln::cuda::norm
