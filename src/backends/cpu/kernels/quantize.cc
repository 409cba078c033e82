// QuantizeLinear (float32 -> uint8/int8) and DequantizeLinear (uint8/int8/int32 -> float32), per tensor or per
// axis, vectorized: the float boundaries of int8 graphs. Results equal the reference's (numpy's float32 math:
// x / scale rounded half to even, plus the zero point, saturated; (q - zero point) * scale).
// Blocked quantization (opset 21 block_size), float8 and 4-bit types stay on the reference kernels.
// LookupTable (fold_qdq_lookup's Y = Table[X] over 8-bit X): one byte-indexed load per element; byte tables 64
// codes per instruction pair with AVX512-VBMI where the CPU has it (run-time check).
#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/quantize.h"
#include "backends/cpu/kernels/vec_math.h"

namespace kiln::cpu::kern {
namespace {

template <typename Q>
KILN_VINLINE void quantize_row(const float* __restrict x, float scale, float zp, Q* __restrict y, int64_t n) {
  constexpr float lo = std::is_signed_v<Q> ? -128.f : 0.f, hi = std::is_signed_v<Q> ? 127.f : 255.f;
  for (int64_t i = 0; i < n; ++i) {
    float q = std::nearbyint(x[i] / scale);
    q = q == q ? q + zp : zp;  // NaN quantizes to the zero point, as in the reference
    q = std::min(std::max(q, lo), hi);  // maxps/minps (q is not NaN here)
    y[i] = static_cast<Q>(static_cast<int32_t>(q));
  }
}
KILN_CPU_CLONES void quantize_u8(const float* x, float scale, float zp, uint8_t* y, int64_t n) {
  quantize_row(x, scale, zp, y, n);
}
KILN_CPU_CLONES void quantize_s8(const float* x, float scale, float zp, int8_t* y, int64_t n) {
  quantize_row(x, scale, zp, y, n);
}

// min(0, x...) and max(0, x...), NaNs skipped (a comparison with NaN is false, so they never replace a bound).
KILN_CPU_CLONES void range_with_zero(const float* x, int64_t n, float* lo, float* hi) {
  float a = 0.f, b = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *lo = a;
  *hi = b;
}

template <typename Q>
KILN_VINLINE void dequantize_row(const Q* __restrict x, float scale, float zp, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = (static_cast<float>(x[i]) - zp) * scale;
}
KILN_CPU_CLONES void dequantize_u8(const uint8_t* x, float scale, float zp, float* y, int64_t n) {
  dequantize_row(x, scale, zp, y, n);
}
KILN_CPU_CLONES void dequantize_s8(const int8_t* x, float scale, float zp, float* y, int64_t n) {
  dequantize_row(x, scale, zp, y, n);
}
KILN_CPU_CLONES void dequantize_s32(const int32_t* x, float scale, float zp, float* y, int64_t n) {
  dequantize_row(x, scale, zp, y, n);
}

bool is_q8(DType d) { return d == DType::kUInt8 || d == DType::kInt8; }

// The (outer, axis, inner) split of x for per-axis parameters; `per_axis` false when the scale is one value.
struct QuantPlan {
  int64_t outer = 1, channels = 1, inner = 1;
  bool per_axis = false;
};

Status plan(const CpuKernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zp, QuantPlan* p) {
  if (scale.dtype() != DType::kFloat32) return ctx.unsupported("scale is not float32");
  if (ctx.attrs().get_int("block_size", 0) != 0) return ctx.unsupported("blocked quantization");
  if (scale.numel() == 1) {
    p->inner = x.numel();
  } else {
    int64_t axis = 0;
    if (scale.rank() != 1 || !norm_axis(ctx.attrs().get_int("axis", 1), static_cast<int64_t>(x.rank()), &axis))
      return ctx.error("scale of shape " + dims_to_string(scale.dims()) + " needs a valid axis for input " +
                       dims_to_string(x.dims()));
    if (scale.dim(0) != x.dim(axis))
      return ctx.error("scale has " + std::to_string(scale.dim(0)) + " values, input axis " + std::to_string(axis) +
                       " has " + std::to_string(x.dim(axis)));
    p->per_axis = true;
    p->channels = x.dim(axis);
    for (int64_t i = 0; i < axis; ++i) p->outer *= x.dim(i);
    for (int64_t i = axis + 1; i < static_cast<int64_t>(x.rank()); ++i) p->inner *= x.dim(i);
  }
  if (zp && zp->numel() != scale.numel())
    return ctx.error("zero point has " + std::to_string(zp->numel()) + " values, scale " + std::to_string(scale.numel()));
  return ok_status();
}

float zero_point_at(const Tensor* zp, int64_t c) {
  if (!zp) return 0.f;
  return static_cast<float>(zp->dtype() == DType::kInt8 ? zp->data<int8_t>()[c] : zp->data<uint8_t>()[c]);
}

// Calls f(channel, element offset, count) over the plan's rows, split across threads when large.
template <typename F>
void for_rows(const CpuKernelContext& ctx, const QuantPlan& p, int64_t numel, F&& f) {
  const int64_t rows = p.outer * p.channels;
  const int64_t pieces = rows == 1 ? std::max<int64_t>(1, std::min<int64_t>(ctx.num_threads(), numel / kMinParallelWork)) : 1;
  const int64_t per = (p.inner + pieces - 1) / pieces;
  parallel_range(threads_for(ctx, numel), rows * pieces, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t r = it / pieces, s = (it % pieces) * per;
      const int64_t n = std::min(p.inner - s, per);
      if (n > 0) f(r % p.channels, r * p.inner + s, n);
    }
  });
}

}  // namespace

