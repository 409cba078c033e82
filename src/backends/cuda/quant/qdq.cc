// Host side of the CUDA QuantizeLinear and DequantizeLinear kernels: 8-bit values, per-tensor or per-axis scale and
// zero point read on the device (no host sync, graph-capturable); also float8 e4m3fn/e5m2 (FP8 Q/DQ, docs/int8.md).
// Blocked quantization, int4/int16/FNUZ float8 types, bfloat16/float64 scales and the `precision` attribute are
// refused: such nodes run on the reference backend.
#include "backends/cuda/quant/qdq.h"

#include <string>

#include "backends/cuda/elementwise/host_util.h"
#include "backends/cuda/quant/quant_kernels.h"

namespace kiln::cuda {

namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }
bool is_f8(DType t) { return t == DType::kFloat8E4M3FN || t == DType::kFloat8E5M2; }
bool is_f32_f16(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }
bool known(DType t) { return t != DType::kUndefined; }
std::string name(DType t) { return dtype_name(t); }

// Why the CUDA QuantizeLinear cannot run the node ("" when it can), and y's dtype in *yt (when known). kUndefined
// dtypes (unknown at build time) pass.
std::string quantize_refusal(const Node& n, DType xt, DType st, DType zt, DType* yt = nullptr) {
  if (n.attrs.get_int("block_size", 0) != 0) return "blocked quantization (block_size != 0)";
  if (n.attrs.get_int("precision", 0) != 0) return "attribute precision";
  if ((known(xt) && !is_f32_f16(xt)) || (known(st) && !is_f32_f16(st)) || (known(xt) && known(st) && xt != st))
    return "x " + name(xt) + " with y_scale " + name(st) + " (takes float32 or float16, both the same)";
  DType out = DType::kUInt8;
  const int64_t od = n.attrs.get_int("output_dtype", 0);
  if (od != 0 && !dtype_from_int(od, &out)) return "output_dtype " + std::to_string(od);
  if (known(zt)) {
    if (od != 0 && zt != out) return "output_dtype " + name(out) + " with a " + name(zt) + " zero point";
    out = zt;
  }
  if (!is_q8(out) && !is_f8(out))
    return "quantization to " + name(out) + " (uint8, int8, float8e4m3fn and float8e5m2 only)";
  if (yt) *yt = out;
  return "";
}

// Why the CUDA DequantizeLinear cannot run the node ("" when it can). kUndefined dtypes (unknown at build time) pass.
std::string dequantize_refusal(const Node& n, DType xt, DType st, DType zt) {
  if (n.attrs.get_int("block_size", 0) != 0) return "blocked dequantization (block_size != 0)";
  if (known(xt) && !is_q8(xt) && !is_f8(xt) && xt != DType::kInt32)
    return "x " + name(xt) + " (uint8, int8, int32, float8e4m3fn and float8e5m2 only)";
  if (known(st) && !is_f32_f16(st)) return "x_scale " + name(st) + " (float32 and float16 only)";
  if (known(xt) && known(zt) && zt != xt) return "a " + name(zt) + " zero point for " + name(xt) + " x";
  const int64_t od = n.attrs.get_int("output_dtype", 0);
  DType out = DType::kUndefined;
  if (od != 0 && (!dtype_from_int(od, &out) || !is_f32_f16(out) || (known(st) && out != st)))
    return "output_dtype " + std::to_string(od) + " with x_scale " + name(st) + " (must equal x_scale's dtype)";
  return "";
}

DType zero_point_dtype(const std::vector<const TypeInfo*>& types, const Node& n) {
  return n.has_input(2) ? type_dtype(types, 2) : DType::kUndefined;
}

bool supports_quantize(const Node& n, const std::vector<const TypeInfo*>& types) {
  return quantize_refusal(n, type_dtype(types, 0), type_dtype(types, 1), zero_point_dtype(types, n)).empty();
}

bool supports_dequantize(const Node& n, const std::vector<const TypeInfo*>& types) {
  return dequantize_refusal(n, type_dtype(types, 0), type_dtype(types, 1), zero_point_dtype(types, n)).empty();
}

