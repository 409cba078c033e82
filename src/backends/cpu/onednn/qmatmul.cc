// QLinearMatMul on oneDNN's int8 matmul: uint8/int8 A [..., M, K] (leading dims folded into rows), int8 2-D B
// [K, N] with zero point 0 (per-tensor or per-column scale), uint8/int8 Y. oneDNN accumulates in int32 and applies
// the output scales (formed as the reference forms them: float(float(a_scale * b_scale) / y_scale)). Kiln's optional
// input 8, an int32 [N] bias in accumulator units (fold_qdq from a Gemm's bias), is oneDNN's s32 bias: added to the
// accumulator before the scales (oneDNN 2.x int8 semantics, as the QLinearConv kernel uses it). With saturate=1 (the
// QLinearMatMul that fold_qdq makes from DequantizeLinear -> MatMul|Gemm -> QuantizeLinear, whose QuantizeLinear
// saturates) oneDNN also rounds half to even, adds y's zero point and saturates into Y itself. Otherwise the scaled
// values go to a float32 buffer and a vectorized pass rounds, adds the zero point and wraps modulo 256 as the ONNX
// reference implementation does. On CPUs without VNNI, B values beyond +-64 run on the reference kernel (oneDNN's
// int16 pair sums would saturate). Kiln's inputs 9-11 (R, R_scale, R_zero_point; fuse_qmatmul_add, saturate=1 only) add
// a residual of Y's shape through oneDNN's sum post-op: R is copied into Y first, then y = ... + (R_scale / y_scale) *
// (R - R_zero_point) before the one requantization.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "backends/cpu/kernels/vec_math.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

memory::data_type dt_of(DType t) { return t == DType::kInt8 ? memory::data_type::s8 : memory::data_type::u8; }
bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

struct QMatMulState {
  Dims a_dims, b_dims, y_dims;
  DType a_t = DType::kUndefined;
  bool direct = false;  // oneDNN writes the 8-bit Y (saturating, with y's zero point)
  bool has_bias = false;
  const void* bias_ptr = nullptr;
  DType y_t = DType::kUndefined;
  std::vector<float> scales;
  std::optional<SumPostOp> sum;
  const void* b_ptr = nullptr;
  dnnl::matmul prim;
  memory weights, bias, scratch, src_zp, dst_zp;
  memory::desc a_md, b_md, acc_md;
  std::vector<float> acc;
};

template <typename Q, bool kSaturate>
KILN_VINLINE void requantize_row(const float* __restrict v, float zp, Q* __restrict y, int64_t n) {
  constexpr float lo = std::is_signed_v<Q> ? -128.f : 0.f, hi = std::is_signed_v<Q> ? 127.f : 255.f;
  for (int64_t i = 0; i < n; ++i) {
    float q = std::nearbyint(v[i]) + zp;
    if constexpr (kSaturate) {
      q = std::min(std::max(q, lo), hi);  // maxps/minps (q is not NaN here)
      y[i] = static_cast<Q>(static_cast<int32_t>(q));
    } else {  // wrap modulo 256 (values far outside int32 are not produced by 8-bit operands)
      y[i] = static_cast<Q>(static_cast<uint32_t>(static_cast<int32_t>(q)) & 0xff);
    }
  }
}
KILN_CPU_CLONES void requantize(const float* v, float zp, void* y, int64_t n, bool s8, bool saturate) {
  if (s8) {
    if (saturate) requantize_row<int8_t, true>(v, zp, static_cast<int8_t*>(y), n);
    else requantize_row<int8_t, false>(v, zp, static_cast<int8_t*>(y), n);
  } else {
    if (saturate) requantize_row<uint8_t, true>(v, zp, static_cast<uint8_t*>(y), n);
    else requantize_row<uint8_t, false>(v, zp, static_cast<uint8_t*>(y), n);
  }
}

float zero_point(const CpuKernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return 0.f;
  const Tensor& t = ctx.input(i);
  return t.dtype() == DType::kInt8 ? t.data<int8_t>()[0] : t.data<uint8_t>()[0];
}