// y[i] = table[x[i] ^ flip]: flip 0x80 maps int8 codes -128..127 to table rows 0..255.
template <typename T>
void lookup_row(const uint8_t* __restrict x, const T* __restrict table, uint8_t flip, T* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[x[i] ^ flip];
}
// The byte table eight codes at a time: one 8-byte load and store around eight scalar table loads (compilers
// otherwise turn the loop into dword gathers, slower than scalar loads on every x86 we measured).
#if defined(__x86_64__) && defined(__GNUC__)
namespace {
// AVX512-VBMI: 64 codes per step, the 256-byte table as two 128-byte halves of vpermi2b (the code's low 7 bits pick
// within a half) and the code's top bit choosing the half.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) int64_t lookup_bytes_vbmi(const uint8_t* x,
                                                                                const uint8_t* table, uint8_t flip,
                                                                                uint8_t* y, int64_t n) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(x + i), f);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1);  // codes 0..127 (bit 6 picks t0/t1)
    const __m512i hi = _mm512_permutex2var_epi8(t2, v, t3);  // codes 128..255
    _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
  return i;
}
bool has_vbmi() {
  static const bool yes = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
  return yes;
}
}  // namespace
#endif

void lookup_bytes(const uint8_t* __restrict x, const uint8_t* __restrict table, uint8_t flip, uint8_t* __restrict y,
                  int64_t n) {
  const uint64_t f = 0x0101010101010101ull * flip;
  int64_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (n >= 64 && has_vbmi()) i = lookup_bytes_vbmi(x, table, flip, y, n);
#endif
  for (; i + 8 <= n; i += 8) {
    uint64_t v, r = 0;
    std::memcpy(&v, x + i, 8);
    v ^= f;
    for (int k = 0; k < 8; ++k) r |= static_cast<uint64_t>(table[(v >> (8 * k)) & 0xff]) << (8 * k);
    std::memcpy(y + i, &r, 8);
  }
  lookup_row(x + i, table, flip, y + i, n - i);
}

NodeSupport lookup_table_supports(const Graph& g, const Node& n) {
  if (!is_q8(input_dtype(g, n, 0))) return NodeSupport::no("lookup_table: uint8/int8 X only");
  const DType t = input_dtype(g, n, 1);
  if (dtype_size(t) != 1 && dtype_size(t) != 2 && dtype_size(t) != 4) return NodeSupport::no("lookup_table: table dtype");
  if (t == DType::kString || is_sub_byte(t)) return NodeSupport::no("lookup_table: table dtype");
  return NodeSupport::yes();
}

Status lookup_table_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& table = ctx.input(1);
  if (!is_q8(x.dtype())) return ctx.unsupported("X is not uint8/int8");
  if (table.rank() != 1 || table.numel() != 256)
    return ctx.error("Table must hold 256 values in one dimension; got " + dims_to_string(table.dims()));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, table.dtype(), x.dims()));
  const auto* xs = static_cast<const uint8_t*>(x.raw());
  const uint8_t flip = x.dtype() == DType::kInt8 ? 0x80 : 0;
  const size_t item = dtype_size(table.dtype());
  parallel_range(threads_for(ctx, x.numel()), x.numel(), [&](int64_t b, int64_t e) {
    if (item == 1)
      lookup_bytes(xs + b, table.data<uint8_t>(), flip, y->data<uint8_t>() + b, e - b);
    else if (item == 2)
      lookup_row(xs + b, table.data<uint16_t>(), flip, y->data<uint16_t>() + b, e - b);
    else
      lookup_row(xs + b, table.data<uint32_t>(), flip, y->data<uint32_t>() + b, e - b);
  });
  return ok_status();
}

