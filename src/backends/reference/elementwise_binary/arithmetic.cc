// Reference kernels for Add, Sub, Mul, Div and Mod (numpy broadcasting; opset<7 broadcast/axis handled).
#include <cmath>

#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

namespace {

enum class Arith { kAdd, kSub, kMul, kDiv, kMod };

template <typename T>
T float_arith(Arith op, T a, T b, bool fmod) {
  switch (op) {
    case Arith::kAdd:
      return a + b;
    case Arith::kSub:
      return a - b;
    case Arith::kMul:
      return a * b;
    case Arith::kDiv:
      return a / b;
    case Arith::kMod: {
      T r = std::fmod(a, b);
      // fmod=0: the result takes the sign of the divisor (Python/numpy mod).
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
  }
  return T(0);
}

// Integer arithmetic: wraps on overflow; division and remainder by zero set *div_zero.
template <typename T>
T int_arith(Arith op, T a, T b, bool fmod, bool* div_zero) {
  switch (op) {
    case Arith::kAdd:
      return wrap_add(a, b);
    case Arith::kSub:
      return wrap_sub(a, b);
    case Arith::kMul:
      return wrap_mul(a, b);
    case Arith::kDiv:
      if (b == 0) {
        *div_zero = true;
        return T(0);
      }
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return wrap_sub(T(0), a);  // avoids the lowest()/-1 trap
      }
      return static_cast<T>(a / b);  // truncates toward zero
    case Arith::kMod: {
      if (b == 0) {
        *div_zero = true;
        return T(0);
      }
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);
        T r = static_cast<T>(a % b);  // sign of the dividend (C fmod semantics)
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
        return r;
      } else {
        return static_cast<T>(a % b);
      }
    }
  }
  return T(0);
}

const char* arith_name(Arith op) {
  switch (op) {
    case Arith::kAdd:
      return "Add";
    case Arith::kSub:
      return "Sub";
    case Arith::kMul:
      return "Mul";
    case Arith::kDiv:
      return "Div";
    case Arith::kMod:
      return "Mod";
  }
  return "?";
}

Status run_arith(KernelContext& ctx, Arith op) {
  KILN_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor b, legacy_broadcast_operand(ctx, a, ctx.input(1)));
  Dims out_dims;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&a, &b}, &out_dims));
  const DType dt = a.dtype();
  const int64_t fmod_attr = ctx.attrs().get_int("fmod", 0);
  if (op == Arith::kMod && fmod_attr != 0 && fmod_attr != 1)
    return ctx.error("attribute fmod must be 0 or 1, got " + std::to_string(fmod_attr));
  if (op == Arith::kMod && fmod_attr == 0 && is_float(dt))
    return ctx.error(std::string("fmod must be 1 for floating-point inputs (") + dtype_name(dt) + ")");
  const bool fmod = fmod_attr == 1;

  if (is_narrow_float(dt)) {
    Tensor af = to_float32(a), bf = to_float32(b);
    KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, DType::kFloat32, out_dims));
    broadcast_binary<float, float, float>(af, bf, out, [&](float x, float y) { return float_arith(op, x, y, fmod); });
    ctx.set_output(0, from_float32(out, dt));
    return ok_status();
  }
  if (dt == DType::kBool || dt == DType::kString || is_sub_byte(dt))
    return ctx.unsupported(std::string(arith_name(op)) + " does not support dtype " + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, dt, out_dims));
  bool div_zero = false;
  Status st = dispatch_dtype(dt, DispatchSet{}, [&]<typename T>() {
    if constexpr (std::is_floating_point_v<T>) {
      broadcast_binary<T, T, T>(a, b, out, [&](T x, T y) { return float_arith(op, x, y, fmod); });
    } else {
      broadcast_binary<T, T, T>(a, b, out, [&](T x, T y) { return int_arith(op, x, y, fmod, &div_zero); });
    }
  });
  if (!st.ok()) return ctx.unsupported(std::string(arith_name(op)) + ": " + st.message());
  if (div_zero) return ctx.error("integer division by zero");
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

Status add_kernel(KernelContext& ctx) { return run_arith(ctx, Arith::kAdd); }
Status sub_kernel(KernelContext& ctx) { return run_arith(ctx, Arith::kSub); }
Status mul_kernel(KernelContext& ctx) { return run_arith(ctx, Arith::kMul); }
Status div_kernel(KernelContext& ctx) { return run_arith(ctx, Arith::kDiv); }
Status mod_kernel(KernelContext& ctx) { return run_arith(ctx, Arith::kMod); }

}  // namespace kiln
