// Reference QLinearAdd / QLinearMul (ONNX Runtime's com.microsoft ops): C = Q(DQ(A) op DQ(B)) over the broadcast
// shape, in the float32 math of the unfused DequantizeLinear -> Add/Mul -> QuantizeLinear: (x - zero point) * scale,
// the sum or product, / C_scale rounded half to even, + C's zero point, saturated (docs/int8.md).
#include <cmath>

#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

// Built with -ffp-contract=off (CMakeLists.txt): products and sums round separately, as in the unfused
// DequantizeLinear -> Add/Mul -> QuantizeLinear.
namespace kiln {

namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// A per-tensor float32 scale (input i).
Result<float> scale_of(const KernelContext& ctx, size_t i) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& s = ctx.input(i);
  if (s.dtype() != DType::kFloat32 || s.numel() != 1)
    return ctx.error("input " + std::to_string(i) + " (a scale) must be one float32 value");
  return s.data<float>()[0];
}

// A per-tensor zero point (input i) of dtype `t`, 0 when absent.
Result<float> zero_point_of(const KernelContext& ctx, size_t i, DType t) {
  if (!ctx.has_input(i)) return 0.f;
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& z = ctx.input(i);
  if (z.dtype() != t || z.numel() != 1)
    return ctx.error("input " + std::to_string(i) + " (a zero point) must be one " + dtype_name(t) + " value");
  return static_cast<float>(z.as_double(0));
}

Status qlinear_binary(KernelContext& ctx, bool mul) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(3));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  if (!is_q8(a.dtype()) || !is_q8(b.dtype())) return ctx.error("A and B must be uint8 or int8");
  const DType ct = ctx.has_input(7) && ctx.input(7).defined() ? ctx.input(7).dtype() : a.dtype();
  if (!is_q8(ct)) return ctx.error("C_zero_point must be uint8 or int8");
  KILN_ASSIGN_OR_RETURN(const float sa, scale_of(ctx, 1));
  KILN_ASSIGN_OR_RETURN(const float sb, scale_of(ctx, 4));
  KILN_ASSIGN_OR_RETURN(const float sc, scale_of(ctx, 6));
  KILN_ASSIGN_OR_RETURN(const float za, zero_point_of(ctx, 2, a.dtype()));
  KILN_ASSIGN_OR_RETURN(const float zb, zero_point_of(ctx, 5, b.dtype()));
  KILN_ASSIGN_OR_RETURN(const float zc, zero_point_of(ctx, 7, ct));
  Dims out;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&a, &b}, &out));
  KILN_ASSIGN_OR_RETURN(Tensor c, Tensor::allocate(ct, out));
  const std::vector<int64_t> ma = broadcast_index_map(a.dims(), out);
  const std::vector<int64_t> mb = broadcast_index_map(b.dims(), out);
  const float lo = ct == DType::kInt8 ? -128.f : 0.f, hi = ct == DType::kInt8 ? 127.f : 255.f;
  for (int64_t k = 0; k < c.numel(); ++k) {
    const float x = (static_cast<float>(a.as_double(ma[k])) - za) * sa;
    const float y = (static_cast<float>(b.as_double(mb[k])) - zb) * sb;
    const float r = mul ? x * y : x + y;
    float q = std::nearbyint(r / sc) + zc;
    q = q < lo ? lo : (q > hi ? hi : q);
    if (ct == DType::kInt8) c.data<int8_t>()[k] = static_cast<int8_t>(q);
    else c.data<uint8_t>()[k] = static_cast<uint8_t>(q);
  }
  ctx.set_output(0, std::move(c));
  return ok_status();
}

}  // namespace

Status qlinear_add_kernel(KernelContext& ctx) { return qlinear_binary(ctx, false); }
Status qlinear_mul_kernel(KernelContext& ctx) { return qlinear_binary(ctx, true); }

}  // namespace kiln
