// Cast between float32/float16/bfloat16/int32/int64/uint8/bool (the reference's rules: float -> int truncates
// toward zero and wraps, NaN -> 0; -> bool is != 0) and Where over broadcast inputs of any fixed-size dtype.
#include <cmath>
#include <cstring>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/data.h"
#include "core/float_formats.h"

namespace kiln::cpu::kern {
namespace {

bool castable(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16 || d == DType::kBFloat16 || d == DType::kInt32 ||
         d == DType::kInt64 || d == DType::kUInt8 || d == DType::kBool;
}

// Float value -> the int64 two's-complement pattern the reference keeps the low bits of.
inline uint64_t float_bits(float f) {
  if (f != f) return 0;
  const double t = std::trunc(static_cast<double>(f));
  constexpr double kTwo63 = 9223372036854775808.0;
  if (t >= -kTwo63 && t < kTwo63) return static_cast<uint64_t>(static_cast<int64_t>(t));
  if (t >= kTwo63 && t < 2 * kTwo63) return static_cast<uint64_t>(t);
  return uint64_t{1} << 63;
}

// A source element read as float (is_float) or as an int64 (otherwise).
struct Elem {
  bool is_float;
  float f;
  int64_t i;
};

inline Elem load(DType d, const void* p, int64_t k) {
  switch (d) {
    case DType::kFloat32: return {true, static_cast<const float*>(p)[k], 0};
    case DType::kFloat16: return {true, half_to_float(static_cast<const uint16_t*>(p)[k]), 0};
    case DType::kBFloat16: return {true, bf16_to_float(static_cast<const uint16_t*>(p)[k]), 0};
    case DType::kInt32: return {false, 0.f, static_cast<const int32_t*>(p)[k]};
    case DType::kInt64: return {false, 0.f, static_cast<const int64_t*>(p)[k]};
    case DType::kUInt8: return {false, 0.f, static_cast<const uint8_t*>(p)[k]};
    default: return {false, 0.f, static_cast<const uint8_t*>(p)[k] != 0};  // bool
  }
}

inline void store(DType d, void* p, int64_t k, const Elem& e) {
  const float f = e.is_float ? e.f : static_cast<float>(e.i);
  const uint64_t bits = e.is_float ? float_bits(e.f) : static_cast<uint64_t>(e.i);
  switch (d) {
    case DType::kFloat32: static_cast<float*>(p)[k] = f; break;
    case DType::kFloat16: static_cast<uint16_t*>(p)[k] = float_to_half(f); break;
    case DType::kBFloat16: static_cast<uint16_t*>(p)[k] = float_to_bf16(f); break;
    case DType::kInt32: static_cast<int32_t*>(p)[k] = static_cast<int32_t>(static_cast<uint32_t>(bits)); break;
    case DType::kInt64: static_cast<int64_t*>(p)[k] = static_cast<int64_t>(bits); break;
    case DType::kUInt8: static_cast<uint8_t*>(p)[k] = static_cast<uint8_t>(bits); break;
    default: static_cast<uint8_t*>(p)[k] = e.is_float ? (e.f != 0.f) : (e.i != 0); break;  // bool
  }
}

// The common pairs as plain loops the compiler vectorizes.
bool fast_cast(DType s, DType d, const void* in, void* out, int64_t b, int64_t e) {
  if (s == d) {
    std::memcpy(static_cast<char*>(out) + b * dtype_size(d), static_cast<const char*>(in) + b * dtype_size(s),
                static_cast<size_t>(e - b) * dtype_size(d));
    return true;
  }
  if (s == DType::kInt64 && d == DType::kInt32) {
    for (int64_t k = b; k < e; ++k) static_cast<int32_t*>(out)[k] = static_cast<int32_t>(static_cast<const int64_t*>(in)[k]);
    return true;
  }
  if (s == DType::kInt32 && d == DType::kInt64) {
    for (int64_t k = b; k < e; ++k) static_cast<int64_t*>(out)[k] = static_cast<const int32_t*>(in)[k];
    return true;
  }
  if (s == DType::kInt64 && d == DType::kFloat32) {
    for (int64_t k = b; k < e; ++k) static_cast<float*>(out)[k] = static_cast<float>(static_cast<const int64_t*>(in)[k]);
    return true;
  }
  if (s == DType::kInt32 && d == DType::kFloat32) {
    for (int64_t k = b; k < e; ++k) static_cast<float*>(out)[k] = static_cast<float>(static_cast<const int32_t*>(in)[k]);
    return true;
  }
  return false;
}

}  // namespace

NodeSupport cast_supports(const Graph& g, const Node& n) {
  const DType s = input_dtype(g, n, 0);
  DType d = DType::kUndefined;
  if (n.op == OpKind::kCast) {
    if (!dtype_from_int(n.attrs.get_int("to", 0), &d)) return NodeSupport::no("bad 'to'");
  } else {
    d = input_dtype(g, n, 1);  // CastLike
  }
  if (!castable(s) || !castable(d))
    return NodeSupport::no(std::string("cast ") + dtype_name(s) + " -> " + dtype_name(d));
  return NodeSupport::yes();
}

Status cast_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  DType d = DType::kUndefined;
  if (ctx.node().op == OpKind::kCast) {
    if (!dtype_from_int(ctx.attrs().get_int("to", 0), &d)) return ctx.error("attribute 'to' is not a dtype");
  } else {
    if (!ctx.has_input(1)) return ctx.error("target_type (input 1) is required");
    d = ctx.input(1).dtype();
  }
  const DType s = x.dtype();
  if (!castable(s) || !castable(d)) return ctx.unsupported(std::string("cast ") + dtype_name(s) + " -> " + dtype_name(d));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, d, x.dims()));
  const void* in = x.raw();
  void* out = y->raw();
  parallel_range(threads_for(ctx, 2 * x.numel()), x.numel(), [&](int64_t b, int64_t e) {
    if (fast_cast(s, d, in, out, b, e)) return;
    for (int64_t k = b; k < e; ++k) store(d, out, k, load(s, in, k));
  });
  return ok_status();
}

