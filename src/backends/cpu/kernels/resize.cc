// Resize on float32, nearest, linear and cubic (no antialias, no exclude_outside), every
// coordinate_transformation_mode but tf_crop_and_resize, scales or sizes, `axes`: one separable pass per resized
// axis, each output row a two-tap (linear) or four-tap (cubic, Keys' kernel with cubic_coeff_a) blend of input rows
// (vectorized over the inner dims). Coordinates and weights are computed in double exactly like the reference, so
// nearest picks the same pixels.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/blocked.h"
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/data.h"
#include "backends/cpu/kernels/vec_math.h"
#include "backends/cpu/onednn/common.h"
#include "ir/resize_params.h"

namespace kiln::cpu::kern {
namespace {

// The input positions and weights of one output position along one axis: 2 taps (nearest: one of weight 1; linear)
// or 4 (cubic).
struct Taps {
  int64_t i[4] = {0, 0, 0, 0};
  float w[4] = {1.f, 0.f, 0.f, 0.f};
};

// How one axis resamples: the mode, and what nearest rounding and the cubic kernel need.
struct AxisRule {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  int num_taps() const { return mode == ResizeMode::kCubic ? 4 : 2; }
};

Taps taps_for(const AxisRule& rule, double xo, int64_t in_len) {
  Taps t;
  if (rule.mode == ResizeMode::kNearest) {
    t.i[0] = t.i[1] = std::clamp<int64_t>(resize_nearest_index(rule.nearest, xo), 0, in_len - 1);
    return t;
  }
  const double f = std::ceil(xo) - 1, ratio = xo - f;  // neighbourhood at f (+ start + j), ratio in (0, 1]
  const int64_t start = rule.mode == ResizeMode::kCubic ? -1 : 0;
  for (int j = 0; j < rule.num_taps(); ++j) {
    const double d = static_cast<double>(start + j) - ratio;
    const double w = rule.mode == ResizeMode::kLinear ? std::max(0.0, 1.0 - std::fabs(d))
                                                      : resize_cubic_weight(d, rule.cubic_a);
    t.w[j] = static_cast<float>(w);
    t.i[j] = std::clamp<int64_t>(static_cast<int64_t>(f) + start + j, 0, in_len - 1);
  }
  return t;
}

KILN_CPU_CLONES void blend(const float* a, float wa, const float* b, float wb, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = wa * a[i] + wb * b[i];
}

KILN_CPU_CLONES void blend4(const float* const* rows, const float* w, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = w[0] * rows[0][i] + w[1] * rows[1][i] + w[2] * rows[2][i] + w[3] * rows[3][i];
}

// The innermost axis: every output element gathers two input elements of its row (taps as arrays).
KILN_CPU_CLONES void gather_row(const float* src, const int64_t* i0, const int64_t* i1, const float* w0,
                                const float* w1, float* y, int64_t n) {
  for (int64_t o = 0; o < n; ++o) y[o] = w0[o] * src[i0[o]] + w1[o] * src[i1[o]];
}

// The innermost axis with four taps per output element (cubic), taps as an array of Taps.
KILN_CPU_CLONES void gather_row4(const float* src, const Taps* taps, float* y, int64_t n) {
  for (int64_t o = 0; o < n; ++o) {
    const Taps& t = taps[o];
    y[o] = t.w[0] * src[t.i[0]] + t.w[1] * src[t.i[1]] + t.w[2] * src[t.i[2]] + t.w[3] * src[t.i[3]];
  }
}

// One axis: src [outer, in_len, inner] -> dst [outer, out_len, inner].
void resize_axis(const float* src, float* dst, int64_t outer, int64_t in_len, int64_t out_len, int64_t inner,
                 const std::vector<Taps>& taps, int num_taps, int threads) {
  if (inner == 1 && num_taps == 4) {
    parallel_range(threads, outer, [&](int64_t b, int64_t e) {
      for (int64_t ou = b; ou < e; ++ou) gather_row4(src + ou * in_len, taps.data(), dst + ou * out_len, out_len);
    });
    return;
  }
  if (inner == 1) {
    std::vector<int64_t> i0(out_len), i1(out_len);
    std::vector<float> w0(out_len), w1(out_len);
    for (int64_t o = 0; o < out_len; ++o) {
      i0[o] = taps[o].i[0];
      i1[o] = taps[o].i[1];
      w0[o] = taps[o].w[0];
      w1[o] = taps[o].w[1];
    }
    parallel_range(threads, outer, [&](int64_t b, int64_t e) {
      for (int64_t ou = b; ou < e; ++ou)
        gather_row(src + ou * in_len, i0.data(), i1.data(), w0.data(), w1.data(), dst + ou * out_len, out_len);
    });
    return;
  }
  parallel_range(threads, outer * out_len, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t ou = it / out_len, o = it % out_len;
      const Taps& t = taps[o];
      const float* base = src + ou * in_len * inner;
      float* y = dst + it * inner;
      if (num_taps == 4) {
        const float* rows[4] = {base + t.i[0] * inner, base + t.i[1] * inner, base + t.i[2] * inner,
                                base + t.i[3] * inner};
        blend4(rows, t.w, y, inner);
      } else if (t.w[1] == 0.f && t.w[0] == 1.f) {
        std::copy(base + t.i[0] * inner, base + (t.i[0] + 1) * inner, y);
      } else {
        blend(base + t.i[0] * inner, t.w[0], base + t.i[1] * inner, t.w[1], y, inner);
      }
    }
  });
}

