// MatMul, MatMulInteger and QLinearMatMul reference kernels (numpy matmul semantics: 1-D promotion, batch broadcast).
#include <cmath>
#include <limits>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"
#include "core/float_formats.h"

namespace kiln {
namespace {

using math_ref::read_doubles;
using math_ref::read_int64s;
using math_ref::shape_str;

// How a (possibly batched) matrix product maps onto its operands.
struct MatMulPlan {
  Dims out_dims;
  int64_t m = 1, k = 1, n = 1;
  std::vector<int64_t> a_batch, b_batch;  // per output batch: matrix index into A and into B
};

Status plan_matmul(const KernelContext& ctx, const Dims& a_in, const Dims& b_in, MatMulPlan* p) {
  if (a_in.empty() || b_in.empty())
    return ctx.error("operands must have rank >= 1, got A " + shape_str(a_in) + " and B " + shape_str(b_in));
  Dims a = a_in, b = b_in;
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  p->m = a[a.size() - 2];
  p->k = a[a.size() - 1];
  p->n = b[b.size() - 1];
  if (b[b.size() - 2] != p->k)
    return ctx.error("inner dimensions differ: A " + shape_str(a_in) + " has K=" + std::to_string(p->k) + " but B " +
                     shape_str(b_in) + " has K=" + std::to_string(b[b.size() - 2]));
  Dims a_bat(a.begin(), a.end() - 2), b_bat(b.begin(), b.end() - 2), bat;
  if (!broadcast_dims(a_bat, b_bat, &bat))
    return ctx.error("batch dimensions of A " + shape_str(a_in) + " and B " + shape_str(b_in) + " cannot be broadcast");
  p->a_batch = broadcast_index_map(a_bat, bat);
  p->b_batch = broadcast_index_map(b_bat, bat);
  p->out_dims = bat;
  if (!a_vec) p->out_dims.push_back(p->m);
  if (!b_vec) p->out_dims.push_back(p->n);
  return math_ref::check_output_size(ctx, p->out_dims);
}

// Runs the product over staged operands; Acc is double for floats and uint64_t (wrapping) for integers.
template <typename Acc, typename V>
std::vector<V> run_matmul(const MatMulPlan& p, const std::vector<V>& a, const std::vector<V>& b) {
  const int64_t batches = static_cast<int64_t>(p.a_batch.size());
  std::vector<V> out(static_cast<size_t>(batches * p.m * p.n));
  for (int64_t bi = 0; bi < batches; ++bi) {
    const int64_t a0 = p.a_batch[bi] * p.m * p.k, b0 = p.b_batch[bi] * p.k * p.n, o0 = bi * p.m * p.n;
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        Acc s = 0;
        for (int64_t kk = 0; kk < p.k; ++kk)
          s += static_cast<Acc>(a[a0 + i * p.k + kk]) * static_cast<Acc>(b[b0 + kk * p.n + j]);
        out[o0 + i * p.n + j] = static_cast<V>(s);
      }
    }
  }
  return out;
}

Status matmul_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype())
    return ctx.error(std::string("A and B must have the same dtype, got ") + dtype_name(a.dtype()) + " and " +
                     dtype_name(b.dtype()));
  MatMulPlan p;
  KILN_RETURN_IF_ERROR(plan_matmul(ctx, a.dims(), b.dims(), &p));
  if (is_float(a.dtype())) {
    auto out = run_matmul<double>(p, read_doubles(a), read_doubles(b));
    ctx.set_output(0, math_ref::tensor_from_doubles(a.dtype(), p.out_dims, out));
    return ok_status();
  }
  if (math_ref::is_plain_integer(a.dtype())) {
    auto out = run_matmul<uint64_t>(p, read_int64s(a), read_int64s(b));
    ctx.set_output(0, math_ref::tensor_from_int64s(a.dtype(), p.out_dims, out));
    return ok_status();
  }
  return ctx.unsupported(std::string("MatMul of dtype ") + dtype_name(a.dtype()) + " is not supported");
}

