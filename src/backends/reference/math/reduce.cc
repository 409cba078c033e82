// Reduce* reference kernels (L1, L2, LogSum, LogSumExp, Max, Mean, Min, Prod, Sum, SumSquare).
// Axes come from input 1 (the normalizer moves older opsets' attribute there); an empty reduction yields the
// operation's identity (0, 1, -inf, +inf), and noop_with_empty_axes with no axes reduces nothing.
#include <cmath>
#include <limits>
#include <set>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"

namespace kiln::math_ref {
namespace {

enum class ReduceOp { kL1, kL2, kLogSum, kLogSumExp, kMax, kMean, kMin, kProd, kSum, kSumSquare };

// Which input element feeds which output element, and the output shape.
struct ReducePlan {
  Dims out_dims;
  std::vector<int64_t> out_index;  // per input element
  int64_t out_numel = 0;
  int64_t count = 0;  // input elements per output element
};

Status plan_reduce(const KernelContext& ctx, const Tensor& x, ReducePlan* p) {
  const int64_t rank = static_cast<int64_t>(x.rank());
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
    const Tensor& a = ctx.input(1);
    if (!is_integer(a.dtype()) || a.rank() > 1)
      return ctx.error(std::string("axes must be a 1-D int64 tensor, got ") + dtype_name(a.dtype()) + " " +
                       shape_str(a.dims()));
    axes = read_int64s(a);
  } else if (ctx.attrs().has("axes")) {
    axes = ctx.attrs().get_ints("axes");
  }
  const bool noop = ctx.attrs().get_int("noop_with_empty_axes", 0) != 0;
  const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (!noop) reduced.assign(static_cast<size_t>(rank), true);
  } else {
    for (int64_t a : axes) {
      int64_t n;
      if (!normalize_axis_index(a, rank, &n))
        return ctx.error("axis " + std::to_string(a) + " is out of range for input of rank " + std::to_string(rank));
      if (reduced[n]) return ctx.error("axis " + std::to_string(a) + " is listed twice in axes");
      reduced[n] = true;
    }
  }
  Dims full_out;  // rank-preserving output dims
  p->count = 1;
  for (int64_t d = 0; d < rank; ++d) {
    full_out.push_back(reduced[d] ? 1 : x.dim(d));
    if (reduced[d]) p->count *= x.dim(d);
    if (!reduced[d] || keepdims) p->out_dims.push_back(reduced[d] ? 1 : x.dim(d));
  }
  KILN_RETURN_IF_ERROR(check_output_size(ctx, full_out));
  p->out_numel = dims_numel(full_out);
  auto os = strides_of(full_out);
  p->out_index.assign(static_cast<size_t>(x.numel()), 0);
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  int64_t off = 0;
  for (int64_t e = 0; e < x.numel(); ++e) {
    p->out_index[e] = off;
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t step = reduced[d] ? 0 : os[d];
      if (++idx[d] < x.dim(d)) {
        off += step;
        break;
      }
      off -= step * (x.dim(d) - 1);
      idx[d] = 0;
    }
  }
  return ok_status();
}

std::vector<double> reduce_doubles(ReduceOp op, const std::vector<double>& x, const ReducePlan& p) {
  const double inf = std::numeric_limits<double>::infinity();
  const size_t n = static_cast<size_t>(p.out_numel);
  double init = 0.0;
  if (op == ReduceOp::kProd) init = 1.0;
  if (op == ReduceOp::kMax) init = -inf;
  if (op == ReduceOp::kMin) init = inf;
  std::vector<double> acc(n, init);
  std::vector<double> mx(n, -inf);  // LogSumExp: running maximum
  if (op == ReduceOp::kLogSumExp) {
    for (size_t e = 0; e < x.size(); ++e) {
      double& m = mx[p.out_index[e]];
      if (std::isnan(x[e]) || x[e] > m) m = std::isnan(m) ? m : x[e];
    }
  }
  for (size_t e = 0; e < x.size(); ++e) {
    double& a = acc[p.out_index[e]];
    const double v = x[e];
    switch (op) {
      case ReduceOp::kL1:
        a += std::fabs(v);
        break;
      case ReduceOp::kL2:
      case ReduceOp::kSumSquare:
        a += v * v;
        break;
      case ReduceOp::kLogSum:
      case ReduceOp::kMean:
      case ReduceOp::kSum:
        a += v;
        break;
      case ReduceOp::kLogSumExp: {
        double m = mx[p.out_index[e]];
        a += std::isinf(m) ? (v == m ? 1.0 : 0.0) : std::exp(v - m);
        break;
      }
      case ReduceOp::kProd:
        a *= v;
        break;
      case ReduceOp::kMax:
        if (std::isnan(v) || v > a) a = std::isnan(a) ? a : v;
        break;
      case ReduceOp::kMin:
        if (std::isnan(v) || v < a) a = std::isnan(a) ? a : v;
        break;
    }
  }
  for (size_t o = 0; o < n; ++o) {
    switch (op) {
      case ReduceOp::kL2:
        acc[o] = std::sqrt(acc[o]);
        break;
      case ReduceOp::kLogSum:
        acc[o] = std::log(acc[o]);
        break;
      case ReduceOp::kMean:
        acc[o] = acc[o] / static_cast<double>(p.count);
        break;
      case ReduceOp::kLogSumExp:
        acc[o] = p.count == 0 ? -inf : (std::isinf(mx[o]) ? mx[o] : mx[o] + std::log(acc[o]));
        break;
      default:
        break;
    }
  }
  return acc;
}

