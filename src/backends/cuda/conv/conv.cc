// Conv and FusedConv on cuDNN (NCHW and channels-last) and Kiln's own depthwise kernel. Tactics: [0, D) Kiln's own
// kernels (D = 1 for a channels-last depthwise conv unless KILN_CUDA_OWN_KERNELS=0: depthwise.cu, bias / Z / every
// activation fused), then
// [D, D+G) cuDNN graph-API plans (conv with bias, residual and ReLU fused; asymmetric pads native), [D+G, D+G+L) the
// legacy API's algorithms (asymmetric pads by an explicit padded copy; cuDNN's fused bias+activation call where it
// applies). What cuDNN does not fuse runs in the shared bias / residual / activation epilogue.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "backends/cuda/conv/conv_common.h"
#include "backends/cuda/conv/conv_kernels.h"
#include "backends/cuda/conv/cudnn_conv.h"
#include "backends/cuda/conv/cudnn_graph_conv.h"
#include "backends/cuda/conv/window.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cudnn_fe/fe_util.h"
#include "backends/cuda/runtime/engine_state.h"

namespace kiln::cuda {
namespace {

struct ConvCall {
  ElemType type = ElemType::kF32;
  bool nhwc = false;
  ConvProblem problem;     // legacy API (pads symmetric; asymmetric ones through the padded copy)
  GraphConvProblem graph;  // graph API (pre/post pads; bias, Z and ReLU fused when present)
  Dims y_dims;
  int64_t m = 0, out_spatial = 0;
  // Asymmetric pads: X is first copied into a zero-padded buffer of dims `padded_dims` (memory order).
  bool pad_input = false;
  Dims x_mem_dims, padded_dims, pad_offset;
  fused::Activation act;
  bool has_bias = false, has_z = false;
  DirectConvParams direct;  // geometry for the fallback when cuDNN has no algorithm (pointers set at run time)
  bool own_depthwise = false;  // channels-last depthwise that depthwise.cu takes (tactic 0)
  DepthwiseParams depthwise;   // its geometry (pointers set at run time)
};

// Whether cuDNN's runtime-compiled engines may serve this call. They cannot run inside CUDA graphs (run_graph_conv),
// so they are offered only at the input shape the build tuned, where the build weighed the whole run with them
// (without graphs) against their capturable alternatives (planner.cc); in engines built with
// KILN_CUDA_CONV_RTC_PROFILES=1 (the node carries kRtcProfilesAttr), at every profile's tuned shape
// (ctx.tactic_tuned_for_shape()), each weighed the same way. At any other shape, and on nodes the build never tuned,
// the tactic list holds only capturable engines. KILN_CUDA_CONV_RTC=0 bars them everywhere, =1 offers them at every
// shape (tests, diagnosis).
bool at_tuned_shape(const CudaKernelContext& ctx) {
  static const int mode = [] {
    const char* v = std::getenv("KILN_CUDA_CONV_RTC");
    return !v || !*v ? -1 : std::string(v) == "1" ? 1 : 0;
  }();
  if (mode >= 0) return mode == 1;
  const std::vector<int64_t> tuned = ctx.attrs().get_ints(kTacticDimsAttr, {});
  if (tuned.empty()) return false;  // never tuned
  if (ctx.attrs().get_int(kRtcProfilesAttr, 0) == 1) return ctx.tuning() || ctx.tactic_tuned_for_shape();
  return Dims(tuned.begin(), tuned.end()) == ctx.input_dims(0);
}

Status plan_conv(CudaKernelContext& ctx, bool fused_op, ConvCall* c) {
  c->nhwc = fused_op && is_channels_last(ctx.node());
  KILN_ASSIGN_OR_RETURN(c->type, conv_float_input(ctx, 0, "X"));
  if (ctx.input_dtype(1) != ctx.input_dtype(0)) return ctx.error("W dtype must match X dtype");
  if (fused_op) {
    KILN_ASSIGN_OR_RETURN(c->act, fused::parse_activation(ctx.node()));
  }
  const Dims& xd = ctx.input_dims(0);
  const Dims& wd = ctx.input_dims(1);
  if (xd.size() < 3 || xd.size() > 5)
    return ctx.unsupported("Conv input of rank " + std::to_string(xd.size()) + " (1-D to 3-D convolutions only)");
  if (wd.size() != xd.size()) return ctx.error("W rank must equal X rank");
  const int64_t group = ctx.attrs().get_int("group", 1);
  if (group <= 0) return ctx.error("group must be positive");
  const int64_t n = xd[0], ch = channels_of(xd, c->nhwc), m = wd[0], cg = c->nhwc ? wd.back() : wd[1];
  if (cg * group != ch)
    return ctx.error("input channels " + std::to_string(ch) + " != W channels (" + std::to_string(cg) + ") * group (" +
                     std::to_string(group) + ")");
  if (m % group != 0) return ctx.error("output channels " + std::to_string(m) + " not divisible by group");
  const Dims kernel = spatial_of(wd, c->nhwc);
  const Dims ks = ctx.attrs().get_ints("kernel_shape");
  if (!ks.empty() && ks != kernel)
    return ctx.error("kernel_shape " + dims_to_string(ks) + " does not match W's kernel " + dims_to_string(kernel));
  ConvWindow win;
  KILN_RETURN_IF_ERROR(compute_conv_window(ctx, spatial_of(xd, c->nhwc), kernel, false, &win));
  c->m = m;
  c->y_dims = make_activation_dims(n, m, win.out, c->nhwc);
  c->out_spatial = numel_of(win.out);
  if (ctx.has_input(2)) {
    if (ctx.input_dtype(2) != ctx.input_dtype(0)) return ctx.error("bias B must have X's dtype");
    if (ctx.input_dims(2) != Dims{m})
      return ctx.error("bias B must have shape [" + std::to_string(m) + "]; got " + dims_to_string(ctx.input_dims(2)));
    c->has_bias = true;
  }
  if (fused_op && ctx.has_input(3)) {
    if (ctx.input_dtype(3) != ctx.input_dtype(0)) return ctx.error("Z must have X's dtype");
    if (ctx.input_dims(3) != c->y_dims)
      return ctx.error("Z must have the output's shape " + dims_to_string(c->y_dims) + "; got " +
                       dims_to_string(ctx.input_dims(3)));
    c->has_z = true;
  }
  DirectConvParams& d = c->direct;
  d.type = c->type;
  d.channels_last = c->nhwc;
  d.n = n;
  d.c = ch;
  d.m = m;
  d.group = group;
  for (size_t i = 0; i < win.nd; ++i) {
    d.in[i] = win.in[i];
    d.out[i] = win.out[i];
    d.kernel[i] = win.kernel[i];
    d.stride[i] = win.strides[i];
    d.dilation[i] = win.dilations[i];
    d.pad_begin[i] = win.pads[i];
  }
  if (c->nhwc && group == ch && m == ch && win.nd <= 2) {
    DepthwiseParams& dw = c->depthwise;
    const size_t h = win.nd == 2 ? 0 : 1;  // 1-D: H = 1
    auto at = [&](const Dims& v, size_t i, int64_t one) { return static_cast<int>(h == 1 && i == 0 ? one : v[i - h]); };
    dw.type = c->type;
    dw.n = n;
    dw.c = ch;
    dw.in_h = at(win.in, 0, 1), dw.in_w = at(win.in, 1, 1);
    dw.out_h = at(win.out, 0, 1), dw.out_w = at(win.out, 1, 1);
    dw.kh = at(win.kernel, 0, 1), dw.kw = at(win.kernel, 1, 1);
    dw.sh = at(win.strides, 0, 1), dw.sw = at(win.strides, 1, 1);
    dw.dh = at(win.dilations, 0, 1), dw.dw = at(win.dilations, 1, 1);
    dw.ph = at(win.pads, 0, 0), dw.pw = at(win.pads, 1, 0);
    dw.act = ep_act_of(c->act.kind);
    dw.act_alpha = c->act.alpha;
    dw.act_beta = c->act.beta;
    bool fits = true;
    for (const Dims* v : {&win.in, &win.out, &win.kernel, &win.strides, &win.dilations})
      for (int64_t e : *v) fits = fits && e <= INT_MAX / 4;
    for (size_t i = 0; i < win.nd; ++i) fits = fits && win.pads[i] <= INT_MAX / 4;
    c->own_depthwise = fits && depthwise_supported(dw) && own_cuda_kernels_enabled();
  }
  // cuDNN wants >= 2 spatial dims: a 1-D conv is a 2-D one with H = 1.
  Dims in = win.in, kk = win.kernel, st = win.strides, dil = win.dilations, out = win.out;
  Dims pb(win.pads.begin(), win.pads.begin() + win.nd), pe(win.pads.begin() + win.nd, win.pads.end());
  if (win.nd == 1) {
    for (Dims* v : {&in, &kk, &st, &dil, &out}) v->insert(v->begin(), 1);
    pb.insert(pb.begin(), 0);
    pe.insert(pe.begin(), 0);
  }
  c->x_mem_dims = make_activation_dims(n, ch, in, c->nhwc);
  GraphConvProblem& g = c->graph;
  g.type = c->type;
  g.channels_last = c->nhwc;
  g.tf32 = ctx.allow_tf32();
  g.x_dims = {n, ch};
  g.x_dims.insert(g.x_dims.end(), in.begin(), in.end());
  g.w_dims = {m, cg};
  g.w_dims.insert(g.w_dims.end(), kk.begin(), kk.end());
  g.y_dims = {n, m};
  g.y_dims.insert(g.y_dims.end(), out.begin(), out.end());
  g.pre_pads = pb;
  g.post_pads = pe;
  g.strides = st;
  g.dilations = dil;
  g.bias = c->has_bias;
  g.z = c->has_z;
  g.relu = c->act.kind == fused::ActKind::kRelu;
  g.runtime_compiled = at_tuned_shape(ctx);
  c->pad_input = !win.symmetric_pads();
  Dims conv_pads = pb;
  if (c->pad_input) {
    Dims padded = in;
    for (size_t i = 0; i < in.size(); ++i) padded[i] += pb[i] + pe[i];
    c->padded_dims = make_activation_dims(n, ch, padded, c->nhwc);
    Dims neg_pb = pb;
    for (int64_t& v : neg_pb) v = -v;
    c->pad_offset = make_activation_dims(0, 0, neg_pb, c->nhwc);
    in = padded;
    conv_pads.assign(in.size(), 0);
  }
  ConvProblem& p = c->problem;
  p.type = c->type;
  p.channels_last = c->nhwc;
  p.tf32 = ctx.allow_tf32();
  p.groups = static_cast<int>(group);
  Dims xl{n, ch}, wl{m, cg}, yl{n, m};
  xl.insert(xl.end(), in.begin(), in.end());
  wl.insert(wl.end(), kk.begin(), kk.end());
  yl.insert(yl.end(), out.begin(), out.end());
  KILN_ASSIGN_OR_RETURN(p.x_dims, to_cudnn_dims(ctx, xl));
  KILN_ASSIGN_OR_RETURN(p.w_dims, to_cudnn_dims(ctx, wl));
  KILN_ASSIGN_OR_RETURN(p.y_dims, to_cudnn_dims(ctx, yl));
  KILN_ASSIGN_OR_RETURN(p.pads, to_cudnn_dims(ctx, conv_pads));
  KILN_ASSIGN_OR_RETURN(p.strides, to_cudnn_dims(ctx, st));
  KILN_ASSIGN_OR_RETURN(p.dilations, to_cudnn_dims(ctx, dil));
  return ok_status();
}

// Test hook: KILN_CUDA_CONV_DIRECT=1 skips cuDNN so that the GPU tests can check the direct fallback kernel.
bool force_direct_conv() {
  const char* v = std::getenv("KILN_CUDA_CONV_DIRECT");
  return v && std::string(v) == "1";
}

// Test hook: KILN_CUDA_CONV_TACTIC=t runs tactic t instead of the tuned one, so that the GPU tests can check every
// tactic (the tactic names, from conv_tactic_name, say which are graph plans).
// At a shape no profile tuned (ctx.tactic_tuned_for_shape() false) the tuned index would name an arbitrary plan of
// this shape, and reaching it means building every plan before it: run our own kernel if the tuner chose it (its
// index, 0, means the same kernel at every shape), else cuDNN's first choice (index `own`).
int64_t tactic_to_run(const CudaKernelContext& ctx, int own) {
  const char* v = std::getenv("KILN_CUDA_CONV_TACTIC");
  if (v && *v) return std::atoll(v);
  if (!ctx.tactic_tuned_for_shape()) return ctx.tactic() < own ? 0 : own;
  return ctx.tactic();
}

Status run_own_depthwise(CudaKernelContext& ctx, const ConvCall& c, const void* x, const void* w, const void* bias,
                         const void* z, void* y) {
  DepthwiseParams p = c.depthwise;
  p.x = x;
  p.w = w;
  p.bias = bias;
  p.z = z;
  p.y = y;
  return cuda_status(launch_depthwise_nhwc(p, ctx.stream()), "depthwise_nhwc launch");
}

// y = act(y + bias + Z) in place; nothing when there is no bias, no Z and no activation.
Status conv_epilogue(CudaKernelContext& ctx, const ConvCall& c, void* y, const void* bias, const void* z,
                     fused::ActKind act) {
  if (!bias && !z && act == fused::ActKind::kNone) return ok_status();
  EpilogueParams ep;
  ep.y = y;
  ep.type = c.type;
  ep.n = numel_of(c.y_dims);
  ep.bias = bias;
  ep.bias_inner = c.nhwc ? 1 : c.out_spatial;
  ep.bias_channels = c.m;
  ep.z = z;
  ep.z_full = true;
  ep.act = ep_act_of(act);
  ep.act_alpha = c.act.alpha;
  ep.act_beta = c.act.beta;
  return run_epilogue(ctx, ep);
}

// The tactic lists of one call: graph plans first (G of them), then legacy algorithms (L).
struct ConvTactics {
  std::shared_ptr<const GraphConvPlans> graph;
  bool graph_fused = false;  // graph plans include c.graph's bias / Z / ReLU (else a bare conv + epilogue)
  const ConvPlan* legacy = nullptr;
  int num_graph() const { return graph ? graph->num_plans() : 0; }
  int num_legacy() const { return legacy ? legacy->num_algos() : 0; }
};

// Tactic names per node name for `kiln inspect` / profiles (tactic_name sees only the node). Display only.
std::mutex g_names_mu;
std::map<std::string, std::vector<std::string>> g_tactic_names;

void publish_tactic_names(CudaKernelContext& ctx, const ConvCall& c, const ConvTactics& t) {
  std::vector<std::string> names;
  if (c.own_depthwise) names.push_back("Kiln depthwise kernel (bias, Z and activation fused)");
  const std::string fused = t.graph_fused ? c.graph.fused_ops() : "";
  for (int i = 0; i < t.num_graph(); ++i)
    names.push_back("cuDNN graph engine " + t.graph->name(i) + (fused.empty() ? "" : " (fused " + fused + ")"));
  for (int i = 0; i < t.num_legacy(); ++i) {
    const ConvAlgo& a = t.legacy->algo(i);
    names.push_back(
        "cuDNN legacy algo " + std::to_string(a.algo) +
        (a.math == CUDNN_TENSOR_OP_MATH || a.math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION ? " tensor-op" : ""));
  }
  if (names.size() == (c.own_depthwise ? 1u : 0u)) names.push_back("direct conv kernel (no cuDNN algorithm)");
  std::lock_guard<std::mutex> lock(g_names_mu);
  g_tactic_names[ctx.node().name] = std::move(names);
}

// Graph plans (the fused graph, else the bare conv) and legacy algorithms for the call; either may be absent.
// `need_legacy` false: the legacy list is looked up only the first time (to publish tactic names), not per run.
// `want_graph`: graph plans needed (kAllGraphPlans to count tactics; tactic + 1 to run one).
ConvTactics conv_tactics_for(CudaKernelContext& ctx, const ConvCall& c, bool need_legacy, int want_graph) {
  ConvTactics t;
  if (!graph_conv_disabled()) {
    auto g = graph_conv_plans_for(ctx, c.graph, want_graph);
    t.graph_fused = g.ok();
    if (!g.ok() && (c.graph.bias || c.graph.z || c.graph.relu)) {
      GraphConvProblem bare = c.graph;
      bare.bias = bare.z = bare.relu = false;
      g = graph_conv_plans_for(ctx, bare, want_graph);
    }
    if (g.ok()) t.graph = *g;
  }
  bool& named = node_state_as<ConvNodeState>(ctx).named[c.graph.key()];
  if (need_legacy || !named) {
    auto legacy = conv_plan_for(ctx, c.problem);
    if (legacy.ok()) t.legacy = *legacy;
  }
  if (!named) publish_tactic_names(ctx, c, t);
  named = true;
  return t;
}

bool env_is_1(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string(v) == "1";
}

Status run_graph_conv(CudaKernelContext& ctx, const ConvCall& c, const ConvTactics& t, int plan, const void* x,
                      const void* w, const void* bias, const void* z, void* y) {
  const bool rtc = t.graph->runtime_compiled(plan);
  void* ws = nullptr;
  if (t.graph->workspace(plan) > 0) {
    KILN_ASSIGN_OR_RETURN(ws, ctx.workspace(t.graph->workspace(plan)));
  }
  const bool fb = t.graph_fused && c.graph.bias, fz = t.graph_fused && c.graph.z;
  const bool fr = t.graph_fused && c.graph.relu;
  GraphConvProblem problem = c.graph;  // what t.graph was built for: the fused graph, else the bare convolution
  if (!t.graph_fused) problem.bias = problem.z = problem.relu = false;
  // Runtime-compiled engines return wrong answers replayed from CUDA graphs while their plain runs are right
  // (docs/server.md): shapes that run one go without graphs. KILN_CUDA_CONV_RTC_GRAPHS=1 keeps them in graphs
  // (diagnosis only: it reproduces the wrong answers).
  static const bool rtc_graphs = env_is_1("KILN_CUDA_CONV_RTC_GRAPHS");
  if (!ctx.tuning() && rtc && !rtc_graphs)
    KILN_RETURN_IF_ERROR(ctx.disallow_graph_capture("runtime-compiled cuDNN engine " + t.graph->name(plan)));
  KILN_ASSIGN_OR_RETURN(auto plans, graph_conv_plan_to_run(ctx, problem, t.graph, plan));
  KILN_RETURN_IF_ERROR(plans->run(ctx, plan, x, w, fb ? bias : nullptr, fz ? z : nullptr, y, ws));
  return conv_epilogue(ctx, c, y, fb ? nullptr : bias, fz ? nullptr : z, fr ? fused::ActKind::kNone : c.act.kind);
}

Status run_legacy_conv(CudaKernelContext& ctx, const ConvCall& c, const ConvPlan* plan, int64_t tactic, const void* x,
                       const void* w, const void* bias, const void* z, void* y) {
  const ConvAlgo& algo = plan->algo(tactic);
  const size_t pad_bytes = c.pad_input ? align256(numel_of(c.padded_dims) * elem_size(c.type)) : 0;
  char* ws = nullptr;
  if (pad_bytes + algo.workspace > 0) {
    KILN_ASSIGN_OR_RETURN(void* raw, ctx.workspace(pad_bytes + algo.workspace));
    ws = static_cast<char*>(raw);
  }
  const void* x_in = x;
  if (c.pad_input) {
    auto cp = window_copy_params(x, c.x_mem_dims, ws, c.padded_dims, c.pad_offset, c.type);
    KILN_RETURN_IF_ERROR(cuda_status(launch_window_copy(cp, ctx.stream()), "window_copy (conv input padding)"));
    x_in = ws;
  }
  void* conv_ws = algo.workspace > 0 ? ws + pad_bytes : nullptr;
  const bool cudnn_act = c.act.kind == fused::ActKind::kNone || c.act.kind == fused::ActKind::kRelu;
  if (cudnn_act && plan->try_fused(ctx, algo, x_in, w, z, bias, c.act.kind == fused::ActKind::kRelu, y, conv_ws))
    return ok_status();
  KILN_RETURN_IF_ERROR(plan->forward(ctx, algo, x_in, w, y, conv_ws));
  return conv_epilogue(ctx, c, y, bias, z, c.act.kind);
}

Status run_conv(CudaKernelContext& ctx, bool fused_op) {
  ConvCall c;
  KILN_RETURN_IF_ERROR(plan_conv(ctx, fused_op, &c));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), c.y_dims));
  if (numel_of(c.y_dims) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor w, ctx.input(1));
  const void* bias = nullptr;
  const void* z = nullptr;
  if (c.has_bias) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(2));
    bias = b.data;
  }
  if (c.has_z) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor zt, ctx.input(3));
    z = zt.data;
  }
  ConvTactics t;
  if (force_direct_conv()) c.own_depthwise = false;
  const int own = c.own_depthwise ? 1 : 0;
  const int64_t chosen = tactic_to_run(ctx, own);
  if (chosen >= 0 && chosen < own) return run_own_depthwise(ctx, c, x.data, w.data, bias, z, y.data);
  if (own && !node_state_as<ConvNodeState>(ctx).named[c.graph.key()]) (void)conv_tactics_for(ctx, c, false, 1);
  const int64_t tactic = chosen - own;  // index among cuDNN's tactics
  // Plans up to the tactic only: a graph tactic index needs that many plans; a larger index found the list complete,
  // so it counts legacy algorithms after the full graph list.
  const int want = tactic >= 0 && tactic < kAllGraphPlans ? static_cast<int>(tactic) + 1 : 1;
  if (!force_direct_conv()) t = conv_tactics_for(ctx, c, false, want);
  const int g = t.num_graph();
  if ((tactic < 0 || tactic >= g) && !t.legacy && !force_direct_conv()) t = conv_tactics_for(ctx, c, true, want);
  if (tactic >= 0 && tactic < g)
    return run_graph_conv(ctx, c, t, static_cast<int>(tactic), x.data, w.data, bias, z, y.data);
  if (t.legacy) return run_legacy_conv(ctx, c, t.legacy, tactic - g, x.data, w.data, bias, z, y.data);
  if (g > 0) return run_graph_conv(ctx, c, t, 0, x.data, w.data, bias, z, y.data);  // stale tactic index
  // No cuDNN plan (or descriptor) for this combination: the direct kernel, then the epilogue.
  DirectConvParams d = c.direct;
  d.x = x.data;
  d.w = w.data;
  d.y = y.data;
  KILN_RETURN_IF_ERROR(cuda_status(launch_direct_conv(d, ctx.stream()), "direct_conv_nd launch"));
  return conv_epilogue(ctx, c, y.data, bias, z, c.act.kind);
}

