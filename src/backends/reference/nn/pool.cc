// Reference pooling kernels: AveragePool, MaxPool (with Indices), LpPool and the Global* pools.
// The kiln-only attribute layout="NHWC" (set by the layout_nhwc pass) means X and Y are channels-last.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/reference/nn/nn_util.h"

namespace kiln {
namespace {

enum class PoolKind { kAvg, kMax, kLp };

bool pool_dtype_ok(PoolKind kind, DType t) {
  if (nn::is_basic_float(t)) return true;
  return kind == PoolKind::kMax && (t == DType::kInt8 || t == DType::kUInt8);
}

Status pool_kernel(KernelContext& ctx, PoolKind kind) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!pool_dtype_ok(kind, x.dtype()))
    return ctx.unsupported(std::string("input X dtype ") + dtype_name(x.dtype()) + " is not supported");
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3 (N, C, spatial...); got " + nn::dims_str(x.dims()));
  const size_t nd = x.rank() - 2;
  Dims kernel = ctx.attrs().get_ints("kernel_shape");
  if (kernel.size() != nd)
    return ctx.error("kernel_shape " + nn::dims_str(kernel) + " must have " + std::to_string(nd) + " values");
  Dims in(x.dims().begin() + 2, x.dims().end());
  const bool ceil_mode = ctx.attrs().get_int("ceil_mode", 0) != 0;
  nn::Window win;
  KILN_RETURN_IF_ERROR(nn::compute_window(ctx, in, kernel, ceil_mode, &win));
  const bool include_pad = ctx.attrs().get_int("count_include_pad", 0) != 0;
  const int64_t storage_order = ctx.attrs().get_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1) return ctx.error("storage_order must be 0 or 1");
  double p = 2.0;
  if (kind == PoolKind::kLp) {
    p = static_cast<double>(ctx.attrs().get_int("p", 2));
    if (p <= 0) return ctx.error("p must be positive");
  }
  const int64_t n = x.dim(0), c = x.dim(1);
  Dims od{n, c};
  od.insert(od.end(), win.out.begin(), win.out.end());
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x);
  const int64_t in_size = dims_numel(in), out_size = dims_numel(win.out);
  const auto in_strides = strides_of(in);
  std::vector<int64_t> col_strides(nd, 1);  // column-major spatial strides for storage_order=1
  for (size_t i = 1; i < nd; ++i) col_strides[i] = col_strides[i - 1] * in[i - 1];
  std::vector<double> y(static_cast<size_t>(n * c * out_size));
  std::vector<double> idx_out(kind == PoolKind::kMax ? y.size() : 0);
  for (int64_t nc = 0; nc < n * c; ++nc) {
    const double* xc = xv.data() + nc * in_size;
    nn::for_each_index(win.out, [&](const std::vector<int64_t>& o, int64_t opos) {
      double acc = kind == PoolKind::kMax ? -std::numeric_limits<double>::infinity() : 0.0;
      int64_t count = 0, best = -1;
      nn::for_each_index(win.kernel, [&](const std::vector<int64_t>& t, int64_t) {
        int64_t off = 0, coff = 0;
        bool inside = true, in_pad_region = true;
        for (size_t i = 0; i < nd; ++i) {
          int64_t q = o[i] * win.strides[i] - win.pads[i] + t[i] * win.dilations[i];
          if (q < 0 || q >= in[i]) inside = false;
          if (q >= in[i] + win.pads[nd + i]) in_pad_region = false;
          off += q * in_strides[i];
          coff += q * col_strides[i];
        }
        if (!inside) {
          if (include_pad && in_pad_region) ++count;
          return;
        }
        ++count;
        const double v = xc[off];
        if (kind == PoolKind::kMax) {
          if (v > acc || best < 0) {
            acc = v;
            best = storage_order == 0 ? off : coff;
          }
        } else if (kind == PoolKind::kAvg) {
          acc += v;
        } else {
          acc += std::pow(std::fabs(v), p);
        }
      });
      double r = acc;
      if (kind == PoolKind::kAvg) r = count > 0 ? acc / static_cast<double>(count) : 0.0;
      if (kind == PoolKind::kLp) r = std::pow(acc, 1.0 / p);
      if (kind == PoolKind::kMax && best < 0) r = 0.0;
      y[nc * out_size + opos] = r;
      if (kind == PoolKind::kMax)
        idx_out[nc * out_size + opos] = static_cast<double>(nc * in_size + std::max<int64_t>(best, 0));
    });
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(out));
  if (kind == PoolKind::kMax && ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor ind, nn::make_tensor(DType::kInt64, od, idx_out));
    ctx.set_output(1, std::move(ind));
  }
  return ok_status();
}

Status global_pool_kernel(KernelContext& ctx, PoolKind kind) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!nn::is_basic_float(x.dtype()))
    return ctx.unsupported(std::string("input X dtype ") + dtype_name(x.dtype()) + " is not supported");
  if (x.rank() < 2) return ctx.error("input X must have rank >= 2 (N, C, spatial...); got " + nn::dims_str(x.dims()));
  double p = 2.0;
  if (kind == PoolKind::kLp) {
    p = static_cast<double>(ctx.attrs().get_int("p", 2));
    if (p <= 0) return ctx.error("p must be positive");
  }
  const int64_t nc = x.dim(0) * x.dim(1);
  const int64_t sp = nc == 0 ? 0 : x.numel() / nc;
  Dims od{x.dim(0), x.dim(1)};
  for (size_t i = 2; i < x.rank(); ++i) od.push_back(1);
  if (sp == 0 && nc > 0) return ctx.error("spatial dims of X must be non-empty; got " + nn::dims_str(x.dims()));
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(static_cast<size_t>(nc));
  for (int64_t k = 0; k < nc; ++k) {
    const double* xc = xv.data() + k * sp;
    double acc = kind == PoolKind::kMax ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t i = 0; i < sp; ++i) {
      if (kind == PoolKind::kMax)
        acc = std::max(acc, xc[i]);
      else if (kind == PoolKind::kAvg)
        acc += xc[i];
      else
        acc += std::pow(std::fabs(xc[i]), p);
    }
    if (kind == PoolKind::kAvg) acc /= static_cast<double>(sp);
    if (kind == PoolKind::kLp) acc = std::pow(acc, 1.0 / p);
    y[k] = acc;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// Runs `inner` on an NCHW view of a layout="NHWC" node: X is transposed to channels-first, and Y back.
Status run_pool(KernelContext& ctx, PoolKind kind, Status (*inner)(KernelContext&, PoolKind)) {
  if (ctx.attrs().get_string("layout", "NCHW") == "NHWC" && ctx.wants_output(1))
    return ctx.unsupported("output Indices is not supported with layout NHWC");
  return nn::run_channels_last(ctx, {0}, [&](KernelContext& c) { return inner(c, kind); });
}

}  // namespace

namespace nn {
Status average_pool(KernelContext& ctx) { return run_pool(ctx, PoolKind::kAvg, pool_kernel); }
Status max_pool(KernelContext& ctx) { return run_pool(ctx, PoolKind::kMax, pool_kernel); }
Status lp_pool(KernelContext& ctx) { return run_pool(ctx, PoolKind::kLp, pool_kernel); }
Status global_average_pool(KernelContext& ctx) { return run_pool(ctx, PoolKind::kAvg, global_pool_kernel); }
Status global_max_pool(KernelContext& ctx) { return run_pool(ctx, PoolKind::kMax, global_pool_kernel); }
Status global_lp_pool(KernelContext& ctx) { return run_pool(ctx, PoolKind::kLp, global_pool_kernel); }
}  // namespace nn

}  // namespace kiln
