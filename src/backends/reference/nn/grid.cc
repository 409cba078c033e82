// Reference GridSample (N-D nearest/linear/cubic with zeros/border/reflection padding) and AffineGrid.
#include <algorithm>
#include <cmath>

#include "backends/reference/nn/nn_util.h"
#include "ir/grid_sample_params.h"

namespace kiln {
namespace {

struct GridTap {
  int64_t index;  // -1 = reads zero
  double weight;
};

Status grid_sample_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "grid"));
  const Tensor& x = ctx.input(0);
  const Tensor& grid = ctx.input(1);
  if (!is_float(x.dtype()) && !is_integer(x.dtype()))
    return ctx.unsupported(std::string("input X dtype ") + dtype_name(x.dtype()) + " is not supported");
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3 (N, C, spatial...); got " + nn::dims_str(x.dims()));
  const size_t nd = x.rank() - 2;
  if (grid.rank() != x.rank() || grid.dim(0) != x.dim(0) || grid.dim(grid.rank() - 1) != static_cast<int64_t>(nd))
    return ctx.error("grid must have shape [" + std::to_string(x.dim(0)) + ", out spatial..., " + std::to_string(nd) +
                     "]; got " + nn::dims_str(grid.dims()));
  auto parsed = grid_sample_params(ctx.attrs());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const GridSampleParams p = *parsed;
  if (p.mode == GridMode::kCubic && nd != 2) return ctx.unsupported("cubic mode is only defined for 4-D input");
  const int64_t n = x.dim(0), c = x.dim(1);
  Dims in(x.dims().begin() + 2, x.dims().end());
  Dims out_sp(grid.dims().begin() + 1, grid.dims().end() - 1);
  Dims od{n, c};
  od.insert(od.end(), out_sp.begin(), out_sp.end());
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x), gv = nn::read_doubles(grid);
  const int64_t in_size = dims_numel(in), out_size = dims_numel(out_sp);
  const auto in_strides = strides_of(in);
  std::vector<double> y(static_cast<size_t>(n * c * out_size), 0.0);
  std::vector<std::vector<GridTap>> taps(nd);
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t o = 0; o < out_size; ++o) {
      for (size_t d = 0; d < nd; ++d) {
        // grid's last dim lists coordinates innermost-first: (x, y[, z]).
        const double g = gv[(ni * out_size + o) * nd + (nd - 1 - d)];
        const double v = grid_source_position(p, g, in[d]);
        taps[d].clear();
        if (!std::isfinite(v)) {
          taps[d].push_back({-1, 0.0});
          continue;
        }
        if (p.mode == GridMode::kNearest) {
          taps[d].push_back({grid_pixel_index(p, static_cast<int64_t>(v), in[d]), 1.0});
        } else {
          const double f = std::floor(v), t = v - f;
          const int64_t i0 = static_cast<int64_t>(f);
          if (p.mode == GridMode::kLinear) {
            taps[d].push_back({grid_pixel_index(p, i0, in[d]), 1 - t});
            taps[d].push_back({grid_pixel_index(p, i0 + 1, in[d]), t});
          } else {
            for (int64_t j = -1; j <= 2; ++j)
              taps[d].push_back({grid_pixel_index(p, i0 + j, in[d]), grid_cubic_weight(t - static_cast<double>(j))});
          }
        }
      }
      // Weighted sum over the cartesian product of per-axis taps.
      std::vector<size_t> pick(nd, 0);
      std::vector<double> acc(c, 0.0);
      while (true) {
        double w = 1.0;
        int64_t off = 0;
        bool zero = false;
        for (size_t d = 0; d < nd; ++d) {
          const GridTap& t = taps[d][pick[d]];
          w *= t.weight;
          if (t.index < 0) zero = true;
          else off += t.index * in_strides[d];
        }
        if (!zero && w != 0.0)
          for (int64_t ci = 0; ci < c; ++ci) acc[ci] += w * xv[(ni * c + ci) * in_size + off];
        size_t d = nd;
        while (d > 0 && ++pick[d - 1] == taps[d - 1].size()) pick[--d] = 0;
        if (d == 0) break;
      }
      for (int64_t ci = 0; ci < c; ++ci) y[(ni * c + ci) * out_size + o] = acc[ci];
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor result, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(result));
  return ok_status();
}

// AffineGrid(theta [N, nd, nd+1], size [N, C, spatial...]) -> grid [N, spatial..., nd].
Status affine_grid_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "theta"));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& theta = ctx.input(0);
  Dims size = tensor_to_int64s(ctx.input(1));
  if (size.size() != 4 && size.size() != 5) return ctx.error("size must have 4 or 5 values; got " + nn::dims_str(size));
  const int64_t nd = static_cast<int64_t>(size.size()) - 2;
  const int64_t n = size[0];
  if (theta.rank() != 3 || theta.dim(0) != n || theta.dim(1) != nd || theta.dim(2) != nd + 1)
    return ctx.error("theta must have shape [" + std::to_string(n) + ", " + std::to_string(nd) + ", " + std::to_string(nd + 1) +
                     "]; got " + nn::dims_str(theta.dims()));
  for (int64_t s : size)
    if (s < 0) return ctx.error("size values must be non-negative");
  const bool align = ctx.attrs().get_int("align_corners", 0) != 0;
  Dims sp(size.begin() + 2, size.end());
  Dims od{n};
  od.insert(od.end(), sp.begin(), sp.end());
  od.push_back(nd);
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, theta.dtype(), od).status());
  const auto tv = nn::read_doubles(theta);
  auto base = [&](int64_t i, int64_t len) {
    if (align) return len <= 1 ? -1.0 : -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(len - 1);
    return -1.0 + (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(len);
  };
  const int64_t sp_size = dims_numel(sp);
  std::vector<double> y(static_cast<size_t>(n * sp_size * nd));
  for (int64_t ni = 0; ni < n; ++ni) {
    const double* th = tv.data() + ni * nd * (nd + 1);
    nn::for_each_index(sp, [&](const std::vector<int64_t>& idx, int64_t pos) {
      // Homogeneous point (x, y[, z], 1): x from the last spatial axis.
      std::vector<double> pt(nd + 1, 1.0);
      for (int64_t k = 0; k < nd; ++k) pt[k] = base(idx[nd - 1 - k], sp[nd - 1 - k]);
      for (int64_t row = 0; row < nd; ++row) {
        double v = 0.0;
        for (int64_t k = 0; k <= nd; ++k) v += th[row * (nd + 1) + k] * pt[k];
        y[(ni * sp_size + pos) * nd + row] = v;
      }
    });
  }
  KILN_ASSIGN_OR_RETURN(Tensor result, nn::make_tensor(theta.dtype(), od, y));
  ctx.set_output(0, std::move(result));
  return ok_status();
}

}  // namespace

namespace nn {
Status grid_sample(KernelContext& ctx) { return grid_sample_kernel(ctx); }
Status affine_grid(KernelContext& ctx) { return affine_grid_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
