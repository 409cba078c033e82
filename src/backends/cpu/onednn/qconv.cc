// QLinearConv and ConvInteger on oneDNN's int8 convolution (AVX2 / AVX-512 VNNI / AMX int8, chosen by oneDNN at run
// time): uint8 or int8 X, int8 W with zero point 0. QLinearConv: per-tensor or per-output-channel scale, int32 bias,
// uint8/int8 Y; x_scale * w_scale[c] / y_scale are output scales fixed at primitive creation (rebuilt if they change).
// ConvInteger: int32 Y with no scales (exact). The zero points of X and Y are run-time zero points, so padding reads
// X's zero point as ONNX defines. Weights are reordered (with oneDNN's compensation) once while they stay the same
// bytes; uint8 W or a non-zero W zero point runs on the reference kernel. Exactness: an int8 X is shifted to uint8
// (+128, zero point too) because oneDNN halves the weights of int8-source convolutions on CPUs without VNNI; there,
// weights beyond +-64 (which would saturate oneDNN's int16 pair sums) also run on the reference kernel (docs/int8.md).
// oneDNN's own temporaries (blocked source/destination, scratchpad) get slack: its 2.6 AMX 1x1 kernel overruns them.
// FusedQLinearConv (fuse_qconv_add: QLinearConv + the QLinearAdd of a residual R) adds R through oneDNN's sum post-op:
// R is copied into the destination first (in its layout) and y = osc * acc + (R_scale / y_scale) * (R - R_zp) + y_zp,
// rounded once, so a residual Add costs a copy instead of its own pass (and float32 divisions) over the tensor.
#include <cstring>
#include <optional>

#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

memory::data_type dt_of(DType t) {
  return t == DType::kInt8    ? memory::data_type::s8
         : t == DType::kInt32 ? memory::data_type::s32
                              : memory::data_type::u8;
}
bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

struct QConvState {
  Dims x_dims, w_dims, y_dims;
  std::optional<SumPostOp> sum;
  DType x_t = DType::kUndefined, y_t = DType::kUndefined;
  std::vector<float> scales;
  const void* w_ptr = nullptr;
  const void* b_ptr = nullptr;
  bool has_bias = false;
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory weights, bias, src_tmp, dst_tmp, scratch, src_zp, dst_zp;
  bool weights_ok = true;        // false: weights oneDNN cannot run exactly on this CPU
  std::vector<uint8_t> shifted;  // an int8 X shifted to uint8
  bool src_plain = true, dst_plain = true;
  memory::desc x_md, y_md, w_md;
  std::shared_ptr<OnednnHandoff> handoff;
  std::vector<memory> slack;  // the buffers under src_tmp, dst_tmp and scratch
};

// A memory of `md` over a buffer 64 KiB larger than it needs: oneDNN 2.6's AMX int8 1x1 convolutions with runtime
// zero points write past the end of a buffer on small images (a 6x8 one: heap corruption on this AMX CPU).
memory slack_memory(const memory::desc& md, std::vector<memory>* keep) {
  constexpr memory::dim kSlack = 64 << 10;
  memory raw(plain_md({static_cast<int64_t>(md.get_size()) + kSlack}, memory::data_type::u8), engine());
  keep->push_back(raw);
  return memory(md, engine(), raw.get_data_handle());
}

int32_t zero_point(const CpuKernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return 0;
  const Tensor& t = ctx.input(i);
  return t.dtype() == DType::kInt8 ? t.data<int8_t>()[0] : t.data<uint8_t>()[0];
}

