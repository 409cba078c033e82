// Reference kernels for And, Or, Xor (bool) and the comparisons Equal, Greater, GreaterOrEqual, Less, LessOrEqual.
#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

namespace {

enum class Logic { kAnd, kOr, kXor };
enum class Cmp { kEq, kGt, kGe, kLt, kLe };

const char* cmp_name(Cmp c) {
  switch (c) {
    case Cmp::kEq:
      return "Equal";
    case Cmp::kGt:
      return "Greater";
    case Cmp::kGe:
      return "GreaterOrEqual";
    case Cmp::kLt:
      return "Less";
    case Cmp::kLe:
      return "LessOrEqual";
  }
  return "?";
}

template <typename T>
uint8_t compare(Cmp c, const T& a, const T& b) {
  switch (c) {
    case Cmp::kEq:
      return a == b;
    case Cmp::kGt:
      return a > b;
    case Cmp::kGe:
      return a >= b;
    case Cmp::kLt:
      return a < b;
    case Cmp::kLe:
      return a <= b;
  }
  return 0;
}

Status run_logic(KernelContext& ctx, Logic op) {
  KILN_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  if (a.dtype() != DType::kBool) return ctx.error(std::string("inputs must be bool, got ") + dtype_name(a.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor b, legacy_broadcast_operand(ctx, a, ctx.input(1)));
  Dims out_dims;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&a, &b}, &out_dims));
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, DType::kBool, out_dims));
  broadcast_binary<uint8_t, uint8_t, uint8_t>(a, b, out, [op](uint8_t x, uint8_t y) -> uint8_t {
    const bool p = x != 0, q = y != 0;
    switch (op) {
      case Logic::kAnd:
        return p && q;
      case Logic::kOr:
        return p || q;
      case Logic::kXor:
        return p != q;
    }
    return 0;
  });
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status run_compare(KernelContext& ctx, Cmp c) {
  KILN_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor b, legacy_broadcast_operand(ctx, a, ctx.input(1)));
  Dims out_dims;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&a, &b}, &out_dims));
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, DType::kBool, out_dims));
  const DType dt = a.dtype();
  auto cmp = [c](const auto& x, const auto& y) { return compare(c, x, y); };
  if (dt == DType::kString) {
    if (c != Cmp::kEq) return ctx.unsupported(std::string(cmp_name(c)) + " does not support string inputs");
    broadcast_binary<std::string, std::string, uint8_t>(a, b, out, cmp);
  } else if (dt == DType::kBool) {
    broadcast_binary<uint8_t, uint8_t, uint8_t>(a, b, out, cmp);
  } else if (dt == DType::kInt4 || dt == DType::kInt2) {
    broadcast_binary<int8_t, int8_t, uint8_t>(a, b, out, cmp);
  } else if (dt == DType::kUInt4 || dt == DType::kUInt2) {
    broadcast_binary<uint8_t, uint8_t, uint8_t>(a, b, out, cmp);
  } else if (is_narrow_float(dt)) {
    Tensor af = to_float32(a), bf = to_float32(b);
    broadcast_binary<float, float, uint8_t>(af, bf, out, cmp);
  } else {
    Status st =
        dispatch_dtype(dt, DispatchSet{}, [&]<typename T>() { broadcast_binary<T, T, uint8_t>(a, b, out, cmp); });
    if (!st.ok()) return ctx.unsupported(std::string(cmp_name(c)) + ": " + st.message());
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

Status and_kernel(KernelContext& ctx) { return run_logic(ctx, Logic::kAnd); }
Status or_kernel(KernelContext& ctx) { return run_logic(ctx, Logic::kOr); }
Status xor_kernel(KernelContext& ctx) { return run_logic(ctx, Logic::kXor); }
Status equal_kernel(KernelContext& ctx) { return run_compare(ctx, Cmp::kEq); }
Status greater_kernel(KernelContext& ctx) { return run_compare(ctx, Cmp::kGt); }
Status greater_or_equal_kernel(KernelContext& ctx) { return run_compare(ctx, Cmp::kGe); }
Status less_kernel(KernelContext& ctx) { return run_compare(ctx, Cmp::kLt); }
Status less_or_equal_kernel(KernelContext& ctx) { return run_compare(ctx, Cmp::kLe); }

}  // namespace kiln
