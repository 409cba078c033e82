// MatMulInteger (ONNX Runtime's quantize_dynamic output: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul):
// uint8/int8 A [..., M, K] (leading dims folded into rows) with a per-tensor zero point, a constant 2-D uint8/int8
// B [K, N] with a per-tensor or per-column zero point, int32 Y. Results equal the reference's exactly.
// - oneDNN's int8 matmul (u8/s8 x s8 -> s32, A's zero point at run time) when B is int8 with zero point 0 and the
//   CPU sums int8 pairs exactly (VNNI), or B's values stay within +-64.
// - Otherwise float32 GEMMs over K chunks short enough that every partial sum is an exact integer in float32
//   (|sum| < 2^24), added up in wrapping int32: exact, at float32 GEMM speed (AVX2 CPUs without VNNI, whose int8
//   instructions saturate int16 pair sums; uint8 B; non-zero B zero points).
#include <dnnl.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/vec_math.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }
int32_t q8_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt8 ? t.data<int8_t>()[i] : t.data<uint8_t>()[i];
}

struct MatMulIntegerState {
  Dims a_dims, b_dims;
  DType a_t = DType::kUndefined;
  const void* b_ptr = nullptr;
  bool onednn = false;
  // oneDNN path
  dnnl::matmul prim;
  memory weights, scratch, src_zp;
  memory::desc a_md, b_md, y_md;
  // float path: B - b_zp as float [K, N], A - a_zp per run as float [rows, K], one chunk's product [rows, N]
  std::vector<float> bf, af, part;
  int64_t chunk = 0;  // K rows per exact float GEMM
};

// A's rows x K values minus its zero point, as floats (exact: |v| <= 255).
template <typename Q>
KILN_VINLINE void widen_row(const Q* __restrict a, float zp, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(a[i]) - zp;
}
KILN_CPU_CLONES void widen(const void* a, bool s8, float zp, float* y, int64_t n) {
  if (s8) widen_row(static_cast<const int8_t*>(a), zp, y, n);
  else widen_row(static_cast<const uint8_t*>(a), zp, y, n);
}
// y (+)= int32(p): p holds exact integers; the sum wraps modulo 2^32 as the reference's does.
KILN_CPU_CLONES void accumulate(const float* p, int32_t* y, int64_t n, bool first) {
  if (first) {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<int32_t>(p[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      y[i] = static_cast<int32_t>(static_cast<uint32_t>(y[i]) + static_cast<uint32_t>(static_cast<int32_t>(p[i])));
  }
}

Status build_onednn(MatMulIntegerState& s, int64_t rows, int64_t k, int64_t n, DType a_t) {
  s.a_md = plain_md({rows, k}, a_t == DType::kInt8 ? memory::data_type::s8 : memory::data_type::u8);
  s.b_md = plain_md({k, n}, memory::data_type::s8);
  s.y_md = plain_md({rows, n}, memory::data_type::s32);
  memory::desc b_any(to_dnnl({k, n}), memory::data_type::s8, memory::format_tag::any);
  dnnl::primitive_attr attr;
  attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(s.a_md, b_any, s.y_md), attr, engine());
  s.prim = dnnl::matmul(pd);
  s.weights = memory(pd.weights_desc(), engine());
  s.scratch = memory(pd.scratchpad_desc(), engine());
  s.src_zp = memory(plain_md({1}, memory::data_type::s32), engine());
  return ok_status();
}

// B - b_zp as floats, and the K chunk that keeps |partial sums| below 2^24 (exact in float32) for A values at most
// a_span from their zero point. (dnnl_sgemm per chunk: oneDNN matmul primitives over the strided chunks of A measured
// slower, BERT-base 390 vs 300 ms.)
void build_float(MatMulIntegerState& s, const Tensor& b, const Tensor* bzp, int64_t k, int64_t n, int32_t a_span) {
  s.bf.resize(static_cast<size_t>(k * n));
  int32_t bmax = 1;
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      const int32_t z = bzp ? q8_at(*bzp, bzp->numel() == 1 ? 0 : c) : 0;
      const int32_t v = q8_at(b, r * n + c) - z;
      s.bf[r * n + c] = static_cast<float>(v);
      bmax = std::max(bmax, v < 0 ? -v : v);
    }
  const int64_t limit = (int64_t{1} << 24) / (int64_t{std::max(a_span, 1)} * bmax);
  const int64_t pieces = (k + limit - 1) / limit;  // equal chunks: 768 as 384 + 384, not 514 + 254
  s.chunk = std::max<int64_t>(1, (k + pieces - 1) / pieces);
}

