// Softmax, LogSoftmax and Hardmax reference kernels. Opset >= 13: along one axis (default -1);
// older opsets: the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] (default axis 1).
#include <cmath>
#include <limits>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"
#include "ir/op_params.h"

namespace kiln::math_ref {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

Status softmax_kernel(KernelContext& ctx, SoftmaxKind kind) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported (floats only)");
  KILN_ASSIGN_OR_RETURN(const SoftmaxShape sm, softmax_shape(ctx.node(), x.dims()));
  const int64_t outer = sm.outer, len = sm.len, inner = sm.inner;
  auto v = read_doubles(x);
  std::vector<double> y(v.size(), 0.0);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t j) { return (o * len + j) * inner + in; };
      if (len == 0) continue;
      double mx = -std::numeric_limits<double>::infinity();
      int64_t arg = 0;
      for (int64_t j = 0; j < len; ++j) {
        if (v[at(j)] > mx || std::isnan(v[at(j)])) {
          if (std::isnan(mx)) continue;
          mx = v[at(j)];
          arg = j;
        }
      }
      if (kind == SoftmaxKind::kHardmax) {
        y[at(arg)] = 1.0;
        continue;
      }
      double sum = 0.0;
      for (int64_t j = 0; j < len; ++j) sum += std::exp(v[at(j)] - mx);
      for (int64_t j = 0; j < len; ++j) {
        double z = v[at(j)] - mx;
        y[at(j)] = kind == SoftmaxKind::kSoftmax ? std::exp(z) / sum : z - std::log(sum);
      }
    }
  }
  ctx.set_output(0, tensor_from_doubles(x.dtype(), x.dims(), y));
  return ok_status();
}

}  // namespace

Status softmax(KernelContext& ctx) { return softmax_kernel(ctx, SoftmaxKind::kSoftmax); }
Status log_softmax(KernelContext& ctx) { return softmax_kernel(ctx, SoftmaxKind::kLogSoftmax); }
Status hardmax(KernelContext& ctx) { return softmax_kernel(ctx, SoftmaxKind::kHardmax); }

}  // namespace kiln::math_ref
