// Host side of the CUDA elementwise binary kernels: shapes, dtype rules, variadic folds, Where.
#include "backends/cuda/elementwise/binary.h"

#include "backends/cuda/elementwise/elementwise_kernels.h"
#include "backends/cuda/elementwise/host_util.h"

namespace kiln::cuda {

namespace {

bool binary_op_of(const Node& node, BinaryOp* out) {
  switch (node.op) {
#define KILN_MAP(kind)        \
  case OpKind::k##kind:       \
    *out = BinaryOp::k##kind; \
    return true;
    KILN_MAP(Add)
    KILN_MAP(Sub)
    KILN_MAP(Mul)
    KILN_MAP(Div)
    KILN_MAP(Pow)
    KILN_MAP(Max)
    KILN_MAP(Min)
    KILN_MAP(PRelu)
    KILN_MAP(Equal)
    KILN_MAP(Less)
    KILN_MAP(LessOrEqual)
    KILN_MAP(Greater)
    KILN_MAP(GreaterOrEqual)
    KILN_MAP(And)
    KILN_MAP(Or)
    KILN_MAP(Xor)
    KILN_MAP(BitwiseAnd)
    KILN_MAP(BitwiseOr)
    KILN_MAP(BitwiseXor)
#undef KILN_MAP
    case OpKind::kMod:
      *out = node.attrs.get_int("fmod", 0) == 1 ? BinaryOp::kFMod : BinaryOp::kMod;
      return true;
    case OpKind::kSum:
      *out = BinaryOp::kAdd;
      return true;
    case OpKind::kMean:
      *out = BinaryOp::kAdd;
      return true;
    default:
      return false;
  }
}

bool is_variadic(OpKind op) {
  return op == OpKind::kSum || op == OpKind::kMean || op == OpKind::kMax || op == OpKind::kMin;
}

// Dtype rules beyond launch_binary's: Sum/Mean are float-only; float Mod needs fmod=1.
bool dtype_allowed(const Node& node, BinaryOp op, DType a, DType b) {
  if ((node.op == OpKind::kSum || node.op == OpKind::kMean) && !is_float_dtype(a)) return false;
  if (op == BinaryOp::kMod && is_float_dtype(a)) return false;
  return binary_supported(op, a, b);
}

// One step: out = op(a, b), both broadcast to out's dims.
Status run_step(CudaKernelContext& ctx, BinaryOp op, const DeviceTensor& a, const DeviceTensor& b,
                const DeviceTensor& out) {
  BroadcastDesc<2> d;
  if (!make_broadcast<2>(out.dims, {a.dims, b.dims}, &d))
    return ctx.unsupported("broadcast needs more than " + std::to_string(kMaxDims) + " dims after collapsing");
  return launch_status(ctx, launch_binary(op, a.dtype, b.dtype, a.data, b.data, out.data, d, ctx.stream()),
                       "binary kernel");
}

}  // namespace

bool supports_binary(const Node& node, const std::vector<const TypeInfo*>& types) {
  BinaryOp op;
  if (!binary_op_of(node, &op)) return false;
  if (node.opset > 0 && node.opset < 7) return false;  // legacy broadcast/axis rules: CPU only
  const int64_t fm = node.attrs.get_int("fmod", 0);
  if (node.op == OpKind::kMod && fm != 0 && fm != 1) return false;
  const size_t n = node.inputs.size();
  if (n == 0) return false;
  DType a = type_dtype(types, 0);
  DType b = n > 1 ? type_dtype(types, 1) : a;
  if (a == DType::kUndefined) a = b;
  if (b == DType::kUndefined) b = a;
  if (a == DType::kUndefined) return true;
  if (n > static_cast<size_t>(kMaxFoldInputs)) return false;
  for (size_t i = 2; i < n; ++i)
    if (!dtype_in(types, i, {a})) return false;
  return dtype_allowed(node, op, a, b);
}

Status run_binary(CudaKernelContext& ctx) {
  const Node& node = ctx.node();
  BinaryOp op;
  if (!binary_op_of(node, &op)) return ctx.unsupported("not a binary op");
  const size_t n = ctx.num_inputs();
  if (n == 0) return ctx.error("needs at least one input");
  const DType dt = ctx.input_dtype(0);
  for (size_t i = 1; i < n; ++i) {
    if (op != BinaryOp::kPow && ctx.input_dtype(i) != dt)
      return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input_dtype(i)) +
                       " but input 0 has dtype " + dtype_name(dt) + "; they must match");
  }
  if (node.op == OpKind::kMod) {
    const int64_t fm = ctx.attrs().get_int("fmod", 0);
    if (fm != 0 && fm != 1) return ctx.error("attribute fmod must be 0 or 1, got " + std::to_string(fm));
    if (fm == 0 && is_float_dtype(dt))
      return ctx.error(std::string("fmod must be 1 for floating-point inputs (") + dtype_name(dt) + ")");
  }
  if (n >= 2 && !dtype_allowed(node, op, dt, ctx.input_dtype(1)))
    return ctx.unsupported(std::string(op_name(node.op)) + " does not support dtype " + dtype_name(dt) + " on CUDA");
  std::vector<Dims> shapes;
  for (size_t i = 0; i < n; ++i) shapes.push_back(ctx.input_dims(i));
  Dims out_dims;
  if (!broadcast_dims(shapes, &out_dims)) {
    std::string s;
    for (const Dims& d : shapes) s += (s.empty() ? "" : ", ") + dims_to_string(d);
    return ctx.error("input shapes cannot be broadcast together: " + s);
  }
  if (node.op == OpKind::kPRelu && out_dims != shapes[0])
    return ctx.error("slope shape [" + dims_to_string(shapes[1]) + "] cannot be broadcast to X shape [" +
                     dims_to_string(shapes[0]) + "]");
  if (!is_variadic(node.op) && n != 2) return ctx.error("expects 2 inputs, got " + std::to_string(n));
  const DType out_dt = is_comparison(op) || is_logical(op) ? DType::kBool : dt;
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, out_dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor a, ctx.input(0));
  if (n == 1) {
    // A one-input Sum/Mean/Max/Min is a copy (Mean of one input divides by 1).
    return launch_status(ctx, cudaMemcpyAsync(out.data, a.data, out.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream()),
                         "copy");
  }
  if (node.op == OpKind::kMean || n > 2) {
    // One pass folding every input per element: float dtypes round once, like the reference.
    if (n > static_cast<size_t>(kMaxFoldInputs))
      return ctx.unsupported("more than " + std::to_string(kMaxFoldInputs) + " inputs on CUDA");
    FoldInputs in;
    in.count = static_cast<int>(n);
    std::vector<Dims> padded(kMaxFoldInputs, Dims{});
    for (size_t i = 0; i < n; ++i) {
      KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(i));
      in.ptr[i] = x.data;
      padded[i] = x.dims;
    }
    if (!make_broadcast<kMaxFoldInputs>(out_dims, padded, &in.desc))
      return ctx.unsupported("broadcast needs more than " + std::to_string(kMaxDims) + " dims after collapsing");
    return launch_status(ctx, launch_fold(op, node.op == OpKind::kMean, dt, in, out.data, out.numel(), ctx.stream()),
                         "variadic fold");
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(1));
  return run_step(ctx, op, a, b, out);
}

