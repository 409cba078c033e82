// MaxPool (no Indices output), AveragePool and GlobalAverage/GlobalMaxPool on oneDNN's pooling_v2 primitive, on
// plain NCHW tensors. ceil_mode becomes extra right padding; AveragePool with ceil_mode and count_include_pad
// is left to the reference (its divisor rule at the ragged edge differs). uint8/int8 max pooling (Q/DQ models,
// fold_qdq_moves) runs channels-last, oneDNN's int8 pooling layout, read from and handed on to the int8
// convolutions' NHWC hand-offs.
#include <string>

#include <unordered_map>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/global_pool.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

struct PoolState {
  Dims x_dims, y_dims;
  dnnl::pooling_v2_forward prim;
  memory::desc x_md, y_md;   // plain (the node's tensors)
  bool blocked = false;      // the primitive runs on oneDNN layouts: X in x_want (x_tmp when it arrives otherwise), Y in y_tmp
  memory::desc x_want;
  memory x_tmp, y_tmp, scratch;
  std::shared_ptr<OnednnHandoff> handoff;
  // Memory objects over the run's tensors and the argument map, made once per build (each run only points them at
  // its tensors: creating them per run was a batch-1 model's main overhead beyond its kernels).
  bool mem_ready = false;
  memory xm, ym;
  std::unordered_map<int, memory> args;
};

// oneDNN's pooling on plain NCHW is a scalar loop ("simple_nchw"); its jit kernels want channel blocks of 8
// (float32) or channels last (8-bit).
memory::format_tag blocked_tag(size_t rank, bool q8) {
  if (q8) return rank == 3 ? memory::format_tag::acb : rank == 4 ? memory::format_tag::acdb : memory::format_tag::acdeb;
  return rank == 3 ? memory::format_tag::aBc8b : rank == 4 ? memory::format_tag::aBcd8b : memory::format_tag::aBcde8b;
}
bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }
memory::data_type dt_of(DType t) {
  return t == DType::kUInt8 ? memory::data_type::u8 : t == DType::kInt8 ? memory::data_type::s8 : memory::data_type::f32;
}

bool global(OpKind op) { return op == OpKind::kGlobalAveragePool || op == OpKind::kGlobalMaxPool; }
bool is_max(OpKind op) { return op == OpKind::kMaxPool || op == OpKind::kGlobalMaxPool; }

