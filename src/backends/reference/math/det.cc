// Det reference kernel: determinants of the trailing square matrices, by LU decomposition with partial pivoting.
#include <cmath>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"

namespace kiln::math_ref {

Status det(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported (floats only)");
  if (x.rank() < 2 || x.dim(x.rank() - 1) != x.dim(x.rank() - 2))
    return ctx.error("input must have shape [*, M, M], got " + shape_str(x.dims()));
  const int64_t m = x.dim(x.rank() - 1);
  Dims out_dims(x.dims().begin(), x.dims().end() - 2);
  const int64_t batches = dims_numel(out_dims);
  auto v = read_doubles(x);
  std::vector<double> out(static_cast<size_t>(batches));
  std::vector<double> a(static_cast<size_t>(m * m));
  for (int64_t b = 0; b < batches; ++b) {
    std::copy(v.begin() + b * m * m, v.begin() + (b + 1) * m * m, a.begin());
    double d = 1.0;
    for (int64_t col = 0; col < m && d != 0.0; ++col) {
      int64_t piv = col;
      for (int64_t r = col + 1; r < m; ++r)
        if (std::fabs(a[r * m + col]) > std::fabs(a[piv * m + col])) piv = r;
      if (a[piv * m + col] == 0.0) {
        d = 0.0;
        break;
      }
      if (piv != col) {
        for (int64_t c = 0; c < m; ++c) std::swap(a[piv * m + c], a[col * m + c]);
        d = -d;
      }
      d *= a[col * m + col];
      for (int64_t r = col + 1; r < m; ++r) {
        double f = a[r * m + col] / a[col * m + col];
        for (int64_t c = col; c < m; ++c) a[r * m + c] -= f * a[col * m + c];
      }
    }
    out[b] = d;
  }
  ctx.set_output(0, tensor_from_doubles(x.dtype(), out_dims, out));
  return ok_status();
}

}  // namespace kiln::math_ref