Status build(CpuKernelContext& ctx, QConvState& s, const Tensor& x, const Tensor& w, bool has_bias, DType y_t,
             const std::vector<float>& scales, const std::optional<SumPostOp>& sum) {
  const Attrs& a = ctx.attrs();
  const int64_t g = a.get_int("group", 1);
  const size_t nd = x.rank() - 2;
  Dims in(x.dims().begin() + 2, x.dims().end()), kernel(w.dims().begin() + 2, w.dims().end());
  Window win;
  std::string why = compute_window(a, in, kernel, false, &win);
  if (!why.empty()) return ctx.unsupported(why);
  const int64_t m = w.dim(0);
  if (g < 1 || x.dim(1) != w.dim(1) * g || m % g != 0) return ctx.unsupported("channels do not match the group count");
  Dims y{x.dim(0), m};
  for (size_t i = 0; i < nd; ++i) y.push_back(win.out[i]);
  if (dims_numel(y) <= 0 || x.numel() <= 0) return ctx.unsupported("empty tensors");
  Dims wd = w.dims();
  if (g > 1) {
    wd = {g, m / g, w.dim(1)};
    wd.insert(wd.end(), kernel.begin(), kernel.end());
  }
  memory::dims dil;
  for (int64_t d : win.dilations) dil.push_back(d - 1);
  auto any = [](const Dims& d, memory::data_type t) { return memory::desc(to_dnnl(d), t, tag::any); };
  memory::desc bias_md = has_bias ? plain_md({m}, memory::data_type::s32) : memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                       any(x.dims(), memory::data_type::u8), any(wd, memory::data_type::s8), bias_md,
                                       any(y, dt_of(y_t)), to_dnnl(win.strides), dil, to_dnnl(win.pad_l),
                                       to_dnnl(win.pad_r));
  dnnl::primitive_attr attr;
  const bool integer_out = y_t == DType::kInt32;  // ConvInteger: no scales, no output zero point
  if (!integer_out) attr.set_output_scales(scales.size() > 1 ? 1 << 1 : 0, scales);
  attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  if (!integer_out) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (sum) {
    dnnl::post_ops ops;
    append_sum(ops, sum);
    attr.set_post_ops(ops);
  }
  using PD = dnnl::convolution_forward::primitive_desc;
  auto make = [&] { return PD(desc, attr, engine()); };
  // The implementation: the plan's tactic, or while the build tunes, the fastest here (common.h). At batch 1
  // oneDNN's first choice (AMX) ran MobileNetV2's 1x1 expansions slower than its AVX512-VNNI kernels.
  s.pd = tactic_descriptor<PD, dnnl::convolution_forward>(ctx, make, zero_point_args(!integer_out), x.dims(), true);
  s.slack.clear();
  s.prim = dnnl::convolution_forward(s.pd);
  s.x_md = plain_md(x.dims(), memory::data_type::u8);
  s.y_md = plain_md(y, dt_of(y_t));
  s.w_md = plain_md(wd, memory::data_type::s8);
  s.src_plain = s.pd.src_desc() == s.x_md;
  s.dst_plain = s.pd.dst_desc() == s.y_md;
  if (!s.src_plain) s.src_tmp = slack_memory(s.pd.src_desc(), &s.slack);
  if (!s.dst_plain) s.dst_tmp = slack_memory(s.pd.dst_desc(), &s.slack);
  s.weights = memory(s.pd.weights_desc(), engine());
  if (has_bias) s.bias = memory(bias_md, engine());
  s.scratch = slack_memory(s.pd.scratchpad_desc(), &s.slack);
  s.src_zp = memory(plain_md({1}, memory::data_type::s32), engine());
  s.dst_zp = memory(plain_md({1}, memory::data_type::s32), engine());
  s.x_dims = x.dims();
  s.w_dims = w.dims();
  s.y_dims = y;
  s.x_t = x.dtype();
  s.y_t = y_t;
  s.scales = scales;
  s.sum = sum;
  s.has_bias = has_bias;
  s.w_ptr = nullptr;  // forces the weight reorder
  return ok_status();
}

