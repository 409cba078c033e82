// Small-tensor kernels that models use for masks and shape arithmetic, so those nodes do not leave the CPU
// backend: comparisons (Equal/Less/LessOrEqual/Greater/GreaterOrEqual on float32/int32/int64, Equal on bool),
// And/Or/Xor/Not on bool, integer Div (truncating, like the reference), Mod (int32/int64 with fmod 0 or 1, float32
// with fmod 1; the reference's sign rules), Range and ConstantOfShape.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/eltwise.h"

namespace kiln::cpu::kern {
namespace {

template <typename T>
bool compare(OpKind op, T a, T b) {
  switch (op) {
    case OpKind::kEqual: return a == b;
    case OpKind::kLess: return a < b;
    case OpKind::kLessOrEqual: return a <= b;
    case OpKind::kGreater: return a > b;
    case OpKind::kGreaterOrEqual: return a >= b;
    case OpKind::kAnd: return a && b;
    case OpKind::kOr: return a || b;
    case OpKind::kXor: return (a != 0) != (b != 0);
    default: return false;
  }
}

template <typename T>
void compare_rows(OpKind op, const Bcast& bc, int threads, const T* a, const T* b, uint8_t* y) {
  const int64_t sa = bc.stride[0].back(), sb = bc.stride[1].back();
  for_each_row_piece(bc, threads, [&](const int64_t* o, int64_t out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[out + i] = compare(op, a[o[0] + i * sa], b[o[1] + i * sb]) ? 1 : 0;
  });
}

bool is_logical(OpKind op) { return op == OpKind::kAnd || op == OpKind::kOr || op == OpKind::kXor; }

}  // namespace

NodeSupport compare_supports(const Graph& g, const Node& n) {
  const DType a = input_dtype(g, n, 0), b = input_dtype(g, n, 1);
  if (a != b) return NodeSupport::no("input dtypes differ");
  if (is_logical(n.op)) return a == DType::kBool ? NodeSupport::yes() : NodeSupport::no("not bool");
  if (a == DType::kFloat32 || a == DType::kInt32 || a == DType::kInt64) return NodeSupport::yes();
  if (n.op == OpKind::kEqual && a == DType::kBool) return NodeSupport::yes();
  return NodeSupport::no(std::string("dtype ") + dtype_name(a));
}

Status compare_run(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) return ctx.error("input dtypes differ");
  Bcast bc;
  if (!make_bcast({&a.dims(), &b.dims()}, &bc))
    return ctx.error("inputs of shapes " + dims_to_string(a.dims()) + " and " + dims_to_string(b.dims()) + " do not broadcast");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kBool, bc.out));
  const int t = threads_for(ctx, y->numel());
  const OpKind op = ctx.node().op;
  uint8_t* yp = y->data<uint8_t>();
  switch (a.dtype()) {
    case DType::kFloat32: compare_rows(op, bc, t, a.data<float>(), b.data<float>(), yp); break;
    case DType::kInt32: compare_rows(op, bc, t, a.data<int32_t>(), b.data<int32_t>(), yp); break;
    case DType::kInt64: compare_rows(op, bc, t, a.data<int64_t>(), b.data<int64_t>(), yp); break;
    case DType::kBool: compare_rows(op, bc, t, a.data<uint8_t>(), b.data<uint8_t>(), yp); break;
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(a.dtype()));
  }
  return ok_status();
}

NodeSupport not_supports(const Graph& g, const Node& n) { return require_dtypes(g, n, {0}, {DType::kBool}); }

Status not_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kBool, x.dims()));
  for (int64_t i = 0; i < x.numel(); ++i) y->data<uint8_t>()[i] = x.data<uint8_t>()[i] ? 0 : 1;
  return ok_status();
}

NodeSupport int_div_supports(const Graph& g, const Node& n) {
  if (n.opset > 0 && n.opset < 7) return NodeSupport::no("opset < 7");
  const DType a = input_dtype(g, n, 0);
  if (a != input_dtype(g, n, 1) || (a != DType::kInt32 && a != DType::kInt64)) return NodeSupport::no("not int32/int64");
  return NodeSupport::yes();
}

namespace {
template <typename T>
Status int_div(const CpuKernelContext& ctx, const Bcast& bc, const T* a, const T* b, int64_t nb, T* y) {
  for (int64_t i = 0; i < nb; ++i)
    if (b[i] == 0) return ctx.error("integer division by zero");
  const int64_t sa = bc.stride[0].back(), sb = bc.stride[1].back();
  for_each_row_piece(bc, 1, [&](const int64_t* o, int64_t out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const T u = a[o[0] + i * sa], v = b[o[1] + i * sb];
      y[out + i] = v == T(-1) ? static_cast<T>(T(0) - static_cast<std::make_unsigned_t<T>>(u)) : static_cast<T>(u / v);
    }
  });
  return ok_status();
}
}  // namespace

Status int_div_run(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) return ctx.error("input dtypes differ");
  Bcast bc;
  if (!make_bcast({&a.dims(), &b.dims()}, &bc)) return ctx.error("inputs do not broadcast");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, a.dtype(), bc.out));
  if (y->numel() == 0) return ok_status();
  if (a.dtype() == DType::kInt64) return int_div(ctx, bc, a.data<int64_t>(), b.data<int64_t>(), b.numel(), y->data<int64_t>());
  if (a.dtype() == DType::kInt32) return int_div(ctx, bc, a.data<int32_t>(), b.data<int32_t>(), b.numel(), y->data<int32_t>());
  return ctx.unsupported(std::string("dtype ") + dtype_name(a.dtype()));
}