Status build(CpuKernelContext& ctx, QMatMulState& s, const Tensor& a, const Tensor& b, const std::vector<float>& scales,
             bool direct, bool has_bias, DType y_t, const std::optional<SumPostOp>& sum) {
  const int64_t k = a.dim(a.rank() - 1), n = b.dim(1);
  if (b.dim(0) != k) return ctx.error("inner dimensions differ: " + dims_to_string(a.dims()) + " and " + dims_to_string(b.dims()));
  const int64_t rows = a.numel() / std::max<int64_t>(k, 1);
  if (rows <= 0 || k <= 0 || n <= 0) return ctx.unsupported("empty tensors");
  s.a_md = plain_md({rows, k}, dt_of(a.dtype()));
  s.b_md = plain_md({k, n}, memory::data_type::s8);
  s.acc_md = direct ? plain_md({rows, n}, dt_of(y_t)) : plain_md({rows, n});
  memory::desc b_any(to_dnnl({k, n}), memory::data_type::s8, memory::format_tag::any);
  dnnl::primitive_attr attr;
  attr.set_output_scales(scales.size() > 1 ? 1 << 1 : 0, scales);
  attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  if (direct) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (sum) {
    dnnl::post_ops ops;
    append_sum(ops, sum);
    attr.set_post_ops(ops);
  }
  const memory::desc bias_md = has_bias ? plain_md({1, n}, memory::data_type::s32) : memory::desc();
  const dnnl::matmul::desc desc(s.a_md, b_any, bias_md, s.acc_md);
  auto make = [&] { return dnnl::matmul::primitive_desc(desc, attr, engine()); };
  // The plan's tactic, or while the build tunes, the fastest implementation here (common.h).
  const auto pd =
      tactic_descriptor<dnnl::matmul::primitive_desc, dnnl::matmul>(ctx, make, zero_point_args(direct), a.dims(), true);
  s.prim = dnnl::matmul(pd);
  s.weights = memory(pd.weights_desc(), engine());
  s.scratch = memory(pd.scratchpad_desc(), engine());
  s.bias = has_bias ? memory(bias_md, engine()) : memory();
  s.has_bias = has_bias;
  s.bias_ptr = nullptr;
  s.src_zp = memory(plain_md({1}, memory::data_type::s32), engine());
  s.dst_zp = memory(plain_md({1}, memory::data_type::s32), engine());
  s.acc.resize(direct ? 0 : static_cast<size_t>(rows * n));
  s.direct = direct;
  s.y_t = y_t;
  Dims y(a.dims().begin(), a.dims().end() - 1);
  y.push_back(n);
  s.y_dims = y;
  s.a_dims = a.dims();
  s.b_dims = b.dims();
  s.a_t = a.dtype();
  s.scales = scales;
  s.sum = sum;
  s.b_ptr = nullptr;
  return ok_status();
}