bool supports_where(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!dtype_in(types, 0, {DType::kBool})) return false;
  const DType t = type_dtype(types, 1);
  return t == DType::kUndefined || (t != DType::kString && !is_sub_byte(t) && dtype_size(t) <= 8);
}

Status run_where(CudaKernelContext& ctx) {
  if (ctx.num_inputs() != 3) return ctx.error("expects 3 inputs");
  if (ctx.input_dtype(0) != DType::kBool)
    return ctx.error(std::string("condition (input 0) must be bool, got ") + dtype_name(ctx.input_dtype(0)));
  const DType dt = ctx.input_dtype(1);
  if (ctx.input_dtype(2) != dt)
    return ctx.error(std::string("X and Y must have the same dtype, got ") + dtype_name(dt) + " and " +
                     dtype_name(ctx.input_dtype(2)));
  const size_t es = dtype_size(dt);
  if (dt == DType::kString || es == 0 || es > 8) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  Dims out_dims;
  if (!broadcast_dims({ctx.input_dims(0), ctx.input_dims(1), ctx.input_dims(2)}, &out_dims))
    return ctx.error("condition, X and Y shapes cannot be broadcast together: " + dims_to_string(ctx.input_dims(0)) +
                     ", " + dims_to_string(ctx.input_dims(1)) + ", " + dims_to_string(ctx.input_dims(2)));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor c, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.input(2));
  BroadcastDesc<3> d;
  if (!make_broadcast<3>(out_dims, {c.dims, x.dims, y.dims}, &d))
    return ctx.unsupported("broadcast needs more than " + std::to_string(kMaxDims) + " dims after collapsing");
  return launch_status(ctx, launch_where(es, c.ptr<uint8_t>(), x.data, y.data, out.data, d, ctx.stream()), "Where");
}

}  // namespace kiln::cuda
