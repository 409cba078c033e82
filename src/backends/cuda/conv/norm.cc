// BatchNormalization (inference), InstanceNormalization and LRN: own CUDA kernels over NCHW tensors.
#include "backends/cuda/conv/conv_common.h"
#include "backends/cuda/conv/conv_kernels.h"
#include "backends/cuda/cuda_check.h"
#include "ir/norm_params.h"

namespace kiln::cuda {
namespace {

Status batch_norm_run(CudaKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ElemType type, conv_float_input(ctx, 0, "X"));
  auto params = batch_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  if (params->training_mode) return ctx.unsupported("BatchNormalization training_mode");
  const Dims& xd = ctx.input_dims(0);
  if (xd.empty()) return ctx.error("input X must have rank >= 1");
  const int64_t n = xd[0], c = xd.size() > 1 ? xd[1] : 1;
  const int64_t sp = n * c == 0 ? 0 : numel_of(xd) / (n * c);
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  BnParamsIn in{};
  ElemType types[4];
  const void* ptrs[4];
  for (size_t i = 1; i < 5; ++i) {
    if (!ctx.has_input(i)) return ctx.error(std::string("input ") + names[i - 1] + " is required");
    KILN_ASSIGN_OR_RETURN(types[i - 1], conv_float_input(ctx, i, names[i - 1]));
    if (numel_of(ctx.input_dims(i)) != c)
      return ctx.unsupported(std::string(names[i - 1]) + " must have " + std::to_string(c) +
                             " elements (per-channel parameters only); got " + dims_to_string(ctx.input_dims(i)));
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), xd));
  if (numel_of(xd) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  for (size_t i = 1; i < 5; ++i) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor t, ctx.input(i));
    ptrs[i - 1] = t.data;
  }
  in = BnParamsIn{ptrs[0], types[0], ptrs[1], types[1], ptrs[2], types[2], ptrs[3], types[3]};
  KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(align256(2 * c * sizeof(float))));
  float* scale = static_cast<float*>(ws);
  float* shift = scale + c;
  const float eps = params->epsilon;
  KILN_RETURN_IF_ERROR(cuda_status(launch_bn_coefficients(in, c, eps, scale, shift, ctx.stream()), "bn_coefficients"));
  return cuda_status(launch_channel_affine(x.data, y.data, type, numel_of(xd), sp, c, scale, shift, ctx.stream()),
                     "channel_affine (batch norm)");
}

Status instance_norm_run(CudaKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ElemType type, conv_float_input(ctx, 0, "input"));
  const Dims& xd = ctx.input_dims(0);
  if (xd.size() < 3) return ctx.error("input must have rank >= 3 (N, C, spatial...); got " + dims_to_string(xd));
  const int64_t n = xd[0], c = xd[1], sp = numel_of(Dims(xd.begin() + 2, xd.end()));
  for (size_t i : {1, 2}) {
    if (!ctx.has_input(i)) return ctx.error("scale and B are required");
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) return ctx.unsupported("scale/B dtype differs from the input's");
    if (ctx.input_dims(i) != Dims{c}) return ctx.error("scale and B must have shape [" + std::to_string(c) + "]");
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), xd));
  if (numel_of(xd) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor s, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(2));
  auto params = instance_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const float eps = params->epsilon;
  return cuda_status(launch_instance_norm(x.data, y.data, type, s.data, b.data, n, c, sp, eps, ctx.stream()),
                     "instance_norm_planes");
}

Status lrn_run(CudaKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ElemType type, conv_float_input(ctx, 0, "X"));
  const Dims& xd = ctx.input_dims(0);
  if (xd.size() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...); got " + dims_to_string(xd));
  const int64_t size = ctx.attrs().get_int("size", 0);
  if (size <= 0) return ctx.error("size must be a positive integer; got " + std::to_string(size));
  const int64_t n = xd[0], c = xd[1], sp = numel_of(Dims(xd.begin() + 2, xd.end()));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), xd));
  if (numel_of(xd) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  return cuda_status(
      launch_lrn(x.data, y.data, type, n, c, sp, size, ctx.attrs().get_float("alpha", 1e-4f),
                 ctx.attrs().get_float("beta", 0.75f), ctx.attrs().get_float("bias", 1.0f), ctx.stream()),
      "lrn_across_channels");
}

bool batch_norm_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  auto params = batch_norm_params(node.attrs);
  if (!params.ok() || params->training_mode || node.has_output(1) || node.has_output(2)) return false;
  if (!known_types_are_float(types, {0, 1, 2, 3, 4})) return false;
  // Per-element parameters (pre-opset-9 spatial=0) stay on the reference backend.
  for (size_t i = 1; i < 5 && i < types.size(); ++i)
    if (types[i] && types[i]->shape.rank_known && types[i]->shape.rank() > 1) return false;
  return true;
}
bool instance_norm_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!known_types_are_float(types, {0, 1, 2})) return false;
  for (size_t i : {1, 2})
    if (i < types.size() && types[0] && types[i] && types[i]->dtype != types[0]->dtype) return false;
  return true;
}
bool lrn_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  return known_types_are_float(types, {0});
}

}  // namespace

CudaKernel batch_norm_kernel() { return {batch_norm_run, batch_norm_supports, nullptr, nullptr}; }
CudaKernel instance_norm_kernel() { return {instance_norm_run, instance_norm_supports, nullptr, nullptr}; }
CudaKernel lrn_kernel() { return {lrn_run, lrn_supports, nullptr, nullptr}; }

}  // namespace kiln::cuda
