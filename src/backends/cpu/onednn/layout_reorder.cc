// Plain <-> channels-last reorders of float32/bf16 activations by hand (see layout_reorder.h): per image a [C][P] <->
// [P][C] transpose in 16x16 tiles held in AVX-512 registers (edge tiles masked; CPUs without AVX-512 BW/VL use the
// scalar loop), converting the type on the way.
#include "backends/cpu/onednn/layout_reorder.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backends/cpu/kernels/common.h"
#include "core/float_formats.h"

namespace kiln::cpu::onednn {
namespace {

enum class Layout { kOther, kPlain, kChannelsLast };

// The layout of a dense, unpadded, plain-strided descriptor (no blocks, no extra flags).
Layout layout_of(const dnnl_memory_desc_t& d) {
  if (d.ndims < 3 || d.ndims > 5 || d.format_kind != dnnl_blocked || d.offset0 != 0 || d.extra.flags != 0)
    return Layout::kOther;
  const auto& b = d.format_desc.blocking;
  if (b.inner_nblks != 0) return Layout::kOther;
  for (int k = 0; k < d.ndims; ++k)
    if (d.padded_dims[k] != d.dims[k] || d.padded_offsets[k] != 0 || d.dims[k] <= 0) return Layout::kOther;
  const int n = d.ndims;
  dnnl_dim_t plain[DNNL_MAX_NDIMS], last[DNNL_MAX_NDIMS];
  plain[n - 1] = 1;
  for (int k = n - 2; k >= 0; --k) plain[k] = plain[k + 1] * d.dims[k + 1];
  // Channels-last: C innermost, then the spatial dims in order, then N.
  last[1] = 1;
  dnnl_dim_t s = d.dims[1];
  for (int k = n - 1; k >= 2; --k) {
    last[k] = s;
    s *= d.dims[k];
  }
  last[0] = s;
  if (std::equal(plain, plain + n, b.strides)) return Layout::kPlain;
  if (std::equal(last, last + n, b.strides)) return Layout::kChannelsLast;
  return Layout::kOther;
}

bool supported_type(dnnl_data_type_t t) { return t == dnnl_f32 || t == dnnl_bf16; }

inline float load_scalar(const void* p, int64_t i, bool bf16) {
  if (!bf16) return static_cast<const float*>(p)[i];
  const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(p)[i]) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline void store_scalar(void* p, int64_t i, float v, bool bf16) {
  if (bf16) static_cast<uint16_t*>(p)[i] = float_to_bf16(v);
  else static_cast<float*>(p)[i] = v;
}

// dst[k * ld_dst + r] = src[r * ld_src + k] for r in [r0, r1), k in [k0, k1).
void transpose_scalar(const void* src, bool src_bf16, int64_t ld_src, void* dst, bool dst_bf16, int64_t ld_dst,
                      int64_t r0, int64_t r1, int64_t k0, int64_t k1) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t k = k0; k < k1; ++k) store_scalar(dst, k * ld_dst + r, load_scalar(src, r * ld_src + k, src_bf16), dst_bf16);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define KILN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// The first `n` (<= 16) values at p + i as floats; the rest zero.
KILN_AVX512 inline __m512 load16(const void* p, int64_t i, bool bf16, int n) {
  const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
  if (!bf16) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// float32 -> bf16, round to nearest even; NaN -> a quiet NaN of the same sign (core/float_formats' rule).
KILN_AVX512 inline __m256i to_bf16_16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(r);
}

// Stores the first `n` (<= 16) values of v at p + i.
KILN_AVX512 inline void store16(void* p, int64_t i, __m512 v, bool bf16, int n) {
  const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
  if (bf16) _mm256_mask_storeu_epi16(static_cast<uint16_t*>(p) + i, m, to_bf16_16(v));
  else _mm512_mask_storeu_ps(static_cast<float*>(p) + i, m, v);
}

// Transposes 16 rows of 16 floats in place: r[i] element j -> r[j] element i.
KILN_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // u[4i + j] holds, in each 128-bit lane L, element 4L + j of rows 4i..4i+3.
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);      // lanes 0, 2 of rows 0-3 and of rows 4-7
    t[4 + j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);  // lanes 1, 3
    t[8 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);           // element j of every row
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);       // element 8 + j
    r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);  // element 4 + j
    r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD); // element 12 + j
  }
}

