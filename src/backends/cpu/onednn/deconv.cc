// ConvTranspose (NCHW, 1-D/2-D/3-D, groups, dilation, pads or auto_pad, output_padding, output_shape) on oneDNN's
// deconvolution.
// Weights reordered once per context.
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"
#include "ir/window_params.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

struct DeconvState {
  Dims x_dims, w_dims, y_dims;
  const void* w_ptr = nullptr;
  const void* b_ptr = nullptr;
  bool has_bias = false;
  dnnl::deconvolution_forward prim;
  memory weights, bias, src_tmp, dst_tmp, scratch;
  memory::desc x_md, y_md, w_md, src_md, dst_md;
  bool src_plain = true, dst_plain = true;
  // Grouped deconvolutions whose groups do not fill oneDNN's channel blocks run dense with block-diagonal weights
  // (as conv.cc does for convolutions): dense_groups = g, dense_w the plain [M, C, k...] weights.
  int64_t dense_groups = 0;
  memory::desc dense_md;
  std::vector<float> dense_w;
  std::shared_ptr<OnednnHandoff> handoff;  // re-attached every run when the output stays blocked
};

Status build(CpuKernelContext& ctx, DeconvState& s, const Tensor& x, const Tensor& w, const Tensor* b) {
  const Attrs& a = ctx.attrs();
  size_t nd = x.rank() - 2;
  int64_t g = a.get_int("group", 1), c = x.dim(1);
  if (g < 1 || w.dim(0) != c || c % g != 0) return ctx.unsupported("channels do not match the group count");
  int64_t mg = w.dim(1), m = mg * g;
  Dims kernel(w.dims().begin() + 2, w.dims().end());
  auto attrs = parse_conv_transpose_attrs(a, nd);
  if (!attrs.ok()) return ctx.error(attrs.status().message());
  auto geometry = conv_transpose_geometry(*attrs, Dims(x.dims().begin() + 2, x.dims().end()), kernel);
  if (!geometry.ok()) return ctx.error(geometry.status().message());
  const Dims& strides = attrs->window.strides;
  const Dims &pads = geometry->pads, &out = geometry->out, &full = geometry->full;
  Dims y{x.dim(0), m};
  y.insert(y.end(), out.begin(), out.end());
  memory::dims pl, pr, dd;
  for (size_t i = 0; i < nd; ++i) {
    // oneDNN's output is full - pl - pr: output_padding (and an output_shape) show up as less right padding.
    const int64_t r = full[i] - pads[i] - out[i];
    if (r < -attrs->output_padding[i]) return ctx.unsupported("output larger than the full result");
    pl.push_back(pads[i]);
    pr.push_back(r);
    dd.push_back(attrs->window.dilations[i] - 1);
  }
  if (dims_numel(y) <= 0 || x.numel() <= 0) return ctx.unsupported("empty tensors");
  // oneDNN weights: dims (g,) OC/g, IC/g, k...; ONNX stores them as [IC, OC/g, k...] = (g, IC/g, OC/g, k...).
  int64_t ksz = dims_numel(kernel);
  Dims wd;
  memory::dims ws;
  if (g > 1) {
    wd = {g, mg, c / g};
    ws = {(c / g) * mg * ksz, ksz, mg * ksz};
  } else {
    wd = {m, c};
    ws = {ksz, m * ksz};
  }
  wd.insert(wd.end(), kernel.begin(), kernel.end());
  for (size_t i = 0; i < nd; ++i) {
    int64_t st = 1;
    for (size_t j = i + 1; j < nd; ++j) st *= kernel[j];
    ws.push_back(st);
  }
  s.w_md = memory::desc(to_dnnl(wd), memory::data_type::f32, ws);
  auto any = [](const Dims& d) { return memory::desc(to_dnnl(d), memory::data_type::f32, memory::format_tag::any); };
  memory::desc bias_md = b ? plain_md({m}) : memory::desc();
  dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                         any(x.dims()), any(wd), bias_md, any(y), to_dnnl(strides), dd, pl, pr);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::deconvolution_forward::primitive_desc pd(desc, attr, engine());
  s.dense_groups = 0;
  if (g > 1 && g <= 8 && !(mg == 1 && c == g) && std::string(pd.impl_info_str()).find("gemm") != std::string::npos) {
    Dims dense{m, c};
    dense.insert(dense.end(), kernel.begin(), kernel.end());
    dnnl::deconvolution_forward::desc ddesc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                            any(x.dims()), any(dense), bias_md, any(y), to_dnnl(strides), dd, pl, pr);
    dnnl::deconvolution_forward::primitive_desc dpd(ddesc, attr, engine());
    if (std::string(dpd.impl_info_str()).find("gemm") == std::string::npos) {
      pd = dpd;
      s.dense_groups = g;
      s.dense_md = plain_md(dense);
      s.dense_w.assign(static_cast<size_t>(dims_numel(dense)), 0.f);
    }
  }
  if (!s.dense_groups) {
    // Tactics: oneDNN's implementations for its own choice of layouts and for plain and channels-last activations
    // (its first choice with few channels on AVX-512, 4-channel blocks, ran 3-5x slower than the best of these).
    using PD = dnnl::deconvolution_forward::primitive_desc;
    double best_s = 1e30;
    pd = fastest_impl<PD, dnnl::deconvolution_forward>(pd, 4, 2, &best_s);
    const size_t r = x.rank();
    const memory::format_tag plain = r == 3 ? memory::format_tag::abc : r == 4 ? memory::format_tag::abcd
                                                                               : memory::format_tag::abcde;
    const memory::format_tag last = r == 3 ? memory::format_tag::acb : r == 4 ? memory::format_tag::acdb
                                                                              : memory::format_tag::acdeb;
    for (memory::format_tag t : {plain, last}) {
      auto fixed = [t](const Dims& d) { return memory::desc(to_dnnl(d), memory::data_type::f32, t); };
      try {
        dnnl::deconvolution_forward::desc tdesc(dnnl::prop_kind::forward_inference,
                                                dnnl::algorithm::deconvolution_direct, fixed(x.dims()), any(wd),
                                                bias_md, fixed(y), to_dnnl(strides), dd, pl, pr);
        double t_s = 1e30;
        PD cand = fastest_impl<PD, dnnl::deconvolution_forward>(PD(tdesc, attr, engine()), 4, 2, &t_s);
        if (t_s < best_s) {
          best_s = t_s;
          pd = cand;
        }
      } catch (const dnnl::error&) {
        // no implementation for these layouts
      }
    }
  }
  s.prim = dnnl::deconvolution_forward(pd);
  s.x_md = plain_md(x.dims());
  s.y_md = plain_md(y);
  s.src_md = pd.src_desc();
  s.src_plain = pd.src_desc() == s.x_md;
  s.dst_plain = pd.dst_desc() == s.y_md;
  if (!s.src_plain) s.src_tmp = memory(pd.src_desc(), engine());
  if (!s.dst_plain) s.dst_tmp = memory(pd.dst_desc(), engine());
  s.weights = memory(pd.weights_desc(), engine());
  if (b) s.bias = memory(bias_md, engine());
  s.scratch = memory(pd.scratchpad_desc(), engine());
  s.x_dims = x.dims();
  s.w_dims = w.dims();
  s.y_dims = y;
  s.has_bias = b != nullptr;
  s.w_ptr = nullptr;
  return ok_status();
}