// Fills `dst` (the primitive's destination, in its layout) with the residual R (input 9) for the sum post-op: a copy
// when R was handed off in that layout, else a reorder from R's oneDNN hand-off or its plain bytes (another
// family's hand-off fills them first).
Status place_residual(const CpuKernelContext& ctx, const Tensor& r, const memory& dst) {
  memory::desc want = dst.get_desc();
  want.data.data_type = static_cast<dnnl_data_type_t>(dt_of(r.dtype()));  // R's bytes, reinterpreted by the post-op
  const memory target(want, engine(), dst.get_data_handle());
  const memory::desc r_plain_md = plain_md(r.dims(), dt_of(r.dtype()));
  OnednnHandoff* h = onednn_handoff(ctx, 9);
  if (!h)
    if (CpuHandoff* other = ctx.input_handoff(9)) KILN_RETURN_IF_ERROR(other->materialize());
  const memory from = h ? h->mem : memory(r_plain_md, engine(), const_cast<void*>(r.raw()));
  if (from.get_desc() == want) {  // the usual case: R handed off in the destination's layout; a copy over the team
    parallel_copy(ctx, dst.get_data_handle(), from.get_data_handle(), want.get_size());
  } else {
    reorder(from, target);
    stream().wait();
  }
  return ok_status();
}

