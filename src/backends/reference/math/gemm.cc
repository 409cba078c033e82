// Gemm reference kernel: Y = alpha * op(A) * op(B) + beta * C, with C broadcast to [M, N].
#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"
#include "ir/op_params.h"

namespace kiln::math_ref {

Status gemm(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  const bool trans_a = gp->trans_a, trans_b = gp->trans_b;
  const double alpha = gp->alpha, beta = gp->beta;
  if (a.dtype() != b.dtype())
    return ctx.error(std::string("A and B must have the same dtype, got ") + dtype_name(a.dtype()) + " and " +
                     dtype_name(b.dtype()));
  if (a.rank() != 2 || b.rank() != 2)
    return ctx.error("A and B must be 2-D, got A " + shape_str(a.dims()) + " and B " + shape_str(b.dims()));
  const DType dt = a.dtype();
  const bool as_float = is_float(dt);
  if (!as_float && !is_plain_integer(dt))
    return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (k != kb)
    return ctx.error("inner dimensions differ: op(A) is " + std::to_string(m) + "x" + std::to_string(k) +
                     ", op(B) is " + std::to_string(kb) + "x" + std::to_string(n));
  const Dims out_dims = {m, n};
  KILN_RETURN_IF_ERROR(check_output_size(ctx, out_dims));
  std::vector<int64_t> c_map;
  Tensor c;
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    c = ctx.input(2);
    if (c.dtype() != dt)
      return ctx.error(std::string("C must have dtype ") + dtype_name(dt) + ", got " + dtype_name(c.dtype()));
    Dims bd;
    if (c.rank() > 2 || !broadcast_dims(c.dims(), out_dims, &bd) || bd != out_dims)
      return ctx.error("C " + shape_str(c.dims()) + " cannot be broadcast to [M,N] = " + shape_str(out_dims));
    c_map = broadcast_index_map(c.dims(), out_dims);
  }
  auto a_at = [&](int64_t i, int64_t kk) { return trans_a ? kk * m + i : i * k + kk; };
  auto b_at = [&](int64_t kk, int64_t j) { return trans_b ? j * k + kk : kk * n + j; };
  if (as_float) {
    auto av = read_doubles(a), bv = read_doubles(b);
    std::vector<double> cv = c.defined() ? read_doubles(c) : std::vector<double>{};
    std::vector<double> y(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t kk = 0; kk < k; ++kk) s += av[a_at(i, kk)] * bv[b_at(kk, j)];
        double v = alpha * s;
        if (c.defined()) v += beta * cv[c_map[i * n + j]];
        y[i * n + j] = v;
      }
    }
    ctx.set_output(0, tensor_from_doubles(dt, out_dims, y));
    return ok_status();
  }
  // Integers: exact wrapping arithmetic when alpha and beta are 1, otherwise scaled through doubles.
  auto av = read_int64s(a), bv = read_int64s(b);
  std::vector<int64_t> cv = c.defined() ? read_int64s(c) : std::vector<int64_t>{};
  const bool unit = alpha == 1.0 && beta == 1.0;
  std::vector<int64_t> y(static_cast<size_t>(m * n));
  std::vector<double> yd(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      uint64_t s = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        s += static_cast<uint64_t>(av[a_at(i, kk)]) * static_cast<uint64_t>(bv[b_at(kk, j)]);
      int64_t cval = c.defined() ? cv[c_map[i * n + j]] : 0;
      y[i * n + j] = static_cast<int64_t>(s + static_cast<uint64_t>(cval));
      yd[i * n + j] = alpha * static_cast<double>(static_cast<int64_t>(s)) + beta * static_cast<double>(cval);
    }
  }
  ctx.set_output(0, unit ? tensor_from_int64s(dt, out_dims, y) : tensor_from_doubles(dt, out_dims, yd));
  return ok_status();
}

}  // namespace kiln::math_ref