// Where each element of x (input 0) finds its scale (input 1) and zero point (optional input 2), with the
// reference's rules: a one-element scale is per tensor, else it is 1-D of x.dims[axis]; the zero point has the
// scale's shape (or both have one element).
Status quant_axis(const CudaKernelContext& ctx, const char* scale_name, QuantAxis* out) {
  const Dims& xd = ctx.input_dims(0);
  const Dims& sd = ctx.input_dims(1);
  if (ctx.has_input(2)) {
    const Dims& zd = ctx.input_dims(2);
    if (zd != sd && !(numel_of(zd) == 1 && numel_of(sd) == 1))
      return ctx.error("zero point shape " + ints_str(zd) + " must match " + scale_name + " shape " + ints_str(sd));
  }
  *out = QuantAxis{};
  if (numel_of(sd) == 1) return ok_status();
  int64_t axis = 0;
  KILN_RETURN_IF_ERROR(normalize_axis(ctx, ctx.attrs().get_int("axis", 1), static_cast<int64_t>(xd.size()), &axis));
  if (sd.size() != 1 || sd[0] != xd[axis])
    return ctx.error(std::string("per-axis ") + scale_name + " must be 1-D of size " + std::to_string(xd[axis]) +
                     " (x dim " + std::to_string(axis) + "), got shape " + ints_str(sd));
  out->channels = xd[axis];
  for (size_t d = axis + 1; d < xd.size(); ++d) out->inner *= xd[d];
  return ok_status();
}

Status run_quantize(CudaKernelContext& ctx) {
  if (!ctx.has_input(1)) return ctx.error("input y_scale is required");
  const bool has_zp = ctx.has_input(2);
  const DType xt = ctx.input_dtype(0), st = ctx.input_dtype(1);
  const DType zt = has_zp ? ctx.input_dtype(2) : DType::kUndefined;
  DType yt = DType::kUndefined;
  const std::string refusal = quantize_refusal(ctx.node(), xt, st, zt, &yt);
  if (!refusal.empty()) return ctx.unsupported("QuantizeLinear on CUDA does not take " + refusal);
  QuantAxis axis;
  KILN_RETURN_IF_ERROR(quant_axis(ctx, "y_scale", &axis));
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor scale, ctx.input(1));
  DeviceTensor zp;
  if (has_zp) {
    KILN_ASSIGN_OR_RETURN(zp, ctx.input(2));
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, yt, x.dims));
  if (x.numel() == 0) return ok_status();
  return launch_status(ctx,
                       launch_quantize_linear(xt, yt, x.data, scale.data, zp.data, y.data, x.numel(), axis,
                                              ctx.stream(), ctx.attrs().get_int("saturate", 1) != 0),
                       "QuantizeLinear");
}

Status run_dequantize(CudaKernelContext& ctx) {
  if (!ctx.has_input(1)) return ctx.error("input x_scale is required");
  const bool has_zp = ctx.has_input(2);
  const DType xt = ctx.input_dtype(0), st = ctx.input_dtype(1);
  const std::string refusal =
      dequantize_refusal(ctx.node(), xt, st, has_zp ? ctx.input_dtype(2) : DType::kUndefined);
  if (!refusal.empty()) return ctx.unsupported("DequantizeLinear on CUDA does not take " + refusal);
  QuantAxis axis;
  KILN_RETURN_IF_ERROR(quant_axis(ctx, "x_scale", &axis));
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor scale, ctx.input(1));
  DeviceTensor zp;
  if (has_zp) {
    KILN_ASSIGN_OR_RETURN(zp, ctx.input(2));
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, st, x.dims));
  if (x.numel() == 0) return ok_status();
  return launch_status(
      ctx, launch_dequantize_linear(xt, st, x.data, scale.data, zp.data, y.data, x.numel(), axis, ctx.stream()),
      "DequantizeLinear");
}

}  // namespace

CudaKernel quantize_linear_kernel() { return {run_quantize, supports_quantize}; }

CudaKernel dequantize_linear_kernel() { return {run_dequantize, supports_dequantize}; }

}  // namespace kiln::cuda