Status build(CpuKernelContext& ctx, PoolState& s, const Tensor& x) {
  const Node& n = ctx.node();
  size_t nd = x.rank() - 2;
  Dims in(x.dims().begin() + 2, x.dims().end());
  Window w;
  Dims kernel = in;
  if (global(n.op)) {
    w.strides.assign(nd, 1);
    w.dilations.assign(nd, 1);
    w.pad_l.assign(nd, 0);
    w.pad_r.assign(nd, 0);
    w.out.assign(nd, 1);
  } else {
    kernel = n.attrs.get_ints("kernel_shape");
    bool ceil = n.attrs.get_int("ceil_mode", 0) != 0;
    std::string why = compute_window(n.attrs, in, kernel, ceil, &w);
    if (!why.empty()) return ctx.unsupported(why);
    for (size_t i = 0; i < nd; ++i) {
      int64_t ek = (kernel[i] - 1) * w.dilations[i] + 1;
      int64_t pr = (w.out[i] - 1) * w.strides[i] + ek - in[i] - w.pad_l[i];  // right padding oneDNN's floor rule needs
      if (pr < 0 || w.pad_l[i] >= ek) return ctx.unsupported("padding layout");
      w.pad_r[i] = pr;
    }
  }
  Dims y{x.dim(0), x.dim(1)};
  y.insert(y.end(), w.out.begin(), w.out.end());
  if (x.numel() <= 0 || dims_numel(y) <= 0) return ctx.unsupported("empty tensors");
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (!is_max(n.op))
    alg = n.attrs.get_int("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding
                                                   : dnnl::algorithm::pooling_avg_exclude_padding;
  memory::dims dil;
  for (int64_t d : w.dilations) dil.push_back(d - 1);
  const memory::data_type dt = dt_of(x.dtype());
  const bool q8 = is_q8(x.dtype());
  s.x_md = plain_md(x.dims(), dt);
  s.y_md = plain_md(y, dt);
  dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, s.x_md, s.y_md, to_dnnl(w.strides),
                                      to_dnnl(kernel), dil, to_dnnl(w.pad_l), to_dnnl(w.pad_r));
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::pooling_v2_forward::primitive_desc pd(desc, attr, engine());
  s.blocked = false;
  s.x_tmp = memory();
  std::string impl = pd.impl_info_str();
  // A float32 producer that hands X off in its own layout (a bf16/AMX convolution's channels-last output, a
  // 16-channel-blocked one): pool in that layout when oneDNN has a jit kernel for it, instead of reordering X to
  // plain and back (2.7 ms per ResNet-50 batch-8 max pool; EfficientNet-B0's squeeze-excitation global pools ran
  // oneDNN's plain-layout kernel at a fifth of the blocked one's speed: 20% of the run).
  memory::desc held;
  if (OnednnHandoff* h = onednn_handoff(ctx, 0)) {
    held = h->mem.get_desc();
  } else if (CpuHandoff* hb = ctx.input_handoff(0)) {
    if (const BlockedView v = hb->blocked()) held = blocked_md(v.dims, v.block);
  }
  if (!q8 && !held.is_zero() && held.dims() == to_dnnl(x.dims()) && held.data_type() == memory::data_type::f32) {
    try {
      dnnl::pooling_v2_forward::desc hdesc(dnnl::prop_kind::forward_inference, alg, held,
                                           memory::desc(to_dnnl(y), dt, memory::format_tag::any), to_dnnl(w.strides),
                                           to_dnnl(kernel), dil, to_dnnl(w.pad_l), to_dnnl(w.pad_r));
      dnnl::pooling_v2_forward::primitive_desc hpd(hdesc, attr, engine());
      if (std::string(hpd.impl_info_str()).find("jit") != std::string::npos) {
        pd = hpd;
        s.blocked = true;
        s.x_want = held;
        s.y_tmp = memory(hpd.dst_desc(), engine());
      }
    } catch (const dnnl::error&) {
      // no kernel for that layout: the plain or channel-blocked path below
    }
  }
  if (!s.blocked &&
      (q8 || impl.find("simple") != std::string::npos || impl.find("ref") != std::string::npos)) {
    memory::desc bx(to_dnnl(x.dims()), dt, blocked_tag(x.rank(), q8));
    memory::desc by(to_dnnl(y), dt, blocked_tag(x.rank(), q8));
    dnnl::pooling_v2_forward::desc bdesc(dnnl::prop_kind::forward_inference, alg, bx, by, to_dnnl(w.strides),
                                         to_dnnl(kernel), dil, to_dnnl(w.pad_l), to_dnnl(w.pad_r));
    dnnl::pooling_v2_forward::primitive_desc bpd(bdesc, attr, engine(), true);
    if (bpd && std::string(bpd.impl_info_str()).find("jit") != std::string::npos) {
      pd = bpd;
      s.blocked = true;
      s.x_want = bx;
      s.y_tmp = memory(by, engine());
    }
  }
  s.prim = dnnl::pooling_v2_forward(pd);
  s.scratch = memory(pd.scratchpad_desc(), engine());
  s.x_dims = x.dims();
  s.y_dims = y;
  return ok_status();
}