Status run_qmatmul(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  const DType y_t = ctx.has_input(7) ? ctx.input(7).dtype() : a.dtype();
  if (!is_q8(a.dtype()) || b.dtype() != DType::kInt8 || !is_q8(y_t)) return ctx.unsupported("uint8/int8 A and Y, int8 B only");
  if (a.rank() < 2 || b.rank() != 2) return ctx.unsupported("A of rank >= 2 and a 2-D B only");
  const Tensor& as = ctx.input(1);
  const Tensor& bs = ctx.input(4);
  const Tensor& ys = ctx.input(6);
  const int64_t n = b.dim(1);
  if (as.dtype() != DType::kFloat32 || bs.dtype() != DType::kFloat32 || ys.dtype() != DType::kFloat32 ||
      as.numel() != 1 || ys.numel() != 1 || (bs.numel() != 1 && bs.numel() != n))
    return ctx.unsupported("scales: float32, per tensor (b: or per column)");
  if ((ctx.has_input(2) && ctx.input(2).numel() != 1) || (ctx.has_input(7) && ctx.input(7).numel() != 1))
    return ctx.unsupported("per-row zero points");
  if (ctx.has_input(5)) {
    const Tensor& bz = ctx.input(5);
    for (int64_t i = 0; i < bz.numel(); ++i)
      if ((bz.dtype() == DType::kInt8 ? bz.data<int8_t>()[i] : bz.data<uint8_t>()[i]) != 0)
        return ctx.unsupported("non-zero B zero point");
  }
  std::vector<float> scales(static_cast<size_t>(bs.numel()));
  for (int64_t c = 0; c < bs.numel(); ++c)
    scales[c] = static_cast<float>(static_cast<float>(as.data<float>()[0] * bs.data<float>()[c]) / ys.data<float>()[0]);
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<QMatMulState>();
  auto& s = *static_cast<QMatMulState*>(slot.get());
  const bool saturate = ctx.attrs().get_int("saturate", 0) != 0;
  const bool direct = saturate;
  const Tensor* bias = ctx.has_input(8) ? &ctx.input(8) : nullptr;
  if (bias && (bias->dtype() != DType::kInt32 || bias->numel() != n))
    return ctx.error("bias (input 8) must be int32 with " + std::to_string(n) + " values");
  // Kiln's residual (inputs 9-11, fuse_qmatmul_add): R of Y's shape through oneDNN's sum post-op.
  const Tensor* residual = ctx.has_input(9) ? &ctx.input(9) : nullptr;
  std::optional<SumPostOp> sum;
  if (residual) {
    Dims y_dims(a.dims().begin(), a.dims().end() - 1);
    y_dims.push_back(n);
    const Tensor& rs = ctx.input(10);
    const bool zp_ok = !ctx.has_input(11) || (ctx.input(11).numel() == 1 && ctx.input(11).dtype() == residual->dtype());
    if (!direct || !is_q8(residual->dtype()) || residual->dims() != y_dims || rs.dtype() != DType::kFloat32 ||
        rs.numel() != 1 || !zp_ok)
      return ctx.unsupported("residual: saturate=1, uint8/int8 R of Y's shape, per-tensor float32 scale and zero point");
    sum = SumPostOp{static_cast<float>(double(rs.data<float>()[0]) / ys.data<float>()[0]),
                    static_cast<int32_t>(zero_point(ctx, 11)), residual->dtype()};
  }
  try {
    if (s.a_dims != a.dims() || s.b_dims != b.dims() || s.a_t != a.dtype() || s.scales != scales ||
        s.direct != direct || s.has_bias != (bias != nullptr) || s.y_t != y_t || s.sum != sum)
      KILN_RETURN_IF_ERROR(build(ctx, s, a, b, scales, direct, bias != nullptr, y_t, sum));
    KILN_RETURN_IF_ERROR(materialize_inputs(ctx));
    if (!ctx.input_is_constant(3) || s.b_ptr != b.raw()) {
      if (int8_pairs_saturate() && !int8_weights_safe(b.data<int8_t>(), b.numel())) {
        s.a_dims.clear();
        return ctx.unsupported("int8 weights beyond +-64 on a CPU without VNNI");
      }
      reorder(memory(s.b_md, engine(), const_cast<void*>(b.raw())), s.weights);
      stream().wait();
      s.b_ptr = b.raw();
    }
    if (bias && (!ctx.input_is_constant(8) || s.bias_ptr != bias->raw())) {
      std::memcpy(s.bias.get_data_handle(), bias->raw(), bias->nbytes());
      s.bias_ptr = bias->raw();
    }
    *static_cast<int32_t*>(s.src_zp.get_data_handle()) = static_cast<int32_t>(zero_point(ctx, 2));
    KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, y_t, s.y_dims));
    memory am(s.a_md, engine(), const_cast<void*>(a.raw()));
    if (direct) {
      *static_cast<int32_t*>(s.dst_zp.get_data_handle()) = static_cast<int32_t>(zero_point(ctx, 7));
      memory ym(s.acc_md, engine(), out->raw());
      if (residual) parallel_copy(ctx, out->raw(), residual->raw(), residual->nbytes());
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, am},
                                           {DNNL_ARG_WEIGHTS, s.weights},
                                           {DNNL_ARG_DST, ym},
                                           {DNNL_ARG_SCRATCHPAD, s.scratch},
                                           {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, s.src_zp},
                                           {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, s.dst_zp}};
      if (bias) args.emplace(DNNL_ARG_BIAS, s.bias);
      s.prim.execute(stream(), args);
      stream().wait();
      return ok_status();
    }
    memory accm(s.acc_md, engine(), s.acc.data());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, am},
                                         {DNNL_ARG_WEIGHTS, s.weights},
                                         {DNNL_ARG_DST, accm},
                                         {DNNL_ARG_SCRATCHPAD, s.scratch},
                                         {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, s.src_zp}};
    if (bias) args.emplace(DNNL_ARG_BIAS, s.bias);
    s.prim.execute(stream(), args);
    stream().wait();
    requantize(s.acc.data(), zero_point(ctx, 7), out->raw(), static_cast<int64_t>(s.acc.size()), y_t == DType::kInt8,
               saturate);
  } catch (const dnnl::error& e) {
    s.a_dims.clear();
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

NodeSupport supports_qmatmul(const Graph& g, const Node& n) {
  if (!is_q8(dtype_of(g, n, 0)) || dtype_of(g, n, 3) != DType::kInt8)
    return NodeSupport::no("onednn_qmatmul: uint8/int8 A and int8 B only");
  if (rank_of(g, n, 0) < 2 || rank_of(g, n, 3) != 2) return NodeSupport::no("onednn_qmatmul: A of rank >= 2, 2-D B only");
  for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
    if (!is_f32(g, n, i)) return NodeSupport::no("onednn_qmatmul: float32 scales only");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_qmatmul(CpuKernelRegistry& r) {
  r.add(OpKind::kQLinearMatMul, {"onednn_qmatmul", supports_qmatmul, run_qmatmul, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