// store16 rounding with the CPU's own instruction (AVX512-BF16): the bits oneDNN's reorders give on such CPUs
// (input denormals read as zero), and several instructions fewer per vector.
#define KILN_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
KILN_AVX512_BF16 inline void store16_native(void* p, int64_t i, __m512 v, bool bf16, int n) {
  const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
  if (!bf16) return _mm512_mask_storeu_ps(static_cast<float*>(p) + i, m, v);
  const __m256bh h = _mm512_cvtneps_pbh(v);
  _mm256_mask_storeu_epi16(static_cast<uint16_t*>(p) + i, m, reinterpret_cast<const __m256i&>(h));
}

// Source rows [r0, r1) of an [R][K] matrix into its [K][R] transpose, in 16x16 tiles (edge tiles masked).
// (One body, two functions, with the native and with the emulated bf16 rounding: each needs its own target
// attribute, and one template compiled for the AVX512-BF16 target could emit bf16 instructions into the copy older
// CPUs run.)
#define KILN_TRANSPOSE_BODY(STORE16)                                                                              \
  __m512 v[16];                                                                                                   \
  for (int64_t r = r0; r < r1; r += 16) {                                                                         \
    const int rn = static_cast<int>(std::min<int64_t>(16, r1 - r));                                                \
    for (int64_t k = 0; k < K; k += 16) {                                                                         \
      const int kn = static_cast<int>(std::min<int64_t>(16, K - k));                                               \
      for (int i = 0; i < 16; ++i) v[i] = i < rn ? load16(src, (r + i) * ld_src + k, src_bf16, kn) : _mm512_setzero_ps(); \
      transpose16(v);                                                                                             \
      for (int i = 0; i < kn; ++i) STORE16(dst, (k + i) * ld_dst + r, v[i], dst_bf16, rn);                         \
    }                                                                                                             \
  }
KILN_AVX512_BF16 void transpose_avx512_bf16(const void* src, bool src_bf16, int64_t ld_src, void* dst, bool dst_bf16,
                                            int64_t ld_dst, int64_t r0, int64_t r1, int64_t K) {
  KILN_TRANSPOSE_BODY(store16_native)
}
KILN_AVX512_BF16 void convert_avx512_bf16(const void* src, bool src_bf16, void* dst, bool dst_bf16, int64_t lo,
                                          int64_t hi) {
  for (int64_t i = lo; i < hi; i += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, hi - i));
    store16_native(dst, i, load16(src, i, src_bf16, n), dst_bf16, n);
  }
}

KILN_AVX512 void transpose_avx512(const void* src, bool src_bf16, int64_t ld_src, void* dst, bool dst_bf16,
                                  int64_t ld_dst, int64_t r0, int64_t r1, int64_t K) {
  KILN_TRANSPOSE_BODY(store16)
}
#undef KILN_TRANSPOSE_BODY

// A few channels (an RGB image) into channels-last: per 16 pixels, the C <= 4 planes' vectors are one table of 64
// entries that two-source permutes read in output order, so each output vector costs one or two permutes (the 16x16
// tiles above would fill 3 of 16 rows). Output element j (pixel j / C, channel j % C) is table entry
// (j % C) * 16 + j / C. float32 sources only (the model input).
struct InterleaveIndex {
  alignas(64) uint16_t w[64];
  alignas(64) uint32_t d[64];
  explicit InterleaveIndex(int64_t C) {
    for (int j = 0; j < 64; ++j) w[j] = d[j] = static_cast<uint32_t>((j % C) * 16 + j / C);
  }
};