// Global pools of float32 X, plain or handed off channels-last, run by hand (kernels/global_pool.h): oneDNN's split
// only images and channel blocks among threads. false (nothing done) for other pools and layouts (a 16-channel-blocked
// X keeps oneDNN's blocked kernel), or with KILN_CPU_GLOBAL_POOL=onednn.
Result<bool> global_pool_by_hand(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!global(ctx.node().op) || x.dtype() != DType::kFloat32) return false;
  if (const char* e = std::getenv("KILN_CPU_GLOBAL_POOL"); e && std::string(e) == "onednn") return false;
  const Dims& d = x.dims();
  int64_t pixels = 1;
  for (size_t i = 2; i < d.size(); ++i) pixels *= d[i];
  if (pixels <= 0 || d[0] * d[1] == 0) return false;
  const void* cl = channels_last_input(ctx, 0, memory::data_type::f32);
  if (!cl && ctx.input_handoff(0)) return false;
  Dims yd(d.size(), 1);
  yd[0] = d[0];
  yd[1] = d[1];
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, yd));
  const bool max = ctx.node().op == OpKind::kGlobalMaxPool;
  const int threads = kern::threads_for(ctx, d[0] * d[1] * pixels);
  if (cl)
    kern::global_pool_channels_last(static_cast<const float*>(cl), y->data<float>(), d[0], d[1], pixels, max, threads);
  else
    kern::global_pool_plain(x.data<float>(), y->data<float>(), d[0] * d[1], pixels, max, threads);
  return true;
}

Status run_pool(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if ((x.dtype() != DType::kFloat32 && !(is_q8(x.dtype()) && ctx.node().op == OpKind::kMaxPool)) || x.rank() < 3 ||
      x.rank() > 5)
    return ctx.unsupported("float32 (MaxPool: also uint8/int8) 3-D..5-D only");
  KILN_ASSIGN_OR_RETURN(bool done_by_hand, global_pool_by_hand(ctx));
  if (done_by_hand) return ok_status();
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<PoolState>();
  auto& s = *static_cast<PoolState*>(slot.get());
  try {
    if (s.x_dims != x.dims()) {
      s.mem_ready = false;
      KILN_RETURN_IF_ERROR(build(ctx, s, x));
    }
    auto out = ctx.allocate_output(0, x.dtype(), s.y_dims);
    if (!out.ok()) return out.status();
    if (!s.mem_ready) {
      s.xm = memory(s.x_md, engine(), nullptr);
      s.ym = memory(s.y_md, engine(), nullptr);
      s.args = {{DNNL_ARG_SCRATCHPAD, s.scratch}};
      s.mem_ready = true;
    }
    s.xm.set_data_handle(const_cast<void*>(x.raw()));
    s.ym.set_data_handle((*out)->raw());
    if (s.blocked) {
      // X may arrive blocked from a oneDNN producer; Y stays blocked when only oneDNN kernels read it.
      KILN_ASSIGN_OR_RETURN(memory src, source_memory(ctx, 0, s.xm, &s.x_tmp, s.x_want));
      s.args[DNNL_ARG_SRC] = src;
      s.args[DNNL_ARG_DST] = s.y_tmp;
      s.prim.execute(stream(), s.args);
      publish_blocked_output(ctx, s.y_tmp, s.ym, &s.handoff);
    } else {
      KILN_RETURN_IF_ERROR(materialize_inputs(ctx));
      s.args[DNNL_ARG_SRC] = s.xm;
      s.args[DNNL_ARG_DST] = s.ym;
      s.prim.execute(stream(), s.args);
    }
    stream().wait();
  } catch (const dnnl::error& e) {
    s.x_dims.clear();
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

NodeSupport supports_pool(const Graph& g, const Node& n) {
  int r = rank_of(g, n, 0);
  const bool q8_max = n.op == OpKind::kMaxPool && is_q8(dtype_of(g, n, 0));
  if ((!is_f32(g, n, 0) && !q8_max) || r < 3 || r > 5)
    return NodeSupport::no("onednn_pool: float32 (MaxPool: also uint8/int8) 1-D..3-D pooling only");
  if (n.has_output(1)) return NodeSupport::no("onednn_pool: MaxPool Indices output");
  if (n.op == OpKind::kAveragePool && n.attrs.get_int("ceil_mode", 0) && n.attrs.get_int("count_include_pad", 0))
    return NodeSupport::no("onednn_pool: ceil_mode with count_include_pad");
  if (!global(n.op) && n.attrs.get_ints("kernel_shape").size() != static_cast<size_t>(r - 2))
    return NodeSupport::no("onednn_pool: kernel_shape");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_pool(CpuKernelRegistry& r) {
  for (OpKind op : {OpKind::kMaxPool, OpKind::kAveragePool, OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool})
    r.add(op, {"onednn_pool", supports_pool, run_pool, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
