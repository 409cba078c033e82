// Host side of LayerNormalization (Scale/B broadcast to X.shape[axis:], optional float32 Mean/InvStdDev),
// RMSNormalization and GroupNormalization (scale/bias per channel, opset 21, or per group, opset 18).
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/host_util.h"
#include "backends/cuda/norm/kernels.h"
#include "backends/cuda/norm/launch.h"
#include "ir/norm_params.h"

namespace kiln::cuda::norm {
namespace {

// LayerNormalization / RMSNormalization (X, Scale, B), or with `add` FusedAddLayerNorm (X, R, Scale, B): X + R
// normalized over the last axis, R's rows repeating over X's (R is a suffix of X's shape; checked by inference; R
// may be omitted), and with fp8_scale also Y as float8e4m3fn (output 1; output 0 may then be omitted).
Status run_layer_norm(CudaKernelContext& ctx, bool rms, bool add = false) {
  const size_t si = add ? 2 : 1, bi = si + 1;  // Scale and B input indices
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  if (!ctx.has_input(si)) return ctx.error("Scale input is required");
  const DType pt = ctx.input_dtype(si);
  if (!is_float_dtype(pt)) return ctx.unsupported(std::string("Scale dtype ") + dtype_name(pt) + " is not supported");
  const bool has_bias = !rms && ctx.has_input(bi);
  if (has_bias && ctx.input_dtype(bi) != pt) return ctx.error("B dtype must equal Scale dtype");
  if (add && ctx.has_input(1) && ctx.input_dtype(1) != dt) return ctx.error("R must have X's dtype");
  const Dims& dims = ctx.input_dims(0);
  const int64_t rank = static_cast<int64_t>(dims.size());
  auto params = layer_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  auto axis_or = layer_norm_axis(*params, rank);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  if (add && axis != rank - 1) return ctx.error("FusedAddLayerNorm normalizes the last axis only");
  const Dims inner_dims(dims.begin() + axis, dims.end());
  const int64_t cols = numel_of(inner_dims), rows = cols ? numel_of(dims) / cols : 0;
  const void* residual = nullptr;
  int64_t residual_rows = 1;
  if (add && ctx.has_input(1)) {
    const int64_t r_numel = numel_of(ctx.input_dims(1));
    if (cols == 0 || r_numel == 0 || r_numel % cols != 0 || rows % (r_numel / cols) != 0)
      return ctx.error("R " + dims_str(ctx.input_dims(1)) + " does not repeat over the rows of X " + dims_str(dims));
    KILN_ASSIGN_OR_RETURN(DeviceTensor r, ctx.input(1));
    residual = r.data;
    residual_rows = r_numel / cols;
  }
  const float eps = params->epsilon;
  // One workspace holds both broadcast copies (each workspace() call returns the same buffer).
  KILN_ASSIGN_OR_RETURN(size_t scale_bytes, broadcast_param_bytes(ctx, si, "Scale", inner_dims));
  size_t bias_bytes = 0;
  if (has_bias) {
    KILN_ASSIGN_OR_RETURN(bias_bytes, broadcast_param_bytes(ctx, bi, "B", inner_dims));
  }
  char* scratch = nullptr;
  if (scale_bytes + bias_bytes > 0) {
    KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(scale_bytes + bias_bytes));
    scratch = static_cast<char*>(ws);
  }
  KILN_ASSIGN_OR_RETURN(const void* scale, broadcast_param(ctx, si, "Scale", inner_dims, scratch));
  const void* bias = nullptr;
  if (has_bias) {
    KILN_ASSIGN_OR_RETURN(bias, broadcast_param(ctx, bi, "B", inner_dims, scratch ? scratch + scale_bytes : nullptr));
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  void* y = nullptr;
  if (!add || ctx.wants_output(0)) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor yt, ctx.allocate_output(0, dt, dims));
    y = yt.data;
  }
  LayerNormFp8 fp8;  // FusedAddLayerNorm's float8 copy of Y (output 1), when fp8_scale is set
  if (add && ctx.attrs().has("fp8_scale") && ctx.num_outputs() > 1 && ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor q, ctx.allocate_output(1, DType::kFloat8E4M3FN, dims));
    fp8.y = q.data;
    fp8.scale = ctx.attrs().get_float("fp8_scale", 1.f);
    fp8.round_to_x = ctx.attrs().get_int("fp8_round_to_x", 0) != 0;
  }
  if (!y && !fp8.y) return ok_status();  // no output is read
  float* stats[2] = {nullptr, nullptr};
  if (!rms && !add) {
    Dims sd = dims;
    for (int64_t i = axis; i < rank; ++i) sd[i] = 1;
    for (size_t o = 1; o <= 2; ++o) {
      if (o >= ctx.num_outputs() || !ctx.wants_output(o)) continue;
      KILN_ASSIGN_OR_RETURN(DeviceTensor t, ctx.allocate_output(o, DType::kFloat32, sd));
      stats[o - 1] = t.ptr<float>();
    }
  }
  KILN_CUDA_RETURN_IF_ERROR(launch_layer_norm(dt, pt, x.data, scale, bias, y, stats[0], stats[1], rows, cols, eps,
                                              rms, ctx.stream(), residual, residual_rows, fp8));
  return ok_status();
}