// Resizes src (dims `in`) to `out` (every axis whose size or scale changes), one separable pass per axis.
Status resize_passes(CpuKernelContext& ctx, const float* src, const Dims& in, const Dims& out,
                     const std::vector<double>& scales, const AxisRule& rule, ResizeCoord ctm, float* y) {
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> todo;
  for (int64_t a = 0; a < r; ++a) {
    if (out[a] == in[a] && scales[a] == 1.0) continue;
    if (in[a] == 0) return ctx.error("cannot resize an empty axis");
    todo.push_back(a);
  }
  // The innermost axis first: its element gathers then run on the smallest data when upsampling, and the
  // other axes blend whole rows.
  if (todo.size() > 1 && todo.back() == r - 1) std::rotate(todo.begin(), todo.end() - 1, todo.end());
  if (todo.empty()) {
    std::copy(src, src + dims_numel(in), y);
    return ok_status();
  }
  // Intermediates ping-pong through one workspace; the last pass writes y.
  int64_t biggest = 0;
  Dims cur = in;
  for (size_t k = 0; k + 1 < todo.size(); ++k) {
    cur[todo[k]] = out[todo[k]];
    biggest = std::max(biggest, dims_numel(cur));
  }
  KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(static_cast<size_t>(2 * biggest + 1) * sizeof(float)));
  float* bufs[2] = {static_cast<float*>(ws), static_cast<float*>(ws) + biggest};
  cur = in;
  for (size_t k = 0; k < todo.size(); ++k) {
    const int64_t a = todo[k], in_len = cur[a], out_len = out[a];
    std::vector<Taps> taps(static_cast<size_t>(out_len));
    for (int64_t o = 0; o < out_len; ++o)
      taps[o] = taps_for(rule, resize_source_coord(ctm, static_cast<double>(o), in_len, out_len, scales[a]), in_len);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < a; ++d) outer *= cur[d];
    for (int64_t d = a + 1; d < r; ++d) inner *= cur[d];
    float* dst = k + 1 == todo.size() ? y : bufs[k % 2];
    resize_axis(src, dst, outer, in_len, out_len, inner, taps, rule.num_taps(),
                threads_for(ctx, outer * out_len * inner * rule.num_taps() / 2));
    cur[a] = out_len;
    src = dst;
  }
  return ok_status();
}

}  // namespace

NodeSupport resize_supports(const Graph& g, const Node& n) {
  auto parsed = resize_params(n.attrs);
  if (!parsed.ok()) return NodeSupport::no(parsed.status().message());
  const ResizeParams& p = *parsed;
  if (p.coord == ResizeCoord::kTfCropAndResize)
    return NodeSupport::no(std::string("coordinate_transformation_mode '") + resize_coord_name(p.coord) + "'");
  if (p.antialias) return NodeSupport::no("antialias");
  if (p.exclude_outside) return NodeSupport::no("exclude_outside");
  if (p.aspect != ResizeAspect::kStretch) return NodeSupport::no("keep_aspect_ratio_policy");
  if (n.opset > 0 && n.opset < 11) return NodeSupport::no("opset < 11 (scales as input 1)");
  NodeSupport s = require_dtypes(g, n, {0, 2}, {DType::kFloat32});
  if (!s.supported) return s;
  return require_dtypes(g, n, {3}, {DType::kInt64});
}