NodeSupport quantize_linear_supports(const Graph& g, const Node& n) {
  if (input_dtype(g, n, 0) != DType::kFloat32 || input_dtype(g, n, 1) != DType::kFloat32)
    return NodeSupport::no("quantize: float32 x and scale only");
  if (n.has_input(2) && !is_q8(input_dtype(g, n, 2))) return NodeSupport::no("quantize: uint8/int8 outputs only");
  if (n.attrs.has("output_dtype") && !n.has_input(2)) return NodeSupport::no("quantize: output_dtype");
  if (n.attrs.get_int("block_size", 0) != 0) return NodeSupport::no("quantize: blocked quantization");
  if (n.attrs.has("precision")) return NodeSupport::no("quantize: precision attribute");
  return NodeSupport::yes();
}

NodeSupport dequantize_linear_supports(const Graph& g, const Node& n) {
  const DType t = input_dtype(g, n, 0);
  if (!is_q8(t) && t != DType::kInt32) return NodeSupport::no("dequantize: uint8/int8/int32 inputs only");
  if (input_dtype(g, n, 1) != DType::kFloat32) return NodeSupport::no("dequantize: float32 scale only");
  if (n.attrs.get_int("block_size", 0) != 0) return NodeSupport::no("dequantize: blocked quantization");
  if (n.attrs.get_int("output_dtype", 0) != 0) return NodeSupport::no("dequantize: output_dtype");
  return NodeSupport::yes();
}

Status quantize_linear_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (x.dtype() != DType::kFloat32) return ctx.unsupported("x is not float32");
  const DType out_t = zp ? zp->dtype() : DType::kUInt8;
  if (!is_q8(out_t)) return ctx.unsupported("output type");
  QuantPlan p;
  KILN_RETURN_IF_ERROR(plan(ctx, x, scale, zp, &p));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, out_t, x.dims()));
  const float* xs = x.data<float>();
  const float* ss = scale.data<float>();
  for_rows(ctx, p, x.numel(), [&](int64_t c, int64_t off, int64_t n) {
    const float s = ss[p.per_axis ? c : 0], z = zero_point_at(zp, p.per_axis ? c : 0);
    if (out_t == DType::kUInt8) quantize_u8(xs + off, s, z, y->data<uint8_t>() + off, n);
    else quantize_s8(xs + off, s, z, y->data<int8_t>() + off, n);
  });
  return ok_status();
}

// DynamicQuantizeLinear: uint8 y, float32 scalar scale and uint8 scalar zero point from x's range widened to
// include 0 (NaNs skipped), the float32 arithmetic of the reference kernel.
Status dynamic_quantize_linear_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported("x is not float32");
  const float* xs = x.data<float>();
  const int64_t n = x.numel();
  float lo = 0.f, hi = 0.f;
  range_with_zero(xs, n, &lo, &hi);
  const float scale = (hi == lo ? 1.0f : (hi - lo)) / 255.0f;
  float zp_f = 0.0f - lo / scale;
  zp_f = std::max(0.0f, std::min(255.0f, zp_f));
  const float zp = std::isnan(zp_f) ? 0.f : std::nearbyint(zp_f);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kUInt8, x.dims()));
  const int threads = threads_for(ctx, n);
  parallel_range(threads, n, [&](int64_t b, int64_t e) { quantize_u8(xs + b, scale, zp, y->data<uint8_t>() + b, e - b); });
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor * s, ctx.allocate_output(1, DType::kFloat32, {}));
    s->data<float>()[0] = scale;
  }
  if (ctx.wants_output(2)) {
    KILN_ASSIGN_OR_RETURN(Tensor * z, ctx.allocate_output(2, DType::kUInt8, {}));
    z->data<uint8_t>()[0] = static_cast<uint8_t>(zp);
  }
  return ok_status();
}

NodeSupport dynamic_quantize_linear_supports(const Graph& g, const Node& n) {
  if (input_dtype(g, n, 0) != DType::kFloat32) return NodeSupport::no("dynamic_quantize: float32 x only");
  return NodeSupport::yes();
}

Status dequantize_linear_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (zp && zp->dtype() != x.dtype()) return ctx.error("zero point type differs from x's");
  if (x.dtype() == DType::kInt32 && zp) {
    for (int64_t i = 0; i < zp->numel(); ++i)
      if (zp->data<int32_t>()[i] != 0) return ctx.unsupported("int32 zero point other than 0");
    zp = nullptr;
  }
  QuantPlan p;
  KILN_RETURN_IF_ERROR(plan(ctx, x, scale, zp, &p));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  const float* ss = scale.data<float>();
  float* ys = y->data<float>();
  for_rows(ctx, p, x.numel(), [&](int64_t c, int64_t off, int64_t n) {
    const float s = ss[p.per_axis ? c : 0], z = zero_point_at(zp, p.per_axis ? c : 0);
    switch (x.dtype()) {
      case DType::kUInt8: dequantize_u8(x.data<uint8_t>() + off, s, z, ys + off, n); break;
      case DType::kInt8: dequantize_s8(x.data<int8_t>() + off, s, z, ys + off, n); break;
      default: dequantize_s32(x.data<int32_t>() + off, s, z, ys + off, n); break;
    }
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