// Zero point of a quantized operand: a scalar, or a vector along `axis_len` (per-row of A / per-column of B).
// Returns the per-element zero point for element (row, col) through `zp_at`.
struct ZeroPoint {
  std::vector<int64_t> values;  // empty = 0
  bool per_row = false;         // for A: indexed by row (M); for B: indexed by column (N)
};

Status read_zero_point(const KernelContext& ctx, size_t input, DType expect, int64_t axis_len, const Dims& operand,
                       bool is_a, ZeroPoint* zp) {
  if (!ctx.has_input(input)) return ok_status();
  KILN_RETURN_IF_ERROR(ctx.require_tensor(input));
  const Tensor& t = ctx.input(input);
  const std::string name = is_a ? "a_zero_point" : "b_zero_point";
  if (t.dtype() != expect)
    return ctx.error(name + " must have the dtype of its operand (" + dtype_name(expect) + "), got " +
                     dtype_name(t.dtype()));
  zp->values = read_int64s(t);
  if (t.numel() == 1) return ok_status();
  // Per-row (A: [M] or [..., M, 1]) / per-column (B: [N] or [..., 1, N]) zero points.
  if (t.numel() != axis_len || operand.size() < 2)
    return ctx.error(name + " must be a scalar or have " + std::to_string(axis_len) + " elements (one per " +
                     (is_a ? "row of A" : "column of B") + "), got shape " + shape_str(t.dims()));
  zp->per_row = true;
  return ok_status();
}

// Subtracts zero points from a staged 2-D-batched operand (rows x cols matrices).
void apply_zero_point(std::vector<int64_t>& v, const ZeroPoint& zp, int64_t rows, int64_t cols, bool by_row) {
  if (zp.values.empty()) return;
  for (size_t e = 0; e < v.size(); ++e) {
    int64_t within = static_cast<int64_t>(e) % (rows * cols);
    int64_t idx = by_row ? within / cols : within % cols;
    v[e] -= zp.per_row ? zp.values[idx] : zp.values[0];
  }
}

bool is_8bit_int(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

Status matmul_integer_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_8bit_int(a.dtype()) || !is_8bit_int(b.dtype()))
    return ctx.error(std::string("A and B must be int8 or uint8, got ") + dtype_name(a.dtype()) + " and " +
                     dtype_name(b.dtype()));
  MatMulPlan p;
  KILN_RETURN_IF_ERROR(plan_matmul(ctx, a.dims(), b.dims(), &p));
  ZeroPoint azp, bzp;
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 2, a.dtype(), p.m, a.dims(), true, &azp));
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 3, b.dtype(), p.n, b.dims(), false, &bzp));
  auto av = read_int64s(a), bv = read_int64s(b);
  apply_zero_point(av, azp, p.m, p.k, true);
  apply_zero_point(bv, bzp, p.k, p.n, false);
  auto out = run_matmul<uint64_t>(p, av, bv);
  ctx.set_output(0, math_ref::tensor_from_int64s(DType::kInt32, p.out_dims, out));
  return ok_status();
}

// Quantized types QLinearMatMul accepts for a, b and y.
bool is_qlinear_type(DType t) { return is_8bit_int(t) || is_float8(t); }

// Scale of a quantized operand: a scalar or one value per row (A, y) / column (B).
Status read_scale(const KernelContext& ctx, size_t input, const std::string& name, int64_t axis_len,
                  std::vector<double>* out) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(input));
  const Tensor& t = ctx.input(input);
  if (!is_float(t.dtype())) return ctx.error(name + " must be a float tensor, got " + dtype_name(t.dtype()));
  if (t.numel() != 1 && t.numel() != axis_len)
    return ctx.error(name + " must be a scalar or have " + std::to_string(axis_len) + " elements, got shape " +
                     shape_str(t.dims()));
  *out = read_doubles(t);
  return ok_status();
}