Status resize_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  auto parsed = resize_params(ctx.attrs());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const ResizeParams& p = *parsed;
  AxisRule rule;
  rule.mode = p.mode;
  rule.nearest = p.nearest;
  rule.cubic_a = p.cubic_coeff_a;
  const int64_t r = static_cast<int64_t>(x.rank());
  auto axes_or = resize_axes(p, r);
  if (!axes_or.ok()) return ctx.error(axes_or.status().message());
  const std::vector<int64_t>& axes = *axes_or;
  auto present = [&](size_t i) { return ctx.has_input(i) && ctx.input(i).numel() > 0; };
  const bool has_scales = present(2), has_sizes = present(3);
  if (has_scales == has_sizes) return ctx.error("exactly one of scales and sizes must be given");
  std::vector<double> scales(r, 1.0);
  Dims out = x.dims();
  if (has_scales) {
    const Tensor& s = ctx.input(2);
    if (s.dtype() != DType::kFloat32 || s.numel() != static_cast<int64_t>(axes.size()))
      return ctx.error("scales must be float32 with one value per axis");
    for (size_t i = 0; i < axes.size(); ++i) {
      const double sv = s.data<float>()[i];
      if (!(sv > 0)) return ctx.error("scales must be positive");
      const double o = std::floor(sv * static_cast<double>(x.dim(axes[i])));
      if (o > 1e12) return ctx.error("scaled output is too large");
      scales[axes[i]] = sv;
      out[axes[i]] = static_cast<int64_t>(o);
    }
  } else {
    const Tensor& s = ctx.input(3);
    if (s.dtype() != DType::kInt64 || s.numel() != static_cast<int64_t>(axes.size()))
      return ctx.error("sizes must be int64 with one value per axis");
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t sz = s.data<int64_t>()[i];
      if (sz < 0) return ctx.error("sizes must be non-negative");
      if (x.dim(axes[i]) == 0) return ctx.error("cannot resize an empty axis");
      out[axes[i]] = sz;
      scales[axes[i]] = static_cast<double>(sz) / static_cast<double>(x.dim(axes[i]));
    }
  }
  // A channel-blocked input resized only along its spatial axes stays blocked: the passes run on
  // [N, C blocks, spatial..., block] with the block as the innermost (vector) axis.
  if (r >= 3 && r <= 5 && out[0] == x.dim(0) && out[1] == x.dim(1) && scales[0] == 1.0 && scales[1] == 1.0) {
    BlockedView bx = blocked_input(ctx, 0);
    if (bx) {
      KILN_ASSIGN_OR_RETURN(BlockedView by, blocked_output(ctx, out, bx.block));
      if (by) {
        Dims in_ext{x.dim(0), bx.channel_blocks()}, out_ext{x.dim(0), bx.channel_blocks()};
        for (int64_t d = 2; d < r; ++d) {
          in_ext.push_back(x.dim(d));
          out_ext.push_back(out[d]);
        }
        in_ext.push_back(bx.block);
        out_ext.push_back(bx.block);
        std::vector<double> scales_ext = scales;
        scales_ext.push_back(1.0);
        if (by.padded_numel() == 0) return ok_status();
        return resize_passes(ctx, bx.data, in_ext, out_ext, scales_ext, rule, p.coord, by.data);
      }
    }
  }
  // A channels-last float32 hand-off (bf16 engines' convolutions) resized along its spatial axes stays channels-last:
  // the passes run on [N, spatial..., C] (FPN upsampling between convolutions: no reorder to NCHW and back).
  if (r >= 3 && r <= 5 && out[0] == x.dim(0) && out[1] == x.dim(1) && scales[0] == 1.0 && scales[1] == 1.0 &&
      ctx.private_output(0)) {
    if (const void* cl = onednn::channels_last_input(ctx, 0, dnnl::memory::data_type::f32)) {
      Dims in_cl{x.dim(0)}, out_cl{x.dim(0)};
      std::vector<double> scales_cl{1.0};
      for (int64_t d = 2; d < r; ++d) {
        in_cl.push_back(x.dim(d));
        out_cl.push_back(out[d]);
        scales_cl.push_back(scales[d]);
      }
      in_cl.push_back(x.dim(1));
      out_cl.push_back(out[1]);
      scales_cl.push_back(1.0);
      KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
      if (y->numel() == 0) return ok_status();
      // Every reader rounds to bf16: resize into this thread's scratch (the context's workspace holds the passes'
      // intermediates), then round into the output (half the bytes handed on).
      const bool to_bf16 = onednn::channels_last_bf16_output(ctx);
      float* dst = y->data<float>();
      thread_local std::vector<float> scratch;
      if (to_bf16) {
        scratch.resize(static_cast<size_t>(y->numel()));
        dst = scratch.data();
      }
      KILN_RETURN_IF_ERROR(resize_passes(ctx, static_cast<const float*>(cl), in_cl, out_cl, scales_cl, rule, p.coord, dst));
      if (to_bf16) {
        uint16_t* yb = reinterpret_cast<uint16_t*>(y->raw());
        parallel_range(threads_for(ctx, y->numel()), y->numel(),
                       [&](int64_t lo, int64_t hi) { floats_to_bf16(dst + lo, yb + lo, hi - lo); });
      }
      onednn::publish_channels_last_output(
          ctx, out, to_bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32, y->raw());
      return ok_status();
    }
  }
  KILN_RETURN_IF_ERROR(materialize_all_inputs(ctx));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
  if (y->numel() == 0) return ok_status();
  return resize_passes(ctx, x.data<float>(), x.dims(), out, scales, rule, p.coord, y->data<float>());
}

}  // namespace kiln::cpu::kern
