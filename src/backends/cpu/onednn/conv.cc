// Conv and FusedConv (NCHW, 1-D/2-D/3-D, groups, dilation, asymmetric pads, bias, residual sum, activation) on
// oneDNN, in float32 or (use_bf16) bf16 source and weights with float32 output (bf16 where only bf16 readers follow).
// Outputs are plain or handed off in oneDNN's layout to readers that take it (blocked.h); weights are reordered once
// per context (while they stay the same bytes), activations per run when oneDNN wants another layout.
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct ConvState {
  Dims x_dims, w_dims, y_dims;  // the node's tensors
  bool lifted = false;          // a 1-D convolution run as 2-D with H = 1
  Dims y_run;                   // the output dims the primitive computes (y_dims, lifted)
  const void* w_ptr = nullptr;
  const void* b_ptr = nullptr;
  bool has_bias = false, has_z = false;
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory weights, bias, src_tmp, dst_tmp, scratch;
  memory dst_1d;  // lifted: dst_tmp described with the node's 1-D dims, when it is plain channel-blocked
  bool src_plain = true, dst_plain = true;
  memory::desc x_md, y_md, w_md;
  int64_t w_offset = 0;  // elements into W where the (cropped) kernel starts
  // Grouped convolutions with few channels per group run as one dense convolution whose weights are zero outside
  // the groups (dense_groups = g): see build().
  int64_t dense_groups = 0;
  memory::desc dense_src_md;       // the block-diagonal weights, plain [M, C, k...]
  std::vector<float> dense_w;
  std::shared_ptr<OnednnHandoff> handoff;  // re-attached every run when the output stays in oneDNN's layout
  // A blocked output that fits the output tensor's own bytes (channels a multiple of the block) is computed there
  // and handed off in place (blocked.h): no per-node buffer, the arena plans its memory.
  int64_t inplace_block = 0;
  std::shared_ptr<BlockedHandoff> inplace_handoff;
  // Other layouts that fit the output's bytes (channels-last float32, any bfloat16) are computed there too and handed
  // off in place (publish_in_place_output).
  bool inplace_onednn = false;
  bool dst_tmp_ready = false;  // allocated on first use (src_tmp: by source_memory, when a reorder needs it)
  bool bf16 = false;      // source and weights in bfloat16 (use_bf16), destination float32 ...
  bool bf16_dst = false;  // ... or bfloat16 when every reader rounds it to that anyway (readers_round_to_bf16)
  // The activation as in-place eltwise primitives over the destination after the convolution, where oneDNN's
  // post-op path for it is slow (split_activation); empty when it is a post-op.
  std::vector<dnnl::eltwise_forward> act_after;
  // Memory objects over the run's tensors and the argument maps, made once per build: each run points them at its
  // tensors (set_data_handle) instead of creating them (per-run creation and destruction was most of a batch-1
  // model's overhead beyond its kernels under `perf`).
  bool mem_ready = false;
  memory m_src, m_dst_plain, m_dst_inplace, m_z;
  std::unordered_map<int, memory> args, act_args;
  std::optional<fused::Activation> act;  // parsed on the first run
};

bool fused(const Node& n) { return n.op == OpKind::kFusedConv; }

// Whether a float32 convolution runs oneDNN's Winograd kernel (F(4x4, 3x3): 2.25x fewer multiplies at the cost of
// input/output transforms) instead of its direct one: 3x3, stride 1, no dilation, one group, at least 64 input and
// output channels and 28x28 output positions. Measured per layer at batch 1 on one core (AVX-512 Xeon, oneDNN 2.6):
// ResNet-50's 64->64 at 56x56 and 128->128 at 28x28 1.3-1.5x faster, GoogLeNet's 64->192 at 56x56 and 96->128 /
// 128->192 at 28x28 1.7-1.8x; at 14x14 and below it won or lost by shape (256->256 at 14x14: 0.7-1.2x, 512->512 at
// 7x7: 0.45-0.9x) and with 32 output channels it lost (DenseNet's 128->32 at 56x56: 0.5-0.8x), so those stay direct.
// The rule depends on shapes only, so an engine's results never depend on timing. KILN_CPU_WINOGRAD=0 turns it off.
bool winograd_pays(const Dims& kernel, const Window& win, int64_t groups, int64_t in_channels, int64_t out_channels,
                   const Dims& y) {
  static const bool enabled = [] {
    const char* e = std::getenv("KILN_CPU_WINOGRAD");
    return !(e && std::string(e) == "0");
  }();
  if (!enabled || kernel.size() != 2 || kernel[0] != 3 || kernel[1] != 3 || groups != 1) return false;
  for (size_t i = 0; i < 2; ++i)
    if (win.strides[i] != 1 || win.dilations[i] != 1) return false;
  return in_channels >= 64 && out_channels >= 64 && y.size() == 4 && y[2] * y[3] >= 28 * 28;
}

