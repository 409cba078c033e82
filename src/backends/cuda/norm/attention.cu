// Device code of the simple Attention kernel (one block per (batch, head, query row), keys in chunks of the block
// size with an online softmax in float32; any float dtype and head size up to kSimpleMaxHeadDim) and of the
// mask-to-bias conversion that feeds cuDNN SDPA.
#include "backends/cuda/norm/attention_common.cuh"

namespace kiln::cuda::norm {
namespace {

constexpr int kThreads = 128;
constexpr int kAccPerThread = kSimpleMaxHeadDim / kThreads;

template <class T>
__global__ void __launch_bounds__(kThreads) attention_row(AttentionParams p) {
  extern __shared__ float smem[];
  float* q_s = smem;               // [head_dim], pre-scaled
  float* p_s = smem + p.head_dim;  // [kThreads] softmax weights of the chunk
  const int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int64_t kh = h / (p.q_heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.qs.b + h * p.qs.h + i * p.qs.s;
  const T* k = static_cast<const T*>(p.k) + b * p.ks.b + kh * p.ks.h;
  const T* v = static_cast<const T*>(p.v) + b * p.vs.b + kh * p.vs.h;
  T* y = static_cast<T*>(p.y) + b * p.ys.b + h * p.ys.h + i * p.ys.s;
  const int tid = threadIdx.x;
  for (int64_t d = tid; d < p.head_dim; d += kThreads) q_s[d] = to_f32(q[d]) * p.scale;
  __syncthreads();
  const int64_t kv_end = p.causal ? min(p.kv_len, i + 1) : p.kv_len;
  float m = -kInfF, l = 0.f;
  float acc[kAccPerThread];
#pragma unroll
  for (int a = 0; a < kAccPerThread; ++a) acc[a] = 0.f;
  for (int64_t j0 = 0; j0 < kv_end; j0 += kThreads) {
    const int64_t j = j0 + tid;
    float s = -kInfF;
    if (j < kv_end) {
      const T* kr = k + j * p.ks.s;
      float dot = 0.f;
      for (int64_t d = 0; d < p.head_dim; ++d) dot += q_s[d] * to_f32(kr[d]);
      s = dot + attention_bias(p, b, h, i, j);
    }
    const float m_new = nan_max(m, block_max(s));
    if (m_new == -kInfF) continue;  // every key so far is masked out: nothing to add (uniform over the block)
    const float corr = m == -kInfF ? 0.f : expf(m - m_new);
    const float e = j < kv_end && s != -kInfF ? expf(s - m_new) : (s != s ? s : 0.f);
    p_s[tid] = e;
    l = l * corr + block_sum(e);  // block_sum's barrier also publishes p_s
    const int64_t n = min(static_cast<int64_t>(kThreads), kv_end - j0);
#pragma unroll
    for (int a = 0; a < kAccPerThread; ++a) {
      const int64_t d = tid + a * kThreads;
      if (d >= p.v_head_dim) break;
      float t = acc[a] * corr;
      const T* vc = v + j0 * p.vs.s + d;
      for (int64_t jj = 0; jj < n; ++jj) t += p_s[jj] * to_f32(vc[jj * p.vs.s]);
      acc[a] = t;
    }
    m = m_new;
    __syncthreads();  // p_s is rewritten by the next chunk
  }
  const float inv = 1.f / l;  // l == 0 (every key masked) gives NaN, as the reference does
#pragma unroll
  for (int a = 0; a < kAccPerThread; ++a) {
    const int64_t d = tid + a * kThreads;
    if (d < p.v_head_dim) y[d] = from_f32<T>(acc[a] * inv);
  }
}

template <class T>
__global__ void attention_mask_to_bias(AttentionParams p, int64_t hb, int64_t sqb, int64_t ld, int64_t n, T* out) {
  KILN_GRID_LOOP(o, n) {
    const int64_t j = o % ld, row = o / ld;
    const int64_t iq = row % sqb, ih = row / sqb % hb, ib = row / sqb / hb;
    float v = -kInfF;
    if (j < p.mask_len) v = attention_bias(p, ib, ih, iq, j);  // causal stays with SDPA's own mask: p.causal is off
    out[o] = from_f32<T>(v);
  }
}

}  // namespace

cudaError_t launch_attention_mask_to_bias(const AttentionParams& p, int64_t bb, int64_t hb, int64_t sqb, int64_t ld,
                                          void* out, cudaStream_t stream) {
  if (p.mask_kind == MaskKind::kNone || ld < p.kv_len) return cudaErrorInvalidValue;
  const int64_t n = bb * hb * sqb * ld;
  if (n == 0) return cudaSuccess;
  AttentionParams q = p;
  q.causal = false;
  if (p.dtype == DType::kFloat16) {
    attention_mask_to_bias<__half>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(q, hb, sqb, ld, n, static_cast<__half*>(out));
  } else if (p.dtype == DType::kBFloat16) {
    attention_mask_to_bias<__nv_bfloat16>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(q, hb, sqb, ld, n, static_cast<__nv_bfloat16*>(out));
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_attention_simple(const AttentionParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.q_heads == 0 || p.q_len == 0 || p.v_head_dim == 0) return cudaSuccess;
  if (p.head_dim > kSimpleMaxHeadDim || p.v_head_dim > kSimpleMaxHeadDim || p.batch > 65535 || p.q_heads > 65535)
    return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(p.q_len), static_cast<unsigned>(p.q_heads), static_cast<unsigned>(p.batch));
  const size_t smem = (static_cast<size_t>(p.head_dim) + kThreads) * sizeof(float);
  switch (p.dtype) {
    case DType::kFloat32:
      attention_row<float><<<grid, kThreads, smem, stream>>>(p);
      break;
    case DType::kFloat16:
      attention_row<__half><<<grid, kThreads, smem, stream>>>(p);
      break;
    case DType::kBFloat16:
      attention_row<__nv_bfloat16><<<grid, kThreads, smem, stream>>>(p);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::norm
