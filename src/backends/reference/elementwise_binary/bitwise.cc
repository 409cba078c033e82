// Reference kernels for BitShift (unsigned, LEFT/RIGHT) and BitwiseAnd, BitwiseOr, BitwiseXor (integers).
#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

namespace {

enum class Bits { kAnd, kOr, kXor };

struct Operands {
  Tensor b;
  Dims out_dims;
};

Result<Operands> prepare(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  Operands ops;
  ops.b = ctx.input(1);
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&ctx.input(0), &ops.b}, &ops.out_dims));
  return ops;
}

Status run_bitwise(KernelContext& ctx, Bits op) {
  KILN_ASSIGN_OR_RETURN(Operands ops, prepare(ctx));
  const Tensor& a = ctx.input(0);
  const DType dt = a.dtype();
  if (!is_integer(dt) || is_sub_byte(dt))
    return ctx.unsupported(std::string("bitwise ops need an integer dtype (int8..uint64), got ") + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, dt, ops.out_dims));
  Status st = dispatch_dtype(dt, DispatchSet{false, true, false}, [&]<typename T>() {
    if constexpr (std::is_integral_v<T>) {
      broadcast_binary<T, T, T>(a, ops.b, out, [op](T x, T y) -> T {
        switch (op) {
          case Bits::kAnd:
            return static_cast<T>(x & y);
          case Bits::kOr:
            return static_cast<T>(x | y);
          case Bits::kXor:
            return static_cast<T>(x ^ y);
        }
        return T(0);
      });
    }
  });
  if (!st.ok()) return ctx.unsupported(st.message());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

Status bit_shift_kernel(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(Operands ops, prepare(ctx));
  const Tensor& a = ctx.input(0);
  const DType dt = a.dtype();
  const std::string dir = ctx.attrs().get_string("direction");
  if (dir != "LEFT" && dir != "RIGHT")
    return ctx.error("attribute direction must be \"LEFT\" or \"RIGHT\", got \"" + dir + "\"");
  if (!is_unsigned_int(dt) || is_sub_byte(dt))
    return ctx.unsupported(std::string("BitShift needs an unsigned integer dtype (uint8..uint64), got ") +
                           dtype_name(dt));
  const bool left = dir == "LEFT";
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, dt, ops.out_dims));
  Status st = dispatch_dtype(dt, DispatchSet{false, true, false}, [&]<typename T>() {
    if constexpr (std::is_unsigned_v<T>) {
      constexpr uint64_t kBits = sizeof(T) * 8;
      broadcast_binary<T, T, T>(a, ops.b, out, [left](T x, T s) -> T {
        const uint64_t shift = static_cast<uint64_t>(s);
        if (shift >= kBits) return T(0);  // every bit shifted out (and no UB)
        return left ? static_cast<T>(static_cast<uint64_t>(x) << shift)
                    : static_cast<T>(static_cast<uint64_t>(x) >> shift);
      });
    }
  });
  if (!st.ok()) return ctx.unsupported(st.message());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status bitwise_and_kernel(KernelContext& ctx) { return run_bitwise(ctx, Bits::kAnd); }
Status bitwise_or_kernel(KernelContext& ctx) { return run_bitwise(ctx, Bits::kOr); }
Status bitwise_xor_kernel(KernelContext& ctx) { return run_bitwise(ctx, Bits::kXor); }

}  // namespace kiln