int conv_tactics_common(CudaKernelContext& ctx, bool fused_op) {
  ConvCall c;
  if (!plan_conv(ctx, fused_op, &c).ok() || numel_of(c.y_dims) == 0 || force_direct_conv()) return 1;
  const ConvTactics t = conv_tactics_for(ctx, c, true, kAllGraphPlans);
  return (c.own_depthwise ? 1 : 0) + std::max(1, t.num_graph() + t.num_legacy());
}

// A runtime-compiled cuDNN graph engine cannot run inside a CUDA graph (run_graph_conv).
bool conv_tactic_breaks_graphs_common(CudaKernelContext& ctx, bool fused_op, int64_t tactic) {
  ConvCall c;
  if (!plan_conv(ctx, fused_op, &c).ok() || numel_of(c.y_dims) == 0 || force_direct_conv()) return false;
  const int64_t k = tactic - (c.own_depthwise ? 1 : 0);
  if (k < 0) return false;
  const ConvTactics t = conv_tactics_for(ctx, c, false, kAllGraphPlans);
  return t.graph && k < t.num_graph() && t.graph->runtime_compiled(static_cast<int>(k));
}

Status conv_run(CudaKernelContext& ctx) { return run_conv(ctx, false); }
bool conv_breaks_graphs(CudaKernelContext& ctx, int64_t tactic) {
  return conv_tactic_breaks_graphs_common(ctx, false, tactic);
}
bool fused_conv_breaks_graphs(CudaKernelContext& ctx, int64_t tactic) {
  return conv_tactic_breaks_graphs_common(ctx, true, tactic);
}
Status fused_conv_run(CudaKernelContext& ctx) { return run_conv(ctx, true); }
int conv_tactics(CudaKernelContext& ctx) { return conv_tactics_common(ctx, false); }
int fused_conv_tactics(CudaKernelContext& ctx) { return conv_tactics_common(ctx, true); }