// Kernel taps that read only padding for every output (dilation as large as the input: DeepLab's atrous convs)
// contribute nothing: crop them, so a 3x3 with dilation 24 on 20x20 becomes the 1x1 it really is (oneDNN 2.6
// sends such huge pads to its slow im2col path). Returns the first tap kept along each spatial dim.
Dims crop_dead_taps(const Dims& in, Dims* kernel, Window* w) {
  Dims first(in.size(), 0);
  for (size_t i = 0; i < in.size(); ++i) {
    auto live = [&](int64_t k) {  // some output reads tap k inside the input
      int64_t lo = k * w->dilations[i] - w->pad_l[i];  // input row of output 0
      int64_t hi = lo + (w->out[i] - 1) * w->strides[i];
      return hi >= 0 && lo < in[i] && (lo >= 0 || (-lo + w->strides[i] - 1) / w->strides[i] * w->strides[i] + lo < in[i]);
    };
    int64_t k0 = 0, k1 = (*kernel)[i] - 1;
    while (k0 < k1 && !live(k0)) ++k0;
    while (k1 > k0 && !live(k1)) --k1;
    if (k0 == 0 && k1 == (*kernel)[i] - 1) continue;
    int64_t pl = w->pad_l[i] - k0 * w->dilations[i];
    int64_t ek = (k1 - k0) * w->dilations[i] + 1;
    int64_t pr = (w->out[i] - 1) * w->strides[i] + ek - in[i] - pl;
    if (pl < 0 || pr < 0) continue;
    first[i] = k0;
    (*kernel)[i] = k1 - k0 + 1;
    w->pad_l[i] = pl;
    w->pad_r[i] = pr;
  }
  return first;
}

// oneDNN 2.6's AMX bf16 convolutions apply transcendental post-ops (SiLU, sigmoid, tanh, GELU) slowly: the post-op
// often costs more than the convolution (YOLO-style 1x1 32 -> 32 at 80x80: 0.155 ms fused, 0.031 ms without it plus
// 0.107 ms for a separate jit eltwise pass; EfficientNet-B0's stem 0.39 -> 0.12 + 0.19 ms). A separate pass wins
// while the output stays in cache and loses once it does not (EfficientNet-B0 at batch 16: 33 ms of such
// convolutions fused, 43 ms split; the 112x112x96 expansion's 38 MB output at 1.2 G elements/s), and tiny outputs
// (squeeze-excitation 1x1) gain nothing. So: AMX kernels, outputs of 16K elements to 4 MB.
// KILN_CPU_CONV_SPLIT_ACT: 0 never, all for every non-trivial activation (diagnosis).
bool split_activation(const fused::Activation& act, const dnnl::convolution_forward::primitive_desc& pd) {
  using K = fused::ActKind;
  if (act.kind == K::kNone || act.kind == K::kRelu || act.kind == K::kLeakyRelu || act.kind == K::kClip ||
      act.kind == K::kHardSigmoid || act.kind == K::kHardSwish)
    return false;  // no transcendental: cheap as post-ops
  const char* knob = std::getenv("KILN_CPU_CONV_SPLIT_ACT");
  const std::string mode = knob ? knob : "";
  if (mode == "0") return false;
  if (mode == "all") return true;
  const dnnl::memory::desc dst = pd.dst_desc();
  int64_t elements = 1;
  for (int64_t d : dst.dims()) elements *= d;
  const size_t bytes = dst.get_size();
  return std::string(pd.impl_info_str()).find("amx") != std::string::npos && elements >= (int64_t{16} << 10) &&
         bytes <= (size_t{4} << 20);
}