// bf16 destination: the planes' 16-bit values as two 32-entry halves of the table.
#define KILN_INTERLEAVE_BF16_BODY(TO_BF16)                                                                  \
  const __m512i i0 = _mm512_load_si512(ix.w), i1 = _mm512_load_si512(ix.w + 32);                          \
  for (int64_t p = p0; p < p1; p += 16) {                                                                 \
    const int n = static_cast<int>(std::min<int64_t>(16, p1 - p));                                        \
    __m256i h[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()}; \
    for (int64_t c = 0; c < C; ++c) h[c] = TO_BF16(load16(src, c * P + p, false, n));                    \
    const __m512i t0 = _mm512_inserti64x4(_mm512_castsi256_si512(h[0]), h[1], 1);                       \
    const __m512i t1 = _mm512_inserti64x4(_mm512_castsi256_si512(h[2]), h[3], 1);                       \
    const int64_t total = n * C;                                                                          \
    uint16_t* o = dst + p * C;                                                                            \
    const int64_t first = std::min<int64_t>(32, total);                                                   \
    _mm512_mask_storeu_epi16(o, first == 32 ? ~__mmask32(0) : (__mmask32(1) << first) - 1,                \
                             _mm512_permutex2var_epi16(t0, i0, t1));                                      \
    if (total > 32)                                                                                       \
      _mm512_mask_storeu_epi16(o + 32, total == 64 ? ~__mmask32(0) : (__mmask32(1) << (total - 32)) - 1,  \
                               _mm512_permutex2var_epi16(t0, i1, t1));                                    \
  }

KILN_AVX512_BF16 inline __m256i to_bf16_native(__m512 v) {
  const __m256bh h = _mm512_cvtneps_pbh(v);
  return reinterpret_cast<const __m256i&>(h);
}
KILN_AVX512_BF16 void interleave_bf16_native(const float* src, int64_t P, int64_t C, uint16_t* dst, int64_t p0,
                                             int64_t p1, const InterleaveIndex& ix) {
  KILN_INTERLEAVE_BF16_BODY(to_bf16_native)
}
KILN_AVX512 void interleave_bf16(const float* src, int64_t P, int64_t C, uint16_t* dst, int64_t p0, int64_t p1,
                                 const InterleaveIndex& ix) {
  KILN_INTERLEAVE_BF16_BODY(to_bf16_16)
}
#undef KILN_INTERLEAVE_BF16_BODY

// float32 destination: output vector k reads entries below 32 from planes 0-1 and the rest from planes 2-3.
KILN_AVX512 void interleave_f32(const float* src, int64_t P, int64_t C, float* dst, int64_t p0, int64_t p1,
                                const InterleaveIndex& ix) {
  for (int64_t p = p0; p < p1; p += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, p1 - p));
    __m512 v[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t c = 0; c < C; ++c) v[c] = load16(src, c * P + p, false, n);
    const int64_t total = n * C;
    for (int64_t k = 0; k * 16 < total; ++k) {
      const __m512i idx = _mm512_load_si512(ix.d + 16 * k);
      const __mmask16 high = _mm512_cmpge_epu32_mask(idx, _mm512_set1_epi32(32));
      const __m512 lo = _mm512_permutex2var_ps(v[0], idx, v[1]);
      const __m512 hi = _mm512_permutex2var_ps(v[2], _mm512_and_si512(idx, _mm512_set1_epi32(31)), v[3]);
      const int64_t left = std::min<int64_t>(16, total - 16 * k);
      _mm512_mask_storeu_ps(dst + p * C + 16 * k, left == 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1),
                            _mm512_mask_blend_ps(high, lo, hi));
    }
  }
}

// n values converted in place order (a type change in the same layout).
KILN_AVX512 void convert_avx512(const void* src, bool src_bf16, void* dst, bool dst_bf16, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; i += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, hi - i));
    store16(dst, i, load16(src, i, src_bf16, n), dst_bf16, n);
  }
}
#endif

bool have_avx512_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool yes = __builtin_cpu_supports("avx512bf16");
  return yes;
#else
  return false;
#endif
}

bool have_avx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
#else
  return false;
#endif
}

// Rows [r0, r1) of one image's [R][K] source into its [K][R] destination.
void transpose_rows(const void* src, bool src_bf16, int64_t K, void* dst, bool dst_bf16, int64_t R, int64_t r0,
                    int64_t r1) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (have_avx512() && have_avx512_bf16()) return transpose_avx512_bf16(src, src_bf16, K, dst, dst_bf16, R, r0, r1, K);
  if (have_avx512()) return transpose_avx512(src, src_bf16, K, dst, dst_bf16, R, r0, r1, K);
#endif
  transpose_scalar(src, src_bf16, K, dst, dst_bf16, R, r0, r1, 0, K);
}

// Channels below which a transposing reorder is left to oneDNN.
constexpr int64_t kMinChannels = 16;
// Elements below which a reorder stays on one thread.
constexpr int64_t kParallelElements = 32 * 1024;

}  // namespace

