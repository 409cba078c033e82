// Host side of the CUDA elementwise unary kernels: op table, attribute reading, dtype checks.
#include "backends/cuda/elementwise/unary.h"

#include "backends/cuda/elementwise/elementwise_kernels.h"
#include "backends/cuda/elementwise/host_util.h"

namespace kiln::cuda {

namespace {

bool unary_op_of(OpKind op, UnaryOp* out) {
  switch (op) {
#define KILN_MAP(kind, uop) \
  case OpKind::kind:        \
    *out = UnaryOp::uop;    \
    return true;
    KILN_MAP(kAbs, kAbs)
    KILN_MAP(kNeg, kNeg)
    KILN_MAP(kExp, kExp)
    KILN_MAP(kLog, kLog)
    KILN_MAP(kSqrt, kSqrt)
    KILN_MAP(kReciprocal, kReciprocal)
    KILN_MAP(kSin, kSin)
    KILN_MAP(kCos, kCos)
    KILN_MAP(kTan, kTan)
    KILN_MAP(kTanh, kTanh)
    KILN_MAP(kAsin, kAsin)
    KILN_MAP(kAcos, kAcos)
    KILN_MAP(kAtan, kAtan)
    KILN_MAP(kSinh, kSinh)
    KILN_MAP(kCosh, kCosh)
    KILN_MAP(kAsinh, kAsinh)
    KILN_MAP(kAcosh, kAcosh)
    KILN_MAP(kAtanh, kAtanh)
    KILN_MAP(kSigmoid, kSigmoid)
    KILN_MAP(kRelu, kRelu)
    KILN_MAP(kLeakyRelu, kLeakyRelu)
    KILN_MAP(kElu, kElu)
    KILN_MAP(kSelu, kSelu)
    KILN_MAP(kCelu, kCelu)
    KILN_MAP(kErf, kErf)
    KILN_MAP(kGelu, kGelu)
    KILN_MAP(kSwish, kSwish)
    KILN_MAP(kSoftplus, kSoftplus)
    KILN_MAP(kSoftsign, kSoftsign)
    KILN_MAP(kHardSigmoid, kHardSigmoid)
    KILN_MAP(kHardSwish, kHardSwish)
    KILN_MAP(kMish, kMish)
    KILN_MAP(kThresholdedRelu, kThresholdedRelu)
    KILN_MAP(kFloor, kFloor)
    KILN_MAP(kCeil, kCeil)
    KILN_MAP(kRound, kRound)
    KILN_MAP(kSign, kSign)
    KILN_MAP(kClip, kClip)
#undef KILN_MAP
    default:
      return false;
  }
}

bool int_capable(UnaryOp op) {
  return op == UnaryOp::kAbs || op == UnaryOp::kNeg || op == UnaryOp::kSign || op == UnaryOp::kRelu ||
         op == UnaryOp::kClip;
}

Result<UnaryParams> read_params(CudaKernelContext& ctx, UnaryOp op) {
  const Attrs& a = ctx.attrs();
  UnaryParams p;
  switch (op) {
    case UnaryOp::kLeakyRelu:
      p.alpha = a.get_float("alpha", 0.01f);
      break;
    case UnaryOp::kElu:
    case UnaryOp::kThresholdedRelu:
    case UnaryOp::kSwish:
      p.alpha = a.get_float("alpha", 1.0f);
      break;
    case UnaryOp::kCelu:
      p.alpha = a.get_float("alpha", 1.0f);
      if (p.alpha == 0) return ctx.error("attribute alpha must be non-zero");
      break;
    case UnaryOp::kSelu:
      p.alpha = a.get_float("alpha", 1.67326319217681884765625f);
      p.gamma = a.get_float("gamma", 1.05070102214813232421875f);
      break;
    case UnaryOp::kHardSigmoid:
      p.alpha = a.get_float("alpha", 0.2f);
      p.beta = a.get_float("beta", 0.5f);
      break;
    case UnaryOp::kClip:
      for (size_t i = 1; i <= 2; ++i) {
        if (!ctx.has_input(i)) continue;
        KILN_ASSIGN_OR_RETURN(Tensor b, ctx.host_input(i));
        const char* name = i == 1 ? "min" : "max";
        if (b.numel() != 1)
          return ctx.error(std::string("input '") + name + "' must be a scalar (one element), got shape " +
                           dims_to_string(b.dims()));
        if (b.dtype() == DType::kString)
          return ctx.error(std::string("input '") + name + "' has non-numeric dtype string");
        (i == 1 ? p.has_lo : p.has_hi) = true;
        (i == 1 ? p.lo : p.hi) = static_cast<float>(b.as_double(0));
        (i == 1 ? p.ilo : p.ihi) = b.as_int64(0);
      }
      break;
    default:
      break;
  }
  return p;
}

}  // namespace

bool supports_unary(const Node& node, const std::vector<const TypeInfo*>& types) {
  UnaryOp op;
  if (!unary_op_of(node.op, &op)) return false;
  if (node.op == OpKind::kGelu) {
    const std::string approx = node.attrs.get_string("approximate", "none");
    if (approx != "none" && approx != "tanh") return false;
  }
  if (int_capable(op))
    return dtype_in(types, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64});
  return dtype_in(types, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16});
}