Status build(CpuKernelContext& ctx, ConvState& s, const Tensor& x, const Tensor& w, const Tensor* b, bool has_z,
             const fused::Activation& act) {
  const Attrs& a = ctx.attrs();
  int64_t g = a.get_int("group", 1);
  size_t nd = x.rank() - 2;
  Dims in(x.dims().begin() + 2, x.dims().end()), kernel(w.dims().begin() + 2, w.dims().end());
  Window win;
  std::string why = compute_window(a, in, kernel, false, &win);
  if (!why.empty()) return ctx.unsupported(why);
  int64_t m = w.dim(0);
  if (g < 1 || x.dim(1) != w.dim(1) * g || m % g != 0) return ctx.unsupported("channels do not match the group count");
  Dims y_node{x.dim(0), m};
  for (size_t i = 0; i < nd; ++i) y_node.push_back(win.out[i]);
  if (dims_numel(y_node) <= 0 || x.numel() <= 0) return ctx.unsupported("empty tensors");
  // 1-D convolutions run as 2-D ones with H = 1 (same bytes): oneDNN 2.6 has no jit kernels for 1-D depthwise or
  // grouped convolutions and falls back to im2col + gemm per group (a TDNN's 128-channel depthwise layer, batch 32:
  // 2.2 ms instead of ~0.05).
  s.lifted = nd == 1;
  Dims xd = x.dims();
  if (s.lifted) {
    xd.insert(xd.begin() + 2, 1);
    in.insert(in.begin(), 1);
    kernel.insert(kernel.begin(), 1);
    win.strides.insert(win.strides.begin(), 1);
    win.dilations.insert(win.dilations.begin(), 1);
    win.pad_l.insert(win.pad_l.begin(), 0);
    win.pad_r.insert(win.pad_r.begin(), 0);
    win.out.insert(win.out.begin(), 1);
    nd = 2;
  }
  Dims y{x.dim(0), m};
  for (size_t i = 0; i < nd; ++i) y.push_back(win.out[i]);
  Dims full{m, w.dim(1)};  // W's own layout, viewed as (g,) O, I, k... with its strides, cropped below
  full.insert(full.end(), kernel.begin(), kernel.end());
  if (g > 1) {
    full = {g, m / g, w.dim(1)};
    full.insert(full.end(), kernel.begin(), kernel.end());
  }
  Dims first = crop_dead_taps(in, &kernel, &win);
  Dims wd(full.begin(), full.end() - nd);
  wd.insert(wd.end(), kernel.begin(), kernel.end());
  memory::desc full_md = plain_md(full);
  memory::dims wstrides(full_md.data.format_desc.blocking.strides, full_md.data.format_desc.blocking.strides + full.size());
  s.w_offset = 0;
  for (size_t i = 0; i < nd; ++i) s.w_offset += first[i] * wstrides[full.size() - nd + i];
  memory::dims dil;
  for (int64_t d : win.dilations) dil.push_back(d - 1);
  s.bf16 = use_bf16(ctx);
  const memory::data_type in_t = s.bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  // A bfloat16 output halves its bytes and spares the next convolution its float32 -> bfloat16 reorder (ResNet-50
  // with AMX: reorders were a third of the run). Not with Z: the residual sum stays float32.
  // KILN_CPU_BF16_HANDOFF=0 keeps them float32 (read per build: tests compare both).
  const char* handoff_knob = std::getenv("KILN_CPU_BF16_HANDOFF");
  s.bf16_dst = s.bf16 && !has_z && ctx.readers_round_to_bf16(0) && !(handoff_knob && std::string(handoff_knob) == "0");
  const memory::data_type out_t = s.bf16_dst ? memory::data_type::bf16 : memory::data_type::f32;
  auto any = [](const Dims& d, memory::data_type t = memory::data_type::f32) {
    return memory::desc(to_dnnl(d), t, tag::any);
  };
  memory::desc bias_md = b ? plain_md({m}) : memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                       any(xd, in_t), any(wd, in_t), bias_md, any(y, out_t), to_dnnl(win.strides),
                                       dil, to_dnnl(win.pad_l), to_dnnl(win.pad_r));
  dnnl::post_ops ops;
  if (has_z) ops.append_sum(1.f);
  if (!append_activation(ops, act)) return ctx.unsupported("activation");
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  s.pd = dnnl::convolution_forward::primitive_desc(desc, attr, engine());
  s.act_after.clear();
  // The attributes without the activation (only the residual's sum), for kernels that run it as a pass after.
  dnnl::primitive_attr attr_no_act;
  {
    dnnl::post_ops sum_only;
    if (has_z) sum_only.append_sum(1.f);
    attr_no_act.set_post_ops(sum_only);
    attr_no_act.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  }
  if (split_activation(act, s.pd)) {
    dnnl::convolution_forward::primitive_desc plain_pd(desc, attr_no_act, engine());
    if (make_eltwise_chain(act, plain_pd.dst_desc(), &s.act_after)) s.pd = plain_pd;
  }
  // On AVX-512 oneDNN's first choice is a brgemm kernel on channels-last activations, which Kiln's plain node
  // boundaries reorder on both sides of every convolution (EfficientNet-B0 at batch 16: a quarter of the run). Its
  // 16-channel-blocked kernels read and write the blocked form that hands off between nodes (blocked.h) instead.
  if (!s.bf16 && prefer_blocked16()) {
    const memory::desc xb = blocked_md(xd, 16), yb = blocked_md(y, 16);
    if (!xb.is_zero() && !yb.is_zero()) {
      try {
        dnnl::convolution_forward::desc bdesc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                              xb, any(wd, in_t), bias_md, yb, to_dnnl(win.strides), dil,
                                              to_dnnl(win.pad_l), to_dnnl(win.pad_r));
        dnnl::convolution_forward::primitive_desc bpd(bdesc, attr, engine());
        if (std::string(bpd.impl_info_str()).find("ref") == std::string::npos) s.pd = bpd;
        if (winograd_pays(kernel, win, g, x.dim(1), m, y)) {
          try {
            dnnl::convolution_forward::desc wdesc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                                  xb, any(wd, in_t), bias_md, yb, to_dnnl(win.strides), dil,
                                                  to_dnnl(win.pad_l), to_dnnl(win.pad_r));
            try {
              s.pd = dnnl::convolution_forward::primitive_desc(wdesc, attr, engine());
            } catch (const dnnl::error&) {
              // Its post-ops take no transcendental activation (SiLU in every YOLO block): the activation then runs
              // as an in-place pass over the output (64->64 at 40x40 with SiLU: 0.78 ms direct, ~0.5 split).
              dnnl::convolution_forward::primitive_desc wpd(wdesc, attr_no_act, engine());
              std::vector<dnnl::eltwise_forward> chain;
              if (s.act_after.empty() && make_eltwise_chain(act, wpd.dst_desc(), &chain)) {
                s.pd = wpd;
                s.act_after = std::move(chain);
              }
            }
          } catch (const dnnl::error&) {
            // no Winograd kernel for this case: keep the direct one
          }
        }
      } catch (const dnnl::error&) {
        // no blocked implementation for this convolution: keep oneDNN's choice
      }
    }
  }
  s.dense_groups = 0;
  // oneDNN 2.6 has jit kernels for grouped convolutions only when each group's channels fill whole blocks (8 on
  // AVX2); otherwise it runs im2col + gemm per group, several times slower than a dense jit convolution with g
  // times the multiply-adds (small_cnn's 4-group 3x3 at batch 32: 1.14 ms). With at most 8 groups the dense form
  // (zero weights outside the groups) is used instead.
  const bool depthwise = w.dim(1) == 1 && m == g;
  if (g > 1 && g <= 8 && !depthwise && std::string(s.pd.impl_info_str()).find("gemm") != std::string::npos) {
    Dims dense{m, x.dim(1)};
    dense.insert(dense.end(), kernel.begin(), kernel.end());
    dnnl::convolution_forward::desc ddesc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          any(xd, in_t), any(dense, in_t), bias_md, any(y, out_t), to_dnnl(win.strides), dil,
                                          to_dnnl(win.pad_l), to_dnnl(win.pad_r));
    dnnl::convolution_forward::primitive_desc dpd(ddesc, attr, engine());
    if (std::string(dpd.impl_info_str()).find("gemm") == std::string::npos) {
      s.pd = dpd;
      s.dense_groups = g;
      s.dense_src_md = plain_md(dense);
      s.dense_w.assign(static_cast<size_t>(dims_numel(dense)), 0.f);
    }
  }
  s.prim = dnnl::convolution_forward(s.pd);
  s.x_md = plain_md(xd);
  s.y_md = plain_md(y);
  s.w_md = memory::desc(to_dnnl(wd), memory::data_type::f32, wstrides);
  s.src_plain = s.pd.src_desc() == s.x_md;
  s.dst_plain = s.pd.dst_desc() == s.y_md;
  s.src_tmp = memory();
  s.dst_tmp_ready = false;
  s.inplace_block = 0;
  if (!s.dst_plain)
    for (int64_t blk : {8, 16})
      if (y[1] % blk == 0 && s.pd.dst_desc() == blocked_md(y, blk)) s.inplace_block = blk;
  s.inplace_onednn = !s.dst_plain && !s.inplace_block &&
                     s.pd.dst_desc().get_size() <= static_cast<size_t>(dims_numel(y)) * sizeof(float);
  s.dst_1d = memory();
  if (s.lifted && !s.dst_plain)
    for (int64_t blk : {8, 16})
      if (s.pd.dst_desc() == blocked_md(y, blk)) s.dst_1d = memory(blocked_md(y_node, blk), engine(), nullptr);
  s.weights = memory(s.pd.weights_desc(), engine());
  if (b) s.bias = memory(bias_md, engine());
  s.scratch = memory(s.pd.scratchpad_desc(), engine());
  s.x_dims = x.dims();
  s.w_dims = w.dims();
  s.y_dims = y_node;
  s.y_run = y;
  s.has_bias = b != nullptr;
  s.has_z = has_z;
  s.w_ptr = nullptr;  // forces the weight reorder below
  return ok_status();
}

