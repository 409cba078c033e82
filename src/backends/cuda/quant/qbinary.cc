// Host side of the CUDA QLinearAdd / QLinearMul (numpy broadcast, per-tensor parameters) and
// QLinearGlobalAveragePool (NCHW) kernels: the ops fold_qdq_binary makes from residual Adds, squeeze-excitation Muls
// and the squeeze's pooling (docs/int8.md).
#include "backends/cuda/quant/qbinary.h"

#include "backends/cuda/elementwise/host_util.h"
#include "backends/cuda/quant/qgemm_host.h"
#include "backends/cuda/quant/quant_kernels.h"

namespace kiln::cuda {

namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

bool supports_qlinear_binary(const Node& node, const std::vector<const TypeInfo*>& types) {
  (void)node;
  return dtype_in(types, 0, {DType::kUInt8, DType::kInt8}) && dtype_in(types, 3, {DType::kUInt8, DType::kInt8}) &&
         dtype_in(types, 7, {DType::kUInt8, DType::kInt8}) && dtype_in(types, 1, {DType::kFloat32}) &&
         dtype_in(types, 4, {DType::kFloat32}) && dtype_in(types, 6, {DType::kFloat32});
}

// Input `data` with its per-tensor scale and zero point inputs, checked.
Result<Q8Operand> operand(CudaKernelContext& ctx, size_t data, size_t scale, size_t zp, DType dtype) {
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, scale, ("input " + std::to_string(scale) + " (scale)").c_str(), 1, false));
  KILN_RETURN_IF_ERROR(
      check_q_zero_point(ctx, zp, ("input " + std::to_string(zp) + " (zero point)").c_str(), 1, false));
  if (ctx.has_input(zp) && ctx.input_dtype(zp) != dtype)
    return ctx.error("zero point (input " + std::to_string(zp) + ") must be " + dtype_name(dtype) + ", got " +
                     dtype_name(ctx.input_dtype(zp)));
  Q8Operand o;
  o.is_u8 = dtype == DType::kUInt8;
  if (data != SIZE_MAX) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor t, ctx.input(data));
    o.data = t.data;
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor s, ctx.input(scale));
  o.scale = s.ptr<float>();
  if (ctx.has_input(zp)) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor z, ctx.input(zp));
    o.zero_point = z.data;
  }
  return o;
}

Status run_qlinear_binary(CudaKernelContext& ctx) {
  const bool mul = ctx.node().op == OpKind::kQLinearMul;
  if (!ctx.has_input(0) || !ctx.has_input(3)) return ctx.error("inputs A and B are required");
  const DType at = ctx.input_dtype(0), bt = ctx.input_dtype(3);
  const DType ct = ctx.has_input(7) ? ctx.input_dtype(7) : at;
  if (!is_q8(at) || !is_q8(bt) || !is_q8(ct))
    return ctx.error(std::string("A, B and C must be uint8 or int8, got ") + dtype_name(at) + ", " + dtype_name(bt) +
                     ", " + dtype_name(ct));
  Dims out;
  if (!broadcast_dims({ctx.input_dims(0), ctx.input_dims(3)}, &out))
    return ctx.error("A " + dims_to_string(ctx.input_dims(0)) + " and B " + dims_to_string(ctx.input_dims(3)) +
                     " do not broadcast");
  BroadcastDesc<2> d;
  if (!make_broadcast<2>(out, {ctx.input_dims(0), ctx.input_dims(3)}, &d))
    return ctx.unsupported("broadcast of more than " + std::to_string(kMaxDims) + " collapsed dimensions");
  KILN_ASSIGN_OR_RETURN(Q8Operand a, operand(ctx, 0, 1, 2, at));
  KILN_ASSIGN_OR_RETURN(Q8Operand b, operand(ctx, 3, 4, 5, bt));
  KILN_ASSIGN_OR_RETURN(Q8Operand c, operand(ctx, SIZE_MAX, 6, 7, ct));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, ct, out));
  const bool same_shape = ctx.input_dims(0) == out && ctx.input_dims(3) == out;
  return launch_status(ctx, launch_qlinear_binary(mul, a, b, c, y.data, y.numel(), d, same_shape, ctx.stream()),
                       mul ? "QLinearMul" : "QLinearAdd");
}

bool supports_qlinear_gap(const Node& node, const std::vector<const TypeInfo*>& types) {
  return node.attrs.get_int("channels_last", 0) == 0 && dtype_in(types, 0, {DType::kUInt8, DType::kInt8}) &&
         dtype_in(types, 1, {DType::kFloat32}) && dtype_in(types, 3, {DType::kFloat32});
}

Status run_qlinear_gap(CudaKernelContext& ctx) {
  if (ctx.attrs().get_int("channels_last", 0) != 0) return ctx.unsupported("channels_last=1");
  if (!ctx.has_input(0)) return ctx.error("input X is required");
  const DType xt = ctx.input_dtype(0);
  if (!is_q8(xt)) return ctx.error(std::string("X must be uint8 or int8, got ") + dtype_name(xt));
  const Dims& xd = ctx.input_dims(0);
  if (xd.size() < 3) return ctx.error("X must have rank >= 3 (N, C, spatial...), got " + dims_to_string(xd));
  KILN_ASSIGN_OR_RETURN(Q8Operand x, operand(ctx, 0, 1, 2, xt));
  KILN_ASSIGN_OR_RETURN(Q8Operand yq, operand(ctx, SIZE_MAX, 3, 4, xt));
  Dims yd{xd[0], xd[1]};
  int64_t spatial = 1;
  for (size_t i = 2; i < xd.size(); ++i) yd.push_back(1), spatial *= xd[i];
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, xt, yd));
  return launch_status(ctx, launch_qlinear_global_average_pool(x, yq, y.data, xd[0] * xd[1], spatial, ctx.stream()),
                       "QLinearGlobalAveragePool");
}

}  // namespace

CudaKernel qlinear_binary_kernel() { return {run_qlinear_binary, supports_qlinear_binary}; }

CudaKernel qlinear_global_average_pool_kernel() { return {run_qlinear_gap, supports_qlinear_gap}; }

}  // namespace kiln::cuda
