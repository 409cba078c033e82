// ConvTranspose (NCHW) on cuDNN backward-data: the full, unpadded result goes to the workspace, then the
// requested window (pads, output_padding, output_shape) is cropped into Y and the bias added by the epilogue.
#include "backends/cuda/conv/conv_common.h"
#include "backends/cuda/conv/conv_kernels.h"
#include "backends/cuda/conv/cudnn_conv.h"
#include "backends/cuda/cuda_check.h"
#include "ir/window_params.h"

namespace kiln::cuda {
namespace {

struct ConvTransposeCall {
  ElemType type = ElemType::kF32;
  ConvProblem problem;
  Dims y_dims, full_mem_dims, crop_offset;
  bool direct = false;  // the full result is Y itself (no pads, no output padding)
  int64_t m = 0, out_spatial = 0;
};

Status plan_conv_transpose(CudaKernelContext& ctx, ConvTransposeCall* c) {
  KILN_ASSIGN_OR_RETURN(c->type, conv_float_input(ctx, 0, "X"));
  if (ctx.input_dtype(1) != ctx.input_dtype(0)) return ctx.error("W dtype must match X dtype");
  const Dims& xd = ctx.input_dims(0);
  const Dims& wd = ctx.input_dims(1);
  if (xd.size() < 3 || xd.size() > 5) return ctx.unsupported("ConvTranspose of rank " + std::to_string(xd.size()));
  if (wd.size() != xd.size()) return ctx.error("W rank must equal X rank");
  const size_t nd = xd.size() - 2;
  const int64_t group = ctx.attrs().get_int("group", 1);
  if (group <= 0) return ctx.error("group must be positive");
  const int64_t n = xd[0], ch = xd[1];
  if (wd[0] != ch) return ctx.error("W.shape[0] must equal the input channels " + std::to_string(ch));
  if (ch % group != 0) return ctx.error("input channels not divisible by group");
  const int64_t mg = wd[1], m = mg * group;
  Dims in(xd.begin() + 2, xd.end()), kernel(wd.begin() + 2, wd.end());
  const Dims ks = ctx.attrs().get_ints("kernel_shape");
  if (!ks.empty() && ks != kernel) return ctx.error("kernel_shape does not match W's spatial shape");
  auto attrs = parse_conv_transpose_attrs(ctx.attrs(), nd);
  if (!attrs.ok()) return ctx.error(attrs.status().message());
  auto geometry = conv_transpose_geometry(*attrs, in, kernel);
  if (!geometry.ok()) return ctx.error(geometry.status().message());
  const Dims &strides = attrs->window.strides, &dil = attrs->window.dilations;
  const Dims &pads = geometry->pads, &out = geometry->out, &full = geometry->full;
  if (ctx.has_input(2)) {
    if (ctx.input_dtype(2) != ctx.input_dtype(0)) return ctx.error("bias B must have X's dtype");
    if (ctx.input_dims(2) != Dims{m}) return ctx.error("bias B must have shape [" + std::to_string(m) + "]");
  }
  c->m = m;
  c->y_dims = Dims{n, m};
  c->y_dims.insert(c->y_dims.end(), out.begin(), out.end());
  c->out_spatial = numel_of(out);
  c->direct = out == full;
  for (size_t i = 0; i < nd; ++i) c->direct = c->direct && pads[i] == 0;
  Dims in2 = in, k2 = kernel, s2 = strides, d2 = dil, f2 = full;
  c->crop_offset = Dims{0, 0};
  if (nd == 1) {
    for (Dims* v : {&in2, &k2, &s2, &d2, &f2}) v->insert(v->begin(), 1);
    c->crop_offset.push_back(0);
  }
  for (size_t i = 0; i < nd; ++i) c->crop_offset.push_back(pads[i]);
  c->full_mem_dims = Dims{n, m};
  c->full_mem_dims.insert(c->full_mem_dims.end(), f2.begin(), f2.end());
  ConvProblem& p = c->problem;
  p.type = c->type;
  p.tf32 = ctx.allow_tf32();
  p.backward_data = true;
  p.groups = static_cast<int>(group);
  Dims xl = c->full_mem_dims, wl{ch, mg}, yl{n, ch};
  wl.insert(wl.end(), k2.begin(), k2.end());
  yl.insert(yl.end(), in2.begin(), in2.end());
  KILN_ASSIGN_OR_RETURN(p.x_dims, to_cudnn_dims(ctx, xl));
  KILN_ASSIGN_OR_RETURN(p.w_dims, to_cudnn_dims(ctx, wl));
  KILN_ASSIGN_OR_RETURN(p.y_dims, to_cudnn_dims(ctx, yl));
  p.pads.assign(in2.size(), 0);
  KILN_ASSIGN_OR_RETURN(p.strides, to_cudnn_dims(ctx, s2));
  KILN_ASSIGN_OR_RETURN(p.dilations, to_cudnn_dims(ctx, d2));
  return ok_status();
}

Status conv_transpose_run(CudaKernelContext& ctx) {
  ConvTransposeCall c;
  KILN_RETURN_IF_ERROR(plan_conv_transpose(ctx, &c));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), c.y_dims));
  if (numel_of(c.y_dims) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor w, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const ConvPlan* plan, conv_plan_for(ctx, c.problem));
  const ConvAlgo& algo = plan->algo(ctx.tactic());
  const size_t full_bytes = c.direct ? 0 : align256(numel_of(c.full_mem_dims) * elem_size(c.type));
  char* ws = nullptr;
  if (full_bytes + algo.workspace > 0) {
    KILN_ASSIGN_OR_RETURN(void* raw, ctx.workspace(full_bytes + algo.workspace));
    ws = static_cast<char*>(raw);
  }
  void* full = c.direct ? y.data : ws;
  KILN_RETURN_IF_ERROR(
      plan->backward_data(ctx, algo, w.data, x.data, full, algo.workspace ? ws + full_bytes : nullptr));
  if (!c.direct) {
    Dims y_mem = c.y_dims;
    if (c.full_mem_dims.size() != y_mem.size()) y_mem.insert(y_mem.begin() + 2, 1);  // 1-D as H = 1
    auto cp = window_copy_params(full, c.full_mem_dims, y.data, y_mem, c.crop_offset, c.type);
    KILN_RETURN_IF_ERROR(cuda_status(launch_window_copy(cp, ctx.stream()), "window_copy (ConvTranspose crop)"));
  }
  if (!ctx.has_input(2)) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(2));
  EpilogueParams ep;
  ep.y = y.data;
  ep.type = c.type;
  ep.n = numel_of(c.y_dims);
  ep.bias = b.data;
  ep.bias_inner = c.out_spatial;
  ep.bias_channels = c.m;
  return run_epilogue(ctx, ep);
}

int conv_transpose_tactics(CudaKernelContext& ctx) {
  ConvTransposeCall c;
  if (!plan_conv_transpose(ctx, &c).ok() || numel_of(c.y_dims) == 0) return 1;
  auto plan = conv_plan_for(ctx, c.problem);
  return plan.ok() ? (*plan)->num_algos() : 1;
}

bool conv_transpose_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  return known_types_are_float(types, {0, 1, 2}) && known_rank_within(types, 0, 3, 5);
}
std::string conv_transpose_tactic_name(const Node& node, int64_t tactic) {
  return "cuDNN backward-data algorithm list #" + std::to_string(tactic);
}

}  // namespace

CudaKernel conv_transpose_kernel() {
  return {conv_transpose_run, conv_transpose_supports, conv_transpose_tactics, conv_transpose_tactic_name};
}

}  // namespace kiln::cuda