bool supports_layer_norm(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!input_is_float_or_unknown(types, 0) || !input_is_float_or_unknown(types, 1) ||
      !input_is_float_or_unknown(types, 2))
    return false;
  // Mean/InvStdDev are produced in float32 only.
  const bool stats = node.has_output(1) || node.has_output(2);
  auto params = layer_norm_params(node.attrs);
  return params.ok() && (!stats || params->stash_type == DType::kFloat32);
}

bool supports_fused_add_layer_norm(const Node& node, const std::vector<const TypeInfo*>& types) {
  for (size_t i = 0; i < 4; ++i)
    if (!input_is_float_or_unknown(types, i)) return false;
  return node.outputs.size() == 1 || node.attrs.has("fp8_scale");
}

bool supports_rms_norm(const Node& /*node*/, const std::vector<const TypeInfo*>& types) {
  return input_is_float_or_unknown(types, 0) && input_is_float_or_unknown(types, 1);
}

Status run_group_norm(CudaKernelContext& ctx) {
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.error("scale and bias inputs are required");
  const DType pt = ctx.input_dtype(1);
  if (!is_float_dtype(pt) || ctx.input_dtype(2) != pt)
    return ctx.unsupported("scale and bias must share a float dtype");
  const Dims& dims = ctx.input_dims(0);
  if (dims.size() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...); got " + dims_str(dims));
  auto params = group_norm_params(ctx.node());
  if (!params.ok()) return ctx.error(params.status().message());
  const int64_t g = params->num_groups, n = dims[0], c = dims[1];
  if (Status st = check_group_norm_channels(*params, c); !st.ok()) return ctx.error(st.message());
  const int64_t spatial = numel_of(Dims(dims.begin() + 2, dims.end()));
  const int64_t pn = numel_of(ctx.input_dims(1));
  const bool per_channel = params->per_channel(c, pn);
  const int64_t want = per_channel ? c : g;
  if (pn != want || numel_of(ctx.input_dims(2)) != want)
    return ctx.error("scale and bias must have " + std::to_string(want) + " elements, got " +
                     dims_str(ctx.input_dims(1)) + " and " + dims_str(ctx.input_dims(2)));
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor s, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(2));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, dt, dims));
  const float eps = params->epsilon;
  KILN_CUDA_RETURN_IF_ERROR(
      launch_group_norm(dt, pt, x.data, s.data, b.data, y.data, n, c, spatial, g, per_channel, eps, ctx.stream()));
  return ok_status();
}

bool supports_group_norm(const Node& /*node*/, const std::vector<const TypeInfo*>& types) {
  return input_is_float_or_unknown(types, 0) && input_is_float_or_unknown(types, 1) &&
         input_is_float_or_unknown(types, 2);
}

}  // namespace

CudaKernel layer_norm_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_layer_norm(ctx, false); }, &supports_layer_norm};
}
CudaKernel fused_add_layer_norm_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_layer_norm(ctx, false, true); },
                    &supports_fused_add_layer_norm};
}
CudaKernel rms_norm_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_layer_norm(ctx, true); }, &supports_rms_norm};
}
CudaKernel group_norm_kernel() { return CudaKernel{&run_group_norm, &supports_group_norm}; }

}  // namespace kiln::cuda::norm