Status run_matmul_integer(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_q8(a.dtype()) || !is_q8(b.dtype())) return ctx.unsupported("uint8/int8 A and B only");
  if (a.rank() < 2 || b.rank() != 2) return ctx.unsupported("A of rank >= 2 and a 2-D B only");
  if (!ctx.input_is_constant(1)) return ctx.unsupported("B must be a constant");
  const int64_t k = a.dim(a.rank() - 1), n = b.dim(1);
  if (b.dim(0) != k)
    return ctx.error("inner dimensions differ: A " + dims_to_string(a.dims()) + " and B " + dims_to_string(b.dims()));
  const Tensor* azp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const Tensor* bzp = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  if (azp && (azp->numel() != 1 || azp->dtype() != a.dtype())) return ctx.unsupported("A zero point: one value of A's type");
  if (bzp && ((bzp->numel() != 1 && bzp->numel() != n) || bzp->dtype() != b.dtype()))
    return ctx.unsupported("B zero point: per tensor or per column, of B's type");
  const int64_t rows = a.numel() / std::max<int64_t>(k, 1);
  Dims y_dims(a.dims().begin(), a.dims().end() - 1);
  y_dims.push_back(n);
  KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, DType::kInt32, y_dims));
  if (rows == 0 || n == 0) return ok_status();
  int32_t* y = out->data<int32_t>();
  if (k == 0) {
    std::memset(y, 0, static_cast<size_t>(rows * n) * sizeof(int32_t));
    return ok_status();
  }
  KILN_RETURN_IF_ERROR(materialize_inputs(ctx));
  const int32_t a_zp = azp ? q8_at(*azp, 0) : 0;
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<MatMulIntegerState>();
  auto& s = *static_cast<MatMulIntegerState*>(slot.get());
  try {
    if (s.a_dims != a.dims() || s.b_dims != b.dims() || s.a_t != a.dtype() || s.b_ptr != b.raw()) {
      s = MatMulIntegerState{};
      bool zero_bzp = true;
      for (int64_t i = 0; bzp && i < bzp->numel(); ++i) zero_bzp = zero_bzp && q8_at(*bzp, i) == 0;
      s.onednn = b.dtype() == DType::kInt8 && zero_bzp &&
                 (!int8_pairs_saturate() || int8_weights_safe(b.data<int8_t>(), b.numel()));
      if (s.onednn) {
        KILN_RETURN_IF_ERROR(build_onednn(s, rows, k, n, a.dtype()));
        reorder(memory(s.b_md, engine(), const_cast<void*>(b.raw())), s.weights);
        stream().wait();
      } else {
        // |a - a_zp| <= 255 whatever the zero point (it changes per run after a DynamicQuantizeLinear).
        build_float(s, b, bzp, k, n, 255);
      }
      s.a_dims = a.dims();
      s.b_dims = b.dims();
      s.a_t = a.dtype();
      s.b_ptr = b.raw();
    }
    if (s.onednn) {
      *static_cast<int32_t*>(s.src_zp.get_data_handle()) = a_zp;
      memory am(s.a_md, engine(), const_cast<void*>(a.raw())), ym(s.y_md, engine(), y);
      s.prim.execute(stream(), {{DNNL_ARG_SRC, am},
                                {DNNL_ARG_WEIGHTS, s.weights},
                                {DNNL_ARG_DST, ym},
                                {DNNL_ARG_SCRATCHPAD, s.scratch},
                                {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, s.src_zp}});
      stream().wait();
      return ok_status();
    }
  } catch (const dnnl::error& e) {
    s.a_dims.clear();
    return dnnl_failure(ctx, e);
  }
  s.af.resize(static_cast<size_t>(rows * k));
  widen(a.raw(), a.dtype() == DType::kInt8, static_cast<float>(a_zp), s.af.data(), rows * k);
  const bool chunked = s.chunk < k;
  if (chunked) s.part.resize(static_cast<size_t>(rows * n));
  for (int64_t k0 = 0; k0 < k; k0 += s.chunk) {
    const int64_t kc = std::min(s.chunk, k - k0);
    float* dst = chunked ? s.part.data() : reinterpret_cast<float*>(y);  // int32 and float32 have one size
    if (dnnl_sgemm('N', 'N', rows, n, kc, 1.f, s.af.data() + k0, k, s.bf.data() + k0 * n, n, 0.f, dst, n) !=
        dnnl_success)
      return ctx.error("float GEMM failed");
    accumulate(dst, y, rows * n, k0 == 0);
  }
  return ok_status();
}

NodeSupport supports_matmul_integer(const Graph& g, const Node& n) {
  if (!is_q8(dtype_of(g, n, 0)) || !is_q8(dtype_of(g, n, 1)))
    return NodeSupport::no("matmul_integer: uint8/int8 A and B only");
  if (rank_of(g, n, 0) < 2 || rank_of(g, n, 1) != 2) return NodeSupport::no("matmul_integer: A of rank >= 2, 2-D B only");
  if (!kern::input_constant(g, n, 1)) return NodeSupport::no("matmul_integer: B must be a constant");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_matmul_integer(CpuKernelRegistry& r) {
  r.add(OpKind::kMatMulInteger, {"matmul_integer", supports_matmul_integer, run_matmul_integer});
}

}  // namespace kiln::cpu::onednn