Status run_deconv(CpuKernelContext& ctx) {
  // W and B as plain bytes; X may stay blocked (read through source_memory below).
  for (size_t i : {size_t{1}, size_t{2}})
    if (CpuHandoff* h = ctx.input_handoff(i)) KILN_RETURN_IF_ERROR(h->materialize());
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (x.dtype() != DType::kFloat32 || w.dtype() != DType::kFloat32 || (b && b->dtype() != DType::kFloat32))
    return ctx.unsupported("only float32");
  if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) return ctx.unsupported("rank");
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<DeconvState>();
  auto& s = *static_cast<DeconvState*>(slot.get());
  try {
    if (s.x_dims != x.dims() || s.w_dims != w.dims() || s.has_bias != (b != nullptr)) KILN_RETURN_IF_ERROR(build(ctx, s, x, w, b));
    if (b && b->numel() != s.y_dims[1]) return ctx.unsupported("bias shape");
    bool w_const = ctx.input_is_constant(1) && (!b || ctx.input_is_constant(2));
    if (!w_const || s.w_ptr != w.raw() || (b && s.b_ptr != b->raw())) {
      if (s.dense_groups) {
        // ONNX W is [C, M/g, k...]: output channel o of group o / (M/g) reads input channels of the same group.
        const int64_t c = w.dim(0), mg = w.dim(1), m = mg * s.dense_groups, cg = c / s.dense_groups;
        const int64_t taps = w.numel() / (c * mg);
        const float* ws = w.data<float>();
        for (int64_t o = 0; o < m; ++o)
          for (int64_t ci = (o / mg) * cg; ci < (o / mg + 1) * cg; ++ci)
            std::memcpy(&s.dense_w[static_cast<size_t>((o * c + ci) * taps)], ws + (ci * mg + o % mg) * taps,
                        static_cast<size_t>(taps) * sizeof(float));
        reorder(memory(s.dense_md, engine(), s.dense_w.data()), s.weights);
      } else {
        reorder(memory(s.w_md, engine(), const_cast<void*>(w.raw())), s.weights);
      }
      if (b) std::memcpy(s.bias.get_data_handle(), b->raw(), b->nbytes());
      stream().wait();
      s.w_ptr = w.raw();
      s.b_ptr = b ? b->raw() : nullptr;
    }
    auto out = ctx.allocate_output(0, DType::kFloat32, s.y_dims);
    if (!out.ok()) return out.status();
    memory src(s.x_md, engine(), const_cast<void*>(x.raw())), dst(s.y_md, engine(), (*out)->raw());
    KILN_ASSIGN_OR_RETURN(memory src_used, source_memory(ctx, 0, src, s.src_plain ? nullptr : &s.src_tmp, s.src_md));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_used},
                                         {DNNL_ARG_WEIGHTS, s.weights},
                                         {DNNL_ARG_DST, s.dst_plain ? dst : s.dst_tmp},
                                         {DNNL_ARG_SCRATCHPAD, s.scratch}};
    if (b) args.emplace(DNNL_ARG_BIAS, s.bias);
    s.prim.execute(stream(), args);
    if (!s.dst_plain) publish_blocked_output(ctx, s.dst_tmp, dst, &s.handoff);
    stream().wait();
  } catch (const dnnl::error& e) {
    s.x_dims.clear();
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

NodeSupport supports_deconv(const Graph& g, const Node& n) {
  int r = rank_of(g, n, 0);
  if (!is_f32(g, n, 0) || !is_f32(g, n, 1) || r < 3 || r > 5) return NodeSupport::no("onednn_deconv: float32 1-D..3-D only");
  if (n.has_input(2) && !is_f32(g, n, 2, 1)) return NodeSupport::no("onednn_deconv: float32 bias only");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_deconv(CpuKernelRegistry& r) {
  r.add(OpKind::kConvTranspose, {"onednn_deconv", supports_deconv, run_deconv, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