Status run_unary(CudaKernelContext& ctx) {
  UnaryOp op;
  if (!unary_op_of(ctx.node().op, &op)) return ctx.unsupported("not a unary op");
  if (ctx.node().op == OpKind::kGelu) {
    const std::string approx = ctx.attrs().get_string("approximate", "none");
    if (approx == "tanh") {
      op = UnaryOp::kGeluTanh;
    } else if (approx != "none") {
      return ctx.error("attribute approximate must be 'none' or 'tanh', got '" + approx + "'");
    }
  }
  const DType dt = ctx.input_dtype(0);
  const bool ok = is_float_dtype(dt) || (int_capable(op) && (dt == DType::kInt32 || dt == DType::kInt64));
  if (!ok) return ctx.unsupported(std::string("input dtype ") + dtype_name(dt) + " is not supported on CUDA");
  KILN_ASSIGN_OR_RETURN(UnaryParams p, read_params(ctx, op));
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, dt, x.dims));
  if (x.numel() == 0) return ok_status();
  return launch_status(ctx, launch_unary(op, dt, x.data, y.data, x.numel(), p, ctx.stream()), "unary kernel");
}

bool supports_not(const Node& node, const std::vector<const TypeInfo*>& types) {
  return dtype_in(types, 0, {DType::kBool});
}

Status run_not(CudaKernelContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool)
    return ctx.error(std::string("input must be bool, got ") + dtype_name(ctx.input_dtype(0)));
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, DType::kBool, x.dims));
  if (x.numel() == 0) return ok_status();
  return launch_status(ctx, launch_not(x.ptr<uint8_t>(), y.ptr<uint8_t>(), x.numel(), ctx.stream()), "Not");
}

bool supports_classify(const Node& node, const std::vector<const TypeInfo*>& types) {
  return dtype_in(types, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16});
}

Status run_classify(CudaKernelContext& ctx) {
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("input dtype ") + dtype_name(dt) + " on CUDA");
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, DType::kBool, x.dims));
  if (x.numel() == 0) return ok_status();
  cudaError_t e;
  if (ctx.node().op == OpKind::kIsNaN) {
    e = launch_isnan(dt, x.data, y.ptr<uint8_t>(), x.numel(), ctx.stream());
  } else {
    const bool neg = ctx.attrs().get_int("detect_negative", 1) != 0;
    const bool pos = ctx.attrs().get_int("detect_positive", 1) != 0;
    e = launch_isinf(dt, x.data, y.ptr<uint8_t>(), x.numel(), pos, neg, ctx.stream());
  }
  return launch_status(ctx, e, "classify kernel");
}

}  // namespace kiln::cuda