// Smallest and largest values of an integer/bool dtype as (wrapping) int64 bit patterns.
void int_limits(DType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DType::kBool:
      *lo = 0;
      *hi = 1;
      return;
    case DType::kInt8:
      *lo = INT8_MIN;
      *hi = INT8_MAX;
      return;
    case DType::kInt16:
      *lo = INT16_MIN;
      *hi = INT16_MAX;
      return;
    case DType::kInt32:
      *lo = INT32_MIN;
      *hi = INT32_MAX;
      return;
    case DType::kUInt8:
      *lo = 0;
      *hi = UINT8_MAX;
      return;
    case DType::kUInt16:
      *lo = 0;
      *hi = UINT16_MAX;
      return;
    case DType::kUInt32:
      *lo = 0;
      *hi = UINT32_MAX;
      return;
    case DType::kUInt64:
      *lo = 0;
      *hi = -1;
      return;
    default:
      *lo = INT64_MIN;
      *hi = INT64_MAX;
      return;
  }
}

// Exact integer reductions (Sum, SumSquare, L1, Prod, Max, Min) with two's-complement wrap-around.
std::vector<int64_t> reduce_ints(ReduceOp op, DType dt, const std::vector<int64_t>& x, const ReducePlan& p) {
  int64_t lo, hi;
  int_limits(dt, &lo, &hi);
  const bool unsigned64 = dt == DType::kUInt64;
  auto less = [&](int64_t a, int64_t b) {
    return unsigned64 ? static_cast<uint64_t>(a) < static_cast<uint64_t>(b) : a < b;
  };
  int64_t init = 0;
  if (op == ReduceOp::kProd) init = 1;
  if (op == ReduceOp::kMax) init = lo;
  if (op == ReduceOp::kMin) init = hi;
  std::vector<int64_t> acc(static_cast<size_t>(p.out_numel), init);
  for (size_t e = 0; e < x.size(); ++e) {
    int64_t& a = acc[p.out_index[e]];
    const uint64_t ua = static_cast<uint64_t>(a), uv = static_cast<uint64_t>(x[e]);
    switch (op) {
      case ReduceOp::kSum:
        a = static_cast<int64_t>(ua + uv);
        break;
      case ReduceOp::kSumSquare:
        a = static_cast<int64_t>(ua + uv * uv);
        break;
      case ReduceOp::kL1:
        a = static_cast<int64_t>(ua + (x[e] < 0 && !unsigned64 ? 0 - uv : uv));
        break;
      case ReduceOp::kProd:
        a = static_cast<int64_t>(ua * uv);
        break;
      case ReduceOp::kMax:
        if (less(a, x[e])) a = x[e];
        break;
      case ReduceOp::kMin:
        if (less(x[e], a)) a = x[e];
        break;
      default:
        break;
    }
  }
  return acc;
}

Status reduce_kernel(KernelContext& ctx, ReduceOp op) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const DType dt = x.dtype();
  const bool minmax = op == ReduceOp::kMax || op == ReduceOp::kMin;
  if (!is_float(dt) && !is_plain_integer(dt) && !(minmax && dt == DType::kBool))
    return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  ReducePlan p;
  KILN_RETURN_IF_ERROR(plan_reduce(ctx, x, &p));
  const bool exact_int = !is_float(dt) && (op == ReduceOp::kSum || op == ReduceOp::kSumSquare || op == ReduceOp::kL1 ||
                                           op == ReduceOp::kProd || minmax);
  if (exact_int) {
    ctx.set_output(0, tensor_from_int64s(dt, p.out_dims, reduce_ints(op, dt, read_int64s(x), p)));
  } else {
    ctx.set_output(0, tensor_from_doubles(dt, p.out_dims, reduce_doubles(op, read_doubles(x), p)));
  }
  return ok_status();
}

}  // namespace

Status reduce_l1(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kL1); }
Status reduce_l2(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kL2); }
Status reduce_log_sum(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kLogSum); }
Status reduce_log_sum_exp(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kLogSumExp); }
Status reduce_max(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kMax); }
Status reduce_mean(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kMean); }
Status reduce_min(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kMin); }
Status reduce_prod(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kProd); }
Status reduce_sum(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kSum); }
Status reduce_sum_square(KernelContext& ctx) { return reduce_kernel(ctx, ReduceOp::kSumSquare); }

}  // namespace kiln::math_ref
