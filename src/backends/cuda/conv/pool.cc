// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool: own CUDA kernels, NCHW or layout="NHWC".
#include "backends/cuda/conv/conv_common.h"
#include "backends/cuda/conv/conv_kernels.h"
#include "backends/cuda/conv/window.h"
#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {
namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

Status run_pool(CudaKernelContext& ctx, bool is_max) {
  // MaxPool also takes 8-bit values (fold_qdq_moves puts it on the quantized values).
  const DType xt = ctx.input_dtype(0);
  const int q8 = is_max && xt == DType::kUInt8 ? 1 : is_max && xt == DType::kInt8 ? 2 : 0;
  ElemType type = ElemType::kF32;
  if (q8 == 0) {
    KILN_ASSIGN_OR_RETURN(type, conv_float_input(ctx, 0, "X"));
  }
  const bool nhwc = is_channels_last(ctx.node());
  const Dims& xd = ctx.input_dims(0);
  if (xd.size() < 3 || xd.size() > 5)
    return ctx.unsupported("pooling input of rank " + std::to_string(xd.size()) + " (1 to 3 spatial dims only)");
  const size_t nd = xd.size() - 2;
  const Dims kernel = ctx.attrs().get_ints("kernel_shape");
  if (kernel.size() != nd)
    return ctx.error("kernel_shape " + dims_to_string(kernel) + " must have " + std::to_string(nd) + " values");
  const bool ceil_mode = ctx.attrs().get_int("ceil_mode", 0) != 0;
  ConvWindow win;
  KILN_RETURN_IF_ERROR(compute_conv_window(ctx, spatial_of(xd, nhwc), kernel, ceil_mode, &win));
  const int64_t n = xd[0], c = channels_of(xd, nhwc);
  const Dims yd = make_activation_dims(n, c, win.out, nhwc);
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), yd));
  if (numel_of(yd) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  PoolParams p;
  p.x = x.data;
  p.y = y.data;
  p.type = type;
  p.q8 = q8;
  p.is_max = is_max;
  p.channels_last = nhwc;
  p.count_include_pad = !is_max && ctx.attrs().get_int("count_include_pad", 0) != 0;
  p.n = n;
  p.c = c;
  for (size_t i = 0; i < nd; ++i) {
    p.in[i] = win.in[i];
    p.out[i] = win.out[i];
    p.kernel[i] = win.kernel[i];
    p.stride[i] = win.strides[i];
    p.dilation[i] = win.dilations[i];
    p.pad_begin[i] = win.pads[i];
    p.pad_end[i] = win.pads[nd + i];
  }
  return cuda_status(launch_pool(p, ctx.stream()), is_max ? "pool_nd (max) launch" : "pool_nd (average) launch");
}

Status run_global_pool(CudaKernelContext& ctx, bool is_max) {
  KILN_ASSIGN_OR_RETURN(ElemType type, conv_float_input(ctx, 0, "X"));
  const bool nhwc = is_channels_last(ctx.node());
  const Dims& xd = ctx.input_dims(0);
  if (xd.size() < 3) return ctx.error("input X must have rank >= 3 (N, C, spatial...); got " + dims_to_string(xd));
  const int64_t n = xd[0], c = channels_of(xd, nhwc), sp = numel_of(spatial_of(xd, nhwc));
  if (sp == 0 && n * c > 0) return ctx.error("spatial dims of X must be non-empty; got " + dims_to_string(xd));
  const Dims yd = make_activation_dims(n, c, Dims(xd.size() - 2, 1), nhwc);
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ctx.input_dtype(0), yd));
  if (numel_of(yd) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) !=
                                                   cudaSuccess)
    sms = 1;
  // The vectorized, split kernel unless KILN_CUDA_OWN_KERNELS=0 (conv_common.h).
  const int64_t splits = own_cuda_kernels_enabled() ? global_pool_splits(nhwc, n, c, sp, sms) : 0;
  float* partials = nullptr;
  if (splits > 1) {
    KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(static_cast<size_t>(n * splits * c) * sizeof(float)));
    partials = static_cast<float*>(ws);
  }
  return cuda_status(launch_global_pool(x.data, y.data, partials, type, is_max, nhwc, n, c, sp, splits, ctx.stream()),
                     "global pool launch");
}

bool pool_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  const std::string layout = node.attrs.get_string("layout", "NCHW");
  return known_types_are_float(types, {0}) && (layout == "NCHW" || layout == "NHWC");
}
// MaxPool's Indices output (storage-order flat indices) is left to the reference backend.
bool max_pool_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  const bool q8_input = !types.empty() && types[0] && is_q8(types[0]->dtype);
  const std::string layout = node.attrs.get_string("layout", "NCHW");
  const bool input_ok = q8_input ? (layout == "NCHW" || layout == "NHWC") : pool_supports(node, types);
  return !node.has_output(1) && input_ok && known_rank_within(types, 0, 3, 5);
}
bool windowed_pool_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  return pool_supports(node, types) && known_rank_within(types, 0, 3, 5);
}

Status max_pool_run(CudaKernelContext& ctx) {
  if (ctx.num_outputs() > 1 && ctx.wants_output(1)) return ctx.unsupported("MaxPool Indices output on CUDA");
  return run_pool(ctx, true);
}
Status average_pool_run(CudaKernelContext& ctx) { return run_pool(ctx, false); }
Status global_average_pool_run(CudaKernelContext& ctx) { return run_global_pool(ctx, false); }
Status global_max_pool_run(CudaKernelContext& ctx) { return run_global_pool(ctx, true); }

}  // namespace

CudaKernel max_pool_kernel() { return {max_pool_run, max_pool_supports, nullptr, nullptr}; }
CudaKernel average_pool_kernel() { return {average_pool_run, windowed_pool_supports, nullptr, nullptr}; }
CudaKernel global_average_pool_kernel() { return {global_average_pool_run, pool_supports, nullptr, nullptr}; }
CudaKernel global_max_pool_kernel() { return {global_max_pool_run, pool_supports, nullptr, nullptr}; }

}  // namespace kiln::cuda