// The shared run of the ops: (re)builds the primitive when shapes, types, scales or the sum post-op change, reorders
// the weights (input `w_index`, bias input `b_index`) when their bytes change, and writes output 0. `residual`:
// FusedQLinearConv's R (input 9), added through `sum`.
Status run_common(CpuKernelContext& ctx, const Tensor& x, const Tensor& w, size_t w_index, const Tensor* b,
                  size_t b_index, int32_t x_zp, int32_t y_zp, DType y_t, const std::vector<float>& scales,
                  const Tensor* residual = nullptr, const std::optional<SumPostOp>& sum = std::nullopt) {
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<QConvState>();
  auto& s = *static_cast<QConvState*>(slot.get());
  try {
    if (s.x_dims != x.dims() || s.w_dims != w.dims() || s.has_bias != (b != nullptr) || s.x_t != x.dtype() ||
        s.y_t != y_t || s.scales != scales || s.sum != sum)
      KILN_RETURN_IF_ERROR(build(ctx, s, x, w, b != nullptr, y_t, scales, sum));
    if (residual && residual->dims() != s.y_dims)
      return ctx.error("residual R (input 9) must have Y's shape " + dims_to_string(s.y_dims) + ", got " +
                       dims_to_string(residual->dims()));
    for (size_t i : {w_index, b_index})
      if (CpuHandoff* h = ctx.input_handoff(i)) KILN_RETURN_IF_ERROR(h->materialize());
    const bool w_const = ctx.input_is_constant(w_index) && (!b || ctx.input_is_constant(b_index));
    if (!w_const || s.w_ptr != w.raw() || (b && s.b_ptr != b->raw())) {
      s.weights_ok = !int8_pairs_saturate() || int8_weights_safe(w.data<int8_t>(), w.numel());
      if (!s.weights_ok) {
        s.x_dims.clear();
        return ctx.unsupported("int8 weights beyond +-64 on a CPU without VNNI");
      }
      reorder(memory(s.w_md, engine(), const_cast<void*>(w.raw())), s.weights);
      if (b) std::memcpy(s.bias.get_data_handle(), b->raw(), b->nbytes());
      stream().wait();
      s.w_ptr = w.raw();
      s.b_ptr = b ? b->raw() : nullptr;
    }
    const bool s8 = x.dtype() == DType::kInt8;
    *static_cast<int32_t*>(s.src_zp.get_data_handle()) = x_zp + (s8 ? 128 : 0);
    if (y_t != DType::kInt32) *static_cast<int32_t*>(s.dst_zp.get_data_handle()) = y_zp;
    KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, y_t, s.y_dims));
    const void* x_bytes = x.raw();
    if (s8) {  // (an int8 hand-off never matches the uint8 source layout: its plain bytes are filled here)
      if (CpuHandoff* h = ctx.input_handoff(0)) KILN_RETURN_IF_ERROR(h->materialize());
      s.shifted.resize(static_cast<size_t>(x.numel()));
      shift_s8_to_u8(x.data<int8_t>(), s.shifted.data(), x.numel());
      x_bytes = s.shifted.data();
    }
    memory src(s.x_md, engine(), const_cast<void*>(x_bytes));
    memory dst_plain(s.y_md, engine(), out->raw());
    KILN_ASSIGN_OR_RETURN(memory src_used,
                          source_memory(ctx, 0, src, s.src_plain ? nullptr : &s.src_tmp, s.pd.src_desc()));
    memory& dst = s.dst_plain ? dst_plain : s.dst_tmp;
    if (residual) KILN_RETURN_IF_ERROR(place_residual(ctx, *residual, dst));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_used},
                                         {DNNL_ARG_WEIGHTS, s.weights},
                                         {DNNL_ARG_DST, dst},
                                         {DNNL_ARG_SCRATCHPAD, s.scratch},
                                         {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, s.src_zp}};
    if (y_t != DType::kInt32) args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, s.dst_zp);
    if (b) args.emplace(DNNL_ARG_BIAS, s.bias);
    s.prim.execute(stream(), args);
    if (!s.dst_plain) publish_blocked_output(ctx, s.dst_tmp, dst_plain, &s.handoff);
    stream().wait();
  } catch (const dnnl::error& e) {
    s.x_dims.clear();
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

Status run_qconv(CpuKernelContext& ctx) {
  const bool fused = ctx.node().op == OpKind::kFusedQLinearConv;
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(3);
  const Tensor* b = ctx.has_input(8) ? &ctx.input(8) : nullptr;
  const DType y_t = ctx.has_input(7) ? ctx.input(7).dtype() : x.dtype();
  if (!is_q8(x.dtype()) || w.dtype() != DType::kInt8 || !is_q8(y_t))
    return ctx.unsupported("uint8/int8 X and Y, int8 W only");
  if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) return ctx.unsupported("rank");
  if (b && (b->dtype() != DType::kInt32 || b->rank() != 1 || b->dim(0) != w.dim(0))) return ctx.unsupported("bias");
  const Tensor& xs = ctx.input(1);
  const Tensor& ws = ctx.input(4);
  const Tensor& ys = ctx.input(6);
  if (xs.dtype() != DType::kFloat32 || ws.dtype() != DType::kFloat32 || ys.dtype() != DType::kFloat32 ||
      xs.numel() != 1 || ys.numel() != 1 || (ws.numel() != 1 && ws.numel() != w.dim(0)))
    return ctx.unsupported("scales: float32, per tensor (w: or per output channel)");
  if (ctx.has_input(5)) {
    const Tensor& wz = ctx.input(5);
    for (int64_t i = 0; i < wz.numel(); ++i)
      if ((wz.dtype() == DType::kInt8 ? wz.data<int8_t>()[i] : wz.data<uint8_t>()[i]) != 0)
        return ctx.unsupported("non-zero weight zero point");
  }
  if ((ctx.has_input(2) && ctx.input(2).numel() != 1) || (ctx.has_input(7) && ctx.input(7).numel() != 1))
    return ctx.unsupported("per-axis X/Y zero points");
  // Output scales in float32, formed as the reference does (x_scale * w_scale / y_scale).
  std::vector<float> scales(static_cast<size_t>(ws.numel()));
  for (int64_t c = 0; c < ws.numel(); ++c)
    scales[c] = static_cast<float>(double(xs.data<float>()[0]) * ws.data<float>()[c] / ys.data<float>()[0]);
  if (!fused) return run_common(ctx, x, w, 3, b, 8, zero_point(ctx, 2), zero_point(ctx, 7), y_t, scales);
  // FusedQLinearConv: R [Y's dims] 8-bit, R_scale float32, R_zero_point per tensor of R's type.
  const Tensor& r = ctx.input(9);
  const Tensor& rs = ctx.input(10);
  if (!is_q8(r.dtype()) || rs.dtype() != DType::kFloat32 || rs.numel() != 1 ||
      (ctx.has_input(11) && (ctx.input(11).numel() != 1 || ctx.input(11).dtype() != r.dtype())))
    return ctx.unsupported("residual: uint8/int8 R, per-tensor float32 scale and zero point");
  SumPostOp sum{static_cast<float>(double(rs.data<float>()[0]) / ys.data<float>()[0]), zero_point(ctx, 11), r.dtype()};
  return run_common(ctx, x, w, 3, b, 8, zero_point(ctx, 2), zero_point(ctx, 7), y_t, scales, &r, sum);
}