// Stores a requantized value of dtype `t`. Integer outputs wrap modulo 256 like the ONNX reference
// implementation (numpy astype), which the backend tests (test_qlinearmatmul_*_int8_*) expect; float8 saturates.
void store_quantized(Tensor& y, int64_t i, double v) {
  const double r = std::nearbyint(v);
  const int64_t wide = std::isfinite(r) && std::fabs(r) < 9.2e18 ? static_cast<int64_t>(r) : 0;
  switch (y.dtype()) {
    case DType::kInt8:
      y.data<int8_t>()[i] = static_cast<int8_t>(wide);
      break;
    case DType::kUInt8:
      y.data<uint8_t>()[i] = static_cast<uint8_t>(wide);
      break;
    case DType::kFloat8E4M3FN:
      y.data<uint8_t>()[i] = float_to_fp8e4m3fn(static_cast<float>(v), true);
      break;
    case DType::kFloat8E4M3FNUZ:
      y.data<uint8_t>()[i] = float_to_fp8e4m3fnuz(static_cast<float>(v), true);
      break;
    case DType::kFloat8E5M2:
      y.data<uint8_t>()[i] = float_to_fp8e5m2(static_cast<float>(v), true);
      break;
    case DType::kFloat8E5M2FNUZ:
      y.data<uint8_t>()[i] = float_to_fp8e5m2fnuz(static_cast<float>(v), true);
      break;
    default:
      break;
  }
}

