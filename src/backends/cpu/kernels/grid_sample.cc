// GridSample on the CPU: float32 X [N, C, H, W] sampled at a float32 grid [N, Ho, Wo, 2] (optical flow warps,
// spatial transformers, deformable attention), nearest / bilinear / bicubic with zeros / border / reflection
// padding. The coordinate rules are the reference's (ir/grid_sample_params.h); per output pixel the taps and weights
// are computed once and applied to every channel. 3-D and 5-D inputs stay on the reference kernel.
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/data.h"
#include "ir/grid_sample_params.h"

namespace kiln::cpu::kern {

NodeSupport grid_sample_supports(const Graph& g, const Node& n) {
  const TypeInfo* t = g.type_of(n.inputs[0]);
  if (t && t->shape.rank_known && t->shape.rank() != 4) return NodeSupport::no("only 4-D input (2 spatial dims)");
  if (!grid_sample_params(n.attrs).ok()) return NodeSupport::no("attributes");
  return require_dtypes(g, n, {0, 1}, {DType::kFloat32});
}

Status grid_sample_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& grid = ctx.input(1);
  if (x.dtype() != DType::kFloat32 || grid.dtype() != DType::kFloat32)
    return ctx.unsupported("float32 X and grid only");
  if (x.rank() != 4) return ctx.unsupported("only 4-D input");
  if (grid.rank() != 4 || grid.dim(0) != x.dim(0) || grid.dim(3) != 2)
    return ctx.error("grid must have shape [" + std::to_string(x.dim(0)) + ", H_out, W_out, 2]; got " +
                     dims_to_string(grid.dims()));
  auto parsed = grid_sample_params(ctx.attrs());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const GridSampleParams p = *parsed;
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), ho = grid.dim(1), wo = grid.dim(2);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, {n, c, ho, wo}));
  const float* xs = x.data<float>();
  const float* gs = grid.data<float>();
  float* ys = y->data<float>();
  const int64_t plane = h * w, out_plane = ho * wo;
  // Taps of one axis: up to 4 (cubic) pixel indices (-1: zero) and weights.
  struct Axis {
    int count = 0;
    int64_t idx[4];
    float wt[4];
  };
  auto axis_taps = [&](double g, int64_t len, Axis* a) {
    const double v = grid_source_position(p, g, len);
    a->count = 0;
    if (!std::isfinite(v)) {
      a->idx[0] = -1;
      a->wt[0] = 0.f;
      a->count = 1;
      return;
    }
    if (p.mode == GridMode::kNearest) {
      a->idx[0] = grid_pixel_index(p, static_cast<int64_t>(v), len);
      a->wt[0] = 1.f;
      a->count = 1;
      return;
    }
    const double f = std::floor(v), t = v - f;
    const int64_t i0 = static_cast<int64_t>(f);
    if (p.mode == GridMode::kLinear) {
      a->idx[0] = grid_pixel_index(p, i0, len);
      a->wt[0] = static_cast<float>(1 - t);
      a->idx[1] = grid_pixel_index(p, i0 + 1, len);
      a->wt[1] = static_cast<float>(t);
      a->count = 2;
      return;
    }
    for (int j = -1; j <= 2; ++j) {
      a->idx[a->count] = grid_pixel_index(p, i0 + j, len);
      a->wt[a->count] = static_cast<float>(grid_cubic_weight(t - j));
      ++a->count;
    }
  };
  parallel_range(threads_for(ctx, 8 * n * c * out_plane), n * ho, [&](int64_t b, int64_t e) {
    std::vector<int64_t> off(16);
    std::vector<float> wt(16);
    for (int64_t row = b; row < e; ++row) {
      const int64_t ni = row / ho, oy = row % ho;
      const float* xn = xs + ni * c * plane;
      float* yn = ys + ni * c * out_plane;
      for (int64_t ox = 0; ox < wo; ++ox) {
        const float* g = gs + ((ni * ho + oy) * wo + ox) * 2;  // (x, y): x indexes W
        Axis ax, ay;
        axis_taps(g[0], w, &ax);
        axis_taps(g[1], h, &ay);
        int taps = 0;
        for (int i = 0; i < ay.count; ++i)
          for (int j = 0; j < ax.count; ++j) {
            const float wij = ay.wt[i] * ax.wt[j];
            if (ay.idx[i] < 0 || ax.idx[j] < 0 || wij == 0.f) continue;
            off[taps] = ay.idx[i] * w + ax.idx[j];
            wt[taps] = wij;
            ++taps;
          }
        const int64_t o = oy * wo + ox;
        for (int64_t ci = 0; ci < c; ++ci) {
          const float* xc = xn + ci * plane;
          float acc = 0.f;
          for (int k = 0; k < taps; ++k) acc += wt[k] * xc[off[k]];
          yn[ci * out_plane + o] = acc;
        }
      }
    }
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