bool layout_reorder(const dnnl::memory& from, const dnnl::memory& to, int threads) {
  const dnnl_memory_desc_t& a = from.get_desc().data;
  const dnnl_memory_desc_t& b = to.get_desc().data;
  if (a.ndims != b.ndims || !std::equal(a.dims, a.dims + a.ndims, b.dims)) return false;
  if (!supported_type(a.data_type) || !supported_type(b.data_type)) return false;
  const Layout la = layout_of(a), lb = layout_of(b);
  if (la == Layout::kOther || lb == Layout::kOther) return false;
  const bool src_bf16 = a.data_type == dnnl_bf16, dst_bf16 = b.data_type == dnnl_bf16;
  const void* src = from.get_data_handle();
  void* dst = to.get_data_handle();
  if (!src || !dst) return false;
  int64_t total = 1;
  for (int k = 0; k < a.ndims; ++k) total *= a.dims[k];
  const int64_t N = a.dims[0], C = a.dims[1], P = total / std::max<int64_t>(1, N * C);
  const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, total / kParallelElements)));
  const size_t se = src_bf16 ? 2 : 4, de = dst_bf16 ? 2 : 4;
  if (la == lb) {  // the same layout, another type: a flat conversion
    kern::parallel_range(t, total, [&](int64_t lo, int64_t hi) {
      if (src_bf16 == dst_bf16) {
        std::memcpy(static_cast<char*>(dst) + lo * de, static_cast<const char*>(src) + lo * se, (hi - lo) * se);
        return;
      }
#if defined(__x86_64__) && defined(__GNUC__)
      if (have_avx512() && have_avx512_bf16()) return convert_avx512_bf16(src, src_bf16, dst, dst_bf16, lo, hi);
      if (have_avx512()) return convert_avx512(src, src_bf16, dst, dst_bf16, lo, hi);
#endif
      for (int64_t i = lo; i < hi; ++i) store_scalar(dst, i, load_scalar(src, i, src_bf16), dst_bf16);
    });
    return true;
  }
  // Plain -> channels-last transposes each image's [C][P] into [P][C]; channels-last -> plain [P][C] into [C][P].
  // Fewer than 16 channels would fill a fraction of each tile (an RGB image: 3 of 16 rows, 5x the instructions per
  // element of a full tile): up to 4 float32 planes into channels-last are interleaved by permutes instead; other
  // layout changes of so few channels stay with oneDNN.
  if (C < kMinChannels) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (la != Layout::kPlain || C > 4 || src_bf16 || !have_avx512()) return false;
    const InterleaveIndex ix(C);
    const int64_t chunks = (P + 255) / 256;  // work items: (image, 256 pixels)
    kern::parallel_range(t, N * chunks, [&](int64_t lo, int64_t hi) {
      for (int64_t it = lo; it < hi; ++it) {
        const int64_t n = it / chunks, p0 = (it % chunks) * 256, p1 = std::min(P, p0 + 256);
        const float* s = static_cast<const float*>(src) + n * C * P;
        if (!dst_bf16) interleave_f32(s, P, C, static_cast<float*>(dst) + n * C * P, p0, p1, ix);
        else if (have_avx512_bf16()) interleave_bf16_native(s, P, C, static_cast<uint16_t*>(dst) + n * C * P, p0, p1, ix);
        else interleave_bf16(s, P, C, static_cast<uint16_t*>(dst) + n * C * P, p0, p1, ix);
      }
    });
    return true;
#else
    return false;
#endif
  }
  const int64_t R = la == Layout::kPlain ? C : P, K = la == Layout::kPlain ? P : C;
  // Work items: (image, 16-row block of the source).
  const int64_t blocks = (R + 15) / 16;
  kern::parallel_range(t, N * blocks, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi;) {
      const int64_t n = it / blocks, first = it % blocks;
      const int64_t last = std::min(blocks, first + (hi - it));  // blocks of this image in the chunk
      const char* s = static_cast<const char*>(src) + static_cast<size_t>(n * R * K) * se;
      char* d = static_cast<char*>(dst) + static_cast<size_t>(n * R * K) * de;
      transpose_rows(s, src_bf16, K, d, dst_bf16, R, first * 16, std::min(R, last * 16));
      it += last - first;
    }
  });
  return true;
}

}  // namespace kiln::cpu::onednn