Status qlinear_matmul_kernel(KernelContext& ctx) {
  for (size_t i : {0, 1, 3, 4, 6}) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  DType ydt = ctx.has_input(7) ? ctx.input(7).dtype() : a.dtype();
  if (!is_qlinear_type(a.dtype()) || !is_qlinear_type(b.dtype()) || !is_qlinear_type(ydt))
    return ctx.error(std::string("a, b and y must be int8/uint8/float8, got ") + dtype_name(a.dtype()) + ", " +
                     dtype_name(b.dtype()) + ", " + dtype_name(ydt));
  MatMulPlan p;
  KILN_RETURN_IF_ERROR(plan_matmul(ctx, a.dims(), b.dims(), &p));
  std::vector<double> a_scale, b_scale, y_scale;
  KILN_RETURN_IF_ERROR(read_scale(ctx, 1, "a_scale", p.m, &a_scale));
  KILN_RETURN_IF_ERROR(read_scale(ctx, 4, "b_scale", p.n, &b_scale));
  KILN_RETURN_IF_ERROR(read_scale(ctx, 6, "y_scale", p.m, &y_scale));
  // Dequantize both operands to exact real values (integers minus zero points, or float8 values).
  auto zp_of = [&](size_t input, int64_t axis_len, const std::string& name, std::vector<double>* zp) -> Status {
    zp->assign(1, 0.0);
    if (!ctx.has_input(input)) return ok_status();
    const Tensor& t = ctx.input(input);
    if (t.numel() != 1 && t.numel() != axis_len)
      return ctx.error(name + " must be a scalar or have " + std::to_string(axis_len) + " elements, got shape " +
                       shape_str(t.dims()));
    *zp = read_doubles(t);
    return ok_status();
  };
  std::vector<double> azp, bzp, yzp;
  KILN_RETURN_IF_ERROR(zp_of(2, p.m, "a_zero_point", &azp));
  KILN_RETURN_IF_ERROR(zp_of(5, p.n, "b_zero_point", &bzp));
  KILN_RETURN_IF_ERROR(zp_of(7, p.m, "y_zero_point", &yzp));
  auto av = read_doubles(a), bv = read_doubles(b);
  for (size_t e = 0; e < av.size(); ++e) {
    int64_t row = (static_cast<int64_t>(e) % (p.m * p.k)) / p.k;
    av[e] -= azp.size() == 1 ? azp[0] : azp[row];
  }
  for (size_t e = 0; e < bv.size(); ++e) {
    int64_t col = static_cast<int64_t>(e) % p.n;
    bv[e] -= bzp.size() == 1 ? bzp[0] : bzp[col];
  }
  auto acc = run_matmul<double>(p, av, bv);
  // Input 8 (Kiln's own, set by fold_qdq from a Gemm's bias): int32 [N] in accumulator units, added per column.
  if (ctx.has_input(8)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(8));
    const Tensor& bias = ctx.input(8);
    if (bias.dtype() != DType::kInt32 || bias.numel() != p.n)
      return ctx.error("bias (input 8) must be int32 with " + std::to_string(p.n) + " values, got " +
                       dtype_name(bias.dtype()) + " " + shape_str(bias.dims()));
    for (size_t e = 0; e < acc.size(); ++e) acc[e] += bias.data<int32_t>()[static_cast<int64_t>(e) % p.n];
  }
  // Inputs 9-11 (Kiln's own, fuse_qmatmul_add): a residual R of Y's shape with R_scale and R_zero_point, added in
  // real units before the one requantization (saturate=1 only).
  std::vector<double> rv;
  double r_over_y = 0;
  if (ctx.has_input(9)) {
    for (size_t i : {9, 10}) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    const Tensor& r = ctx.input(9);
    if ((r.dtype() != DType::kInt8 && r.dtype() != DType::kUInt8) || r.dims() != p.out_dims)
      return ctx.error("residual R (input 9) must be int8/uint8 of Y's shape " + shape_str(p.out_dims) + ", got " +
                       dtype_name(r.dtype()) + " " + shape_str(r.dims()));
    if (ctx.attrs().get_int("saturate", 0) == 0) return ctx.error("residual R (input 9) needs saturate=1");
    if (ctx.input(10).numel() != 1 || y_scale.size() != 1) return ctx.error("R_scale and y_scale must be scalars");
    std::vector<double> rzp;
    KILN_RETURN_IF_ERROR(zp_of(11, 1, "R_zero_point", &rzp));
    rv = read_doubles(r);
    for (double& e : rv) e -= rzp[0];
    r_over_y = read_doubles(ctx.input(10))[0] / y_scale[0];
  }
  const DType sdt = ctx.input(1).dtype();
  // saturate=1 (Kiln's own attribute, set by fold_qdq on the QLinearMatMul it makes from DequantizeLinear -> MatMul
  // -> QuantizeLinear): clamp to the 8-bit range as QuantizeLinear does, instead of wrapping.
  const bool saturate = ctx.attrs().get_int("saturate", 0) != 0;
  Tensor y(ydt, p.out_dims);
  for (int64_t e = 0; e < static_cast<int64_t>(acc.size()); ++e) {
    int64_t row = (e % (p.m * p.n)) / p.n, col = e % p.n;
    double as = a_scale.size() == 1 ? a_scale[0] : a_scale[row];
    double bs = b_scale.size() == 1 ? b_scale[0] : b_scale[col];
    double ys = y_scale.size() == 1 ? y_scale[0] : y_scale[row];
    double yz = yzp.size() == 1 ? yzp[0] : yzp[row];
    // The combined scale is formed in the scales' dtype, as the ONNX reference does.
    double scale = math_ref::round_to_dtype(sdt, math_ref::round_to_dtype(sdt, as * bs) / ys);
    double v = acc[e] * scale + (rv.empty() ? 0.0 : rv[static_cast<size_t>(e)] * r_over_y);
    double q = is_float8(ydt) ? v + yz : std::nearbyint(v) + yz;
    if (saturate && !is_float8(ydt)) q = std::min(ydt == DType::kInt8 ? 127.0 : 255.0, std::max(ydt == DType::kInt8 ? -128.0 : 0.0, q));
    store_quantized(y, e, q);
  }
  ctx.set_output(0, std::move(y));
  return ok_status();
}

}  // namespace

namespace math_ref {
Status matmul(KernelContext& ctx) { return matmul_kernel(ctx); }
Status matmul_integer(KernelContext& ctx) { return matmul_integer_kernel(ctx); }
Status qlinear_matmul(KernelContext& ctx) { return qlinear_matmul_kernel(ctx); }
}  // namespace math_ref

}  // namespace kiln