NodeSupport where_supports(const Graph& g, const Node& n) {
  if (input_dtype(g, n, 0) != DType::kBool) return NodeSupport::no("condition is not bool");
  const DType d = input_dtype(g, n, 1);
  if (d != input_dtype(g, n, 2) || d == DType::kUndefined || d == DType::kString) return NodeSupport::no("dtypes");
  const size_t s = dtype_size(d);
  if (s != 1 && s != 2 && s != 4 && s != 8) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  return NodeSupport::yes();
}

namespace {
template <typename T>
void where_rows(const Bcast& bc, int threads, const uint8_t* c, const T* a, const T* b, T* y) {
  const int64_t sc = bc.stride[0].back(), sa = bc.stride[1].back(), sb = bc.stride[2].back();
  for_each_row_piece(bc, threads, [&](const int64_t* o, int64_t out, int64_t n) {
    const uint8_t* cc = c + o[0];
    const T* aa = a + o[1];
    const T* bb = b + o[2];
    T* yy = y + out;
    for (int64_t i = 0; i < n; ++i) yy[i] = cc[i * sc] ? aa[i * sa] : bb[i * sb];
  });
}
}  // namespace

Status where_run(CpuKernelContext& ctx) {
  const Tensor& c = ctx.input(0);
  const Tensor& a = ctx.input(1);
  const Tensor& b = ctx.input(2);
  if (c.dtype() != DType::kBool || a.dtype() != b.dtype()) return ctx.error("condition must be bool and X, Y one dtype");
  Bcast bc;
  if (!make_bcast({&c.dims(), &a.dims(), &b.dims()}, &bc)) return ctx.error("inputs do not broadcast to one shape");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, a.dtype(), bc.out));
  if (y->numel() == 0) return ok_status();
  const int t = threads_for(ctx, y->numel());
  const uint8_t* cp = c.data<uint8_t>();
  switch (dtype_size(a.dtype())) {
    case 1: where_rows(bc, t, cp, a.data<uint8_t>(), b.data<uint8_t>(), y->data<uint8_t>()); break;
    case 2: where_rows(bc, t, cp, a.data<uint16_t>(), b.data<uint16_t>(), y->data<uint16_t>()); break;
    case 4: where_rows(bc, t, cp, a.data<uint32_t>(), b.data<uint32_t>(), y->data<uint32_t>()); break;
    case 8: where_rows(bc, t, cp, a.data<uint64_t>(), b.data<uint64_t>(), y->data<uint64_t>()); break;
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(a.dtype()));
  }
  return ok_status();
}

}  // namespace kiln::cpu::kern