NodeSupport mod_supports(const Graph& g, const Node& n) {
  const DType a = input_dtype(g, n, 0);
  if (a != input_dtype(g, n, 1)) return NodeSupport::no("input dtypes differ");
  if (a != DType::kInt32 && a != DType::kInt64 && a != DType::kFloat32) return NodeSupport::no("not int32/int64/float32");
  return NodeSupport::yes();
}

namespace {
// Mod's remainder: C's (sign of the dividend) with fmod, else Python's (sign of the divisor), as the reference.
template <typename T>
T remainder(T a, T b, bool fmod) {
  if constexpr (std::is_floating_point_v<T>) {
    T r = std::fmod(a, b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    if (b == T(-1)) return T(0);  // avoids the lowest() % -1 trap
    T r = static_cast<T>(a % b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    return r;
  }
}

template <typename T>
Status mod_typed(const CpuKernelContext& ctx, const Bcast& bc, const T* a, const T* b, int64_t nb, T* y, bool fmod) {
  if constexpr (!std::is_floating_point_v<T>) {
    for (int64_t i = 0; i < nb; ++i)
      if (b[i] == 0) return ctx.error("integer division by zero");
  }
  const int64_t sa = bc.stride[0].back(), sb = bc.stride[1].back();
  for_each_row_piece(bc, 1, [&](const int64_t* o, int64_t out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[out + i] = remainder(a[o[0] + i * sa], b[o[1] + i * sb], fmod);
  });
  return ok_status();
}
}  // namespace

Status mod_run(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) return ctx.error("input dtypes differ");
  const int64_t fmod = ctx.attrs().get_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.error("attribute fmod must be 0 or 1, got " + std::to_string(fmod));
  if (fmod == 0 && a.dtype() == DType::kFloat32) return ctx.error("fmod must be 1 for floating-point inputs (float32)");
  Bcast bc;
  if (!make_bcast({&a.dims(), &b.dims()}, &bc))
    return ctx.error("inputs of shapes " + dims_to_string(a.dims()) + " and " + dims_to_string(b.dims()) + " do not broadcast");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, a.dtype(), bc.out));
  if (y->numel() == 0) return ok_status();
  switch (a.dtype()) {
    case DType::kInt64: return mod_typed(ctx, bc, a.data<int64_t>(), b.data<int64_t>(), b.numel(), y->data<int64_t>(), fmod == 1);
    case DType::kInt32: return mod_typed(ctx, bc, a.data<int32_t>(), b.data<int32_t>(), b.numel(), y->data<int32_t>(), fmod == 1);
    case DType::kFloat32: return mod_typed(ctx, bc, a.data<float>(), b.data<float>(), b.numel(), y->data<float>(), fmod == 1);
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(a.dtype()));
  }
}

NodeSupport range_supports(const Graph& g, const Node& n) {
  return require_dtypes(g, n, {0, 1, 2}, {DType::kFloat32, DType::kInt32, DType::kInt64});
}

Status range_run(CpuKernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i)
    if (!ctx.has_input(i) || ctx.input(i).numel() != 1 || ctx.input(i).dtype() != ctx.input(0).dtype())
      return ctx.error("start, limit and delta must be scalars of one dtype");
  const DType dt = ctx.input(0).dtype();
  const double start = ctx.input(0).as_double(0), limit = ctx.input(1).as_double(0), delta = ctx.input(2).as_double(0);
  if (delta == 0) return ctx.error("delta must be nonzero");
  const double count = std::ceil((limit - start) / delta);
  if (!(count < static_cast<double>(int64_t{1} << 36))) return ctx.error("range has too many elements or is not finite");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, dt, {n}));
  if (dt == DType::kFloat32) {
    const float s = ctx.input(0).data<float>()[0], d = ctx.input(2).data<float>()[0];
    for (int64_t i = 0; i < n; ++i) y->data<float>()[i] = s + static_cast<float>(i) * d;
  } else if (dt == DType::kInt64) {
    const int64_t s = ctx.input(0).data<int64_t>()[0], d = ctx.input(2).data<int64_t>()[0];
    for (int64_t i = 0; i < n; ++i) y->data<int64_t>()[i] = s + i * d;
  } else if (dt == DType::kInt32) {
    const int32_t s = ctx.input(0).data<int32_t>()[0], d = ctx.input(2).data<int32_t>()[0];
    for (int64_t i = 0; i < n; ++i) y->data<int32_t>()[i] = static_cast<int32_t>(s + static_cast<int32_t>(i) * d);
  } else {
    return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  }
  return ok_status();
}

NodeSupport constant_of_shape_supports(const Graph& g, const Node& n) {
  const Tensor* v = n.attrs.get_tensor("value");
  if (v && (v->dtype() == DType::kString || v->numel() != 1)) return NodeSupport::no("value attribute");
  return require_dtypes(g, n, {0}, {DType::kInt64});
}

Status constant_of_shape_run(CpuKernelContext& ctx) {
  const Tensor& s = ctx.input(0);
  if (s.rank() > 1) return ctx.error("input shape must be 1-D");
  Dims dims = read_ints(s);
  for (int64_t d : dims)
    if (d < 0) return ctx.error("shape " + dims_to_string(dims) + " has a negative dim");
  const Tensor* v = ctx.attrs().get_tensor("value");
  const Tensor zero = Tensor::scalar<float>(DType::kFloat32, 0.f);
  const Tensor& val = v ? *v : zero;
  if (val.numel() != 1) return ctx.error("attribute 'value' must hold exactly one element");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, val.dtype(), dims));
  const size_t es = dtype_size(val.dtype());
  char* out = static_cast<char*>(y->raw());
  for (int64_t i = 0; i < y->numel(); ++i) std::memcpy(out + i * es, val.raw(), es);
  return ok_status();
}

}  // namespace kiln::cpu::kern