Status run_conv(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  bool has_z = fused(ctx.node()) && ctx.has_input(3);
  if (x.dtype() != DType::kFloat32 || w.dtype() != DType::kFloat32 || (b && b->dtype() != DType::kFloat32))
    return ctx.unsupported("only float32");
  if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) return ctx.unsupported("rank");
  if (b && (b->rank() != 1 || b->dim(0) != w.dim(0))) return ctx.unsupported("bias shape");
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<ConvState>();
  auto& s = *static_cast<ConvState*>(slot.get());
  if (!s.act) {
    fused::Activation act;
    if (fused(ctx.node())) {
      auto pa = fused::parse_activation(ctx.node());
      if (!pa.ok()) return pa.status();
      act = *pa;
    }
    s.act = act;
  }
  try {
    if (s.x_dims != x.dims() || s.w_dims != w.dims() || s.has_bias != (b != nullptr) || s.has_z != has_z ||
        s.bf16 != use_bf16(ctx)) {
      s.mem_ready = false;
      KILN_RETURN_IF_ERROR(build(ctx, s, x, w, b, has_z, *s.act));
    }
    const Tensor* z = has_z ? &ctx.input(3) : nullptr;
    if (z && (z->dtype() != DType::kFloat32 || z->dims() != s.y_dims)) return ctx.unsupported("Z must match Y's shape");
    // Hand-offs on W or B (a conv computing another's weights): use their plain bytes.
    for (size_t i : {size_t{1}, size_t{2}})
      if (CpuHandoff* h = ctx.input_handoff(i)) KILN_RETURN_IF_ERROR(h->materialize());
    // Weights (and bias) once while they are the same constant bytes; every run otherwise.
    bool w_const = ctx.input_is_constant(1) && (!b || ctx.input_is_constant(2));
    if (!w_const || s.w_ptr != w.raw() || (b && s.b_ptr != b->raw())) {
      if (s.dense_groups) {
        // Expand W's (cropped) taps into the block-diagonal dense weights, then reorder those.
        const memory::desc& wmd = s.w_md;  // (g,) O/g, I, k... with W's strides
        const int nd_w = wmd.data.ndims;
        const int64_t m = s.y_run[1], cin = s.x_dims[1], g = s.dense_groups, og = m / g, ig = cin / g;
        const int nk = static_cast<int>(s.y_run.size()) - 2;
        const int64_t* st = wmd.data.format_desc.blocking.strides;
        const int64_t* kd = wmd.data.dims + (nd_w - nk);
        int64_t taps = 1;
        for (int i = 0; i < nk; ++i) taps *= kd[i];
        const float* wsrc = w.data<float>() + s.w_offset;
        for (int64_t o = 0; o < m; ++o)
          for (int64_t ci = 0; ci < ig; ++ci)
            for (int64_t t = 0; t < taps; ++t) {
              int64_t off = (o / og) * st[0] + (o % og) * st[1] + ci * st[2], rem = t;
              for (int i = nk - 1; i >= 0; --i) {
                off += (rem % kd[i]) * st[nd_w - nk + i];
                rem /= kd[i];
              }
              s.dense_w[static_cast<size_t>((o * cin + (o / og) * ig + ci) * taps + t)] = wsrc[off];
            }
        reorder(memory(s.dense_src_md, engine(), s.dense_w.data()), s.weights);
      } else {
        reorder(memory(s.w_md, engine(), const_cast<float*>(w.data<float>()) + s.w_offset), s.weights);
      }
      if (b) std::memcpy(s.bias.get_data_handle(), b->raw(), b->nbytes());
      stream().wait();
      s.w_ptr = w.raw();
      s.b_ptr = b ? b->raw() : nullptr;
    }
    auto out = ctx.allocate_output(0, DType::kFloat32, s.y_dims);
    if (!out.ok()) return out.status();
    if (!s.mem_ready) {
      s.m_src = memory(s.x_md, engine(), nullptr);
      s.m_dst_plain = memory(s.y_md, engine(), nullptr);
      s.m_dst_inplace = memory(s.pd.dst_desc(), engine(), nullptr);
      s.m_z = memory(s.y_md, engine(), nullptr);
      s.args = {{DNNL_ARG_WEIGHTS, s.weights}, {DNNL_ARG_SCRATCHPAD, s.scratch}};
      if (b) s.args.emplace(DNNL_ARG_BIAS, s.bias);
      s.mem_ready = true;
    }
    memory& src = s.m_src;
    memory& dst_plain = s.m_dst_plain;
    src.set_data_handle(const_cast<void*>(x.raw()));
    dst_plain.set_data_handle((*out)->raw());
    // The producer may have left X blocked (a hand-off): read that, or have it fill X first.
    KILN_ASSIGN_OR_RETURN(memory src_used, source_memory(ctx, 0, src, s.src_plain ? nullptr : &s.src_tmp, s.pd.src_desc()));
    const bool in_place = (s.inplace_block > 0 || s.inplace_onednn) && ctx.private_output(0);
    if (!s.dst_plain && !in_place && !s.dst_tmp_ready) {
      s.dst_tmp = memory(s.pd.dst_desc(), engine());
      s.dst_tmp_ready = true;
    }
    if (in_place) s.m_dst_inplace.set_data_handle((*out)->raw());
    memory& dst = s.dst_plain ? dst_plain : in_place ? s.m_dst_inplace : s.dst_tmp;
    if (z) {
      // Z may be a blocked hand-off: copy it into the blocked destination (or fill its plain bytes first).
      OnednnHandoff* zh = onednn_handoff(ctx, 3);
      memory zb;
      if (zh && !s.dst_plain && zh->mem.get_desc() == dst.get_desc()) {
        // Same layout and type: a copy (oneDNN 2.6 runs a same-format channels-last reorder on its slow generic
        // path: 0.3-1.1 ms per ResNet-50 residual).
        std::memcpy(dst.get_data_handle(), zh->mem.get_data_handle(), dst.get_desc().get_size());
      } else if (zh && !s.dst_plain && zh->mem.get_desc().dims() == dst.get_desc().dims()) {
        reorder(zh->mem, dst);
      } else if (!s.dst_plain && blocked_source(ctx, 3, dst.get_desc(), &zb)) {
        reorder(zb, dst);
      } else {
        if (CpuHandoff* h = ctx.input_handoff(3)) KILN_RETURN_IF_ERROR(h->materialize());
        if (s.dst_plain) {
          std::memcpy((*out)->raw(), z->raw(), z->nbytes());
        } else {
          s.m_z.set_data_handle(const_cast<void*>(z->raw()));
          reorder(s.m_z, dst);
        }
      }
    }
    s.args[DNNL_ARG_SRC] = src_used;
    s.args[DNNL_ARG_DST] = dst;
    s.prim.execute(stream(), s.args);
    if (!s.act_after.empty()) {
      s.act_args[DNNL_ARG_SRC] = dst;
      s.act_args[DNNL_ARG_DST] = dst;
      for (auto& e : s.act_after) e.execute(stream(), s.act_args);
    }
    if (in_place && s.inplace_onednn) {
      publish_in_place_output(ctx, dst, dst_plain, &s.handoff);
    } else if (in_place) {
      if (!s.inplace_handoff) s.inplace_handoff = std::make_shared<BlockedHandoff>();
      float* yp = (*out)->data<float>();
      s.inplace_handoff->reset(BlockedView{yp, s.y_dims, s.inplace_block}, yp, true, ctx.num_threads());
      ctx.attach_handoff(0, s.inplace_handoff);
    } else if (!s.dst_plain) {
      if (s.lifted && s.dst_1d) {  // an empty handle when the blocked form has no 1-D twin (e.g. padded 16-blocks)
        // Readers see the 1-D tensor's blocked form (aBc8b: the same bytes as the lifted aBcd8b).
        s.dst_1d.set_data_handle(s.dst_tmp.get_data_handle());
        publish_blocked_output(ctx, s.dst_1d, memory(plain_md(s.y_dims), engine(), (*out)->raw()), &s.handoff);
      } else {
        publish_blocked_output(ctx, s.dst_tmp, dst_plain, &s.handoff);
      }
    }
    stream().wait();
  } catch (const dnnl::error& e) {
    s.x_dims.clear();
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

NodeSupport supports_conv(const Graph& g, const Node& n) {
  int r = rank_of(g, n, 0);
  if (!is_f32(g, n, 0) || !is_f32(g, n, 1)) return NodeSupport::no("onednn_conv: float32 X and W only");
  if (r < 3 || r > 5) return NodeSupport::no("onednn_conv: 1-D, 2-D or 3-D only");
  if (n.has_input(2) && !is_f32(g, n, 2, 1)) return NodeSupport::no("onednn_conv: float32 bias only");
  if (fused(n)) {
    if (n.attrs.get_string("layout", "NCHW") != "NCHW") return NodeSupport::no("onednn_conv: NCHW layout only");
    if (n.has_input(3) && !is_f32(g, n, 3, r)) return NodeSupport::no("onednn_conv: float32 Z of Y's rank only");
    if (!fused::parse_activation(n).ok()) return NodeSupport::no("onednn_conv: bad activation");
  }
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_conv(CpuKernelRegistry& r) {
  r.add(OpKind::kConv, {"onednn_conv", supports_conv, run_conv, /*takes_handoffs=*/true, /*bf16_inputs=X*/ 1u});
  r.add(OpKind::kFusedConv, {"onednn_conv", supports_conv, run_conv, /*takes_handoffs=*/true, /*bf16_inputs=X*/ 1u});
}

}  // namespace kiln::cpu::onednn