// ConvInteger: X, W, optional x_zero_point (per tensor) and w_zero_point (must be zero) -> int32 Y.
Status run_conv_integer(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (!is_q8(x.dtype()) || w.dtype() != DType::kInt8) return ctx.unsupported("uint8/int8 X and int8 W only");
  if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) return ctx.unsupported("rank");
  if (ctx.has_input(2) && ctx.input(2).numel() != 1) return ctx.unsupported("per-axis X zero point");
  if (ctx.has_input(3)) {
    const Tensor& wz = ctx.input(3);
    for (int64_t i = 0; i < wz.numel(); ++i)
      if ((wz.dtype() == DType::kInt8 ? wz.data<int8_t>()[i] : wz.data<uint8_t>()[i]) != 0)
        return ctx.unsupported("non-zero weight zero point");
  }
  return run_common(ctx, x, w, 1, nullptr, 1, zero_point(ctx, 2), 0, DType::kInt32, {});
}

NodeSupport supports_qconv(const Graph& g, const Node& n) {
  const DType xt = dtype_of(g, n, 0), wt = dtype_of(g, n, 3);
  if (!is_q8(xt) || wt != DType::kInt8) return NodeSupport::no("onednn_qconv: uint8/int8 X and int8 W only");
  const int r = rank_of(g, n, 0);
  if (r < 3 || r > 5) return NodeSupport::no("onednn_qconv: 1-D, 2-D or 3-D only");
  for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
    if (!is_f32(g, n, i)) return NodeSupport::no("onednn_qconv: float32 scales only");
  return NodeSupport::yes();
}

NodeSupport supports_fused_qconv(const Graph& g, const Node& n) {
  NodeSupport conv = supports_qconv(g, n);
  if (!conv.supported) return conv;
  if (!n.has_input(9) || !is_q8(dtype_of(g, n, 9))) return NodeSupport::no("onednn_qconv: uint8/int8 residual R only");
  if (!is_f32(g, n, 10)) return NodeSupport::no("onednn_qconv: float32 R_scale only");
  return NodeSupport::yes();
}

NodeSupport supports_conv_integer(const Graph& g, const Node& n) {
  const DType xt = dtype_of(g, n, 0), wt = dtype_of(g, n, 1);
  if (!is_q8(xt) || wt != DType::kInt8) return NodeSupport::no("onednn_conv_integer: uint8/int8 X and int8 W only");
  const int r = rank_of(g, n, 0);
  if (r < 3 || r > 5) return NodeSupport::no("onednn_conv_integer: 1-D, 2-D or 3-D only");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_qconv(CpuKernelRegistry& r) {
  r.add(OpKind::kQLinearConv, {"onednn_qconv", supports_qconv, run_qconv, /*takes_handoffs=*/true});
  r.add(OpKind::kFusedQLinearConv, {"onednn_qconv", supports_fused_qconv, run_qconv, /*takes_handoffs=*/true});
  r.add(OpKind::kConvInteger,
        {"onednn_conv_integer", supports_conv_integer, run_conv_integer, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