bool conv_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  return known_types_are_float(types, {0, 1, 2}) && known_rank_within(types, 0, 3, 5);
}
bool fused_conv_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  const std::string layout = node.attrs.get_string("layout", "NCHW");
  return known_types_are_float(types, {0, 1, 2, 3}) && known_rank_within(types, 0, 3, 5) &&
         (layout == "NCHW" || layout == "NHWC") && fused::parse_activation(node).ok();
}
std::string conv_tactic_name(const Node& node, int64_t tactic) {
  {
    std::lock_guard<std::mutex> lock(g_names_mu);
    auto it = g_tactic_names.find(node.name);
    if (it != g_tactic_names.end() && tactic >= 0 && tactic < static_cast<int64_t>(it->second.size()))
      return it->second[tactic];
  }
  return "cuDNN conv tactic #" + std::to_string(tactic) + " (graph plans first, then legacy algorithms)";
}

}  // namespace

CudaKernel conv_kernel() {
  CudaKernel k{conv_run, conv_supports, conv_tactics, conv_tactic_name};
  k.tactic_breaks_graphs = conv_breaks_graphs;
  return k;
}
CudaKernel fused_conv_kernel() {
  CudaKernel k{fused_conv_run, fused_conv_supports, fused_conv_tactics, conv_tactic_name};
  k.tactic_breaks_graphs = fused_conv_breaks_graphs;
  return k;
}

}  // namespace kiln::cuda
