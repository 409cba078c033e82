// Region and neighbourhood CPU kernels: LRN (a window of channels per pixel, vectorized across pixels; the common
// betas 0.75, 0.5 and 1 use square roots and a division instead of pow), NonMaxSuppression (per batch and class:
// score filter (NaN scores never selected), candidates popped from a heap by score then index, greedy selection by the
// shared NmsKeeper (src/ir/nms_rules.h: geometry in double, kept boxes indexed by left edge), so the kept boxes are
// exactly the reference's, in its order; classes spread over the threads) and RoiAlign (bilinear taps computed once per region in double, then applied to every
// channel in float32, channels spread over the threads). Semantics follow src/backends/reference/nn/{roi,norm_local}.cc.
#include "backends/cpu/kernels/region_ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/vec_math.h"
#include "ir/nms_rules.h"
#include "ir/roi_align_rules.h"

namespace kiln::cpu::kern {
namespace {

bool int_index(DType d) { return d == DType::kInt64 || d == DType::kInt32; }

// y[i] = x[i] * t^-beta for t = bias + scale * sum of the squares of the window's channels at pixel i. Called per
// (image, channel) with the window's channel rows.
KILN_CPU_CLONES
void lrn_row(const float* const* window, int rows, const float* x, float* y, int64_t n, float bias, float scale,
             float beta) {
  constexpr int64_t kChunk = 256;
  float s[kChunk];
  for (int64_t b = 0; b < n; b += kChunk) {
    const int64_t m = std::min(kChunk, n - b);
    for (int64_t i = 0; i < m; ++i) s[i] = 0.0f;
    for (int r = 0; r < rows; ++r) {
      const float* w = window[r] + b;
      for (int64_t i = 0; i < m; ++i) s[i] += w[i] * w[i];
    }
    const float* xb = x + b;
    float* yb = y + b;
    if (beta == 0.75f) {
      for (int64_t i = 0; i < m; ++i) {
        const float t = bias + scale * s[i];
        const float r = __builtin_sqrtf(t);
        yb[i] = xb[i] / (r * __builtin_sqrtf(r));
      }
    } else if (beta == 0.5f) {
      for (int64_t i = 0; i < m; ++i) yb[i] = xb[i] / __builtin_sqrtf(bias + scale * s[i]);
    } else if (beta == 1.0f) {
      for (int64_t i = 0; i < m; ++i) yb[i] = xb[i] / (bias + scale * s[i]);
    } else {
      for (int64_t i = 0; i < m; ++i) yb[i] = xb[i] * std::pow(bias + scale * s[i], -beta);
    }
  }
}

// A bilinear sample of RoiAlign (ir/roi_align_rules.h) with float32 weights, as the channel loops apply it.
struct Tap {
  int64_t pos[4];
  float wt[4];
};

}  // namespace

NodeSupport lrn_supports(const Graph& g, const Node& n) {
  if (input_dtype(g, n, 0) != DType::kFloat32) return NodeSupport::no("not float32");
  const int64_t r = input_rank(g, n, 0);
  if (r >= 0 && r < 2) return NodeSupport::no("rank < 2");
  return NodeSupport::yes();
}

Status lrn_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...); got " + dims_to_string(x.dims()));
  const int64_t size = ctx.attrs().get_int("size", 0);
  if (size <= 0) return ctx.error("size must be a positive integer; got " + std::to_string(size));
  const float alpha = ctx.attrs().get_float("alpha", 1e-4f), beta = ctx.attrs().get_float("beta", 0.75f);
  const float bias = ctx.attrs().get_float("bias", 1.0f);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  const int64_t n = x.dim(0), c = x.dim(1), sp = c == 0 || n == 0 ? 0 : x.numel() / (n * c);
  if (x.numel() == 0) return ok_status();
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  const float scale = static_cast<float>(static_cast<double>(alpha) / static_cast<double>(size));
  const float* xp = x.data<float>();
  float* yp = y->data<float>();
  parallel_range(threads_for(ctx, x.numel() * std::min<int64_t>(size, c)), n * c, [&](int64_t b, int64_t e) {
    std::vector<const float*> window;
    for (int64_t row = b; row < e; ++row) {
      const int64_t ni = row / c, ci = row % c;
      window.clear();
      for (int64_t cj = std::max<int64_t>(0, ci - lo); cj <= std::min<int64_t>(c - 1, ci + hi); ++cj)
        window.push_back(xp + (ni * c + cj) * sp);
      lrn_row(window.data(), static_cast<int>(window.size()), xp + row * sp, yp + row * sp, sp, bias, scale, beta);
    }
  });
  return ok_status();
}

NodeSupport nms_supports(const Graph& g, const Node& n) {
  if (input_dtype(g, n, 0) != DType::kFloat32 || input_dtype(g, n, 1) != DType::kFloat32)
    return NodeSupport::no("boxes or scores not float32");
  return NodeSupport::yes();
}

Status nms_run(CpuKernelContext& ctx) {
  const Tensor& boxes = ctx.input(0);
  const Tensor& scores = ctx.input(1);
  auto optional = [&](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
  auto args = nms_args(boxes, scores, optional(2), optional(3), optional(4), ctx.attrs().get_int("center_point_box", 0));
  if (!args.ok()) return ctx.error(args.status().message());
  const int64_t nb = args->batches, ns = args->spatial, nc = args->classes, max_out = args->max_out;
  const double iou_thr = args->iou_threshold, score_thr = args->score_threshold;
  const bool use_score = args->use_score;
  const float* bp = boxes.data<float>();
  const float* sp = scores.data<float>();
  if (max_out <= 0 || nb == 0 || nc == 0 || ns == 0) {
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {0, 3}));
    (void)y;
    return ok_status();
  }
  std::vector<NmsBox> geometry(static_cast<size_t>(nb * ns));
  for (int64_t i = 0; i < nb * ns; ++i)
    geometry[i] = nms_box(bp[i * 4], bp[i * 4 + 1], bp[i * 4 + 2], bp[i * 4 + 3], args->center);
  // Each (image, class) is independent: classes spread over the threads, results joined in (image, class) order.
  std::vector<std::vector<int64_t>> kept_of(static_cast<size_t>(nb * nc));
  parallel_range(threads_for(ctx, nb * nc * ns * 8), nb * nc, [&](int64_t task_begin, int64_t task_end) {
    struct Candidate {
      float score;
      int64_t index;
    };
    std::vector<Candidate> order;
    for (int64_t task = task_begin; task < task_end; ++task) {
      NmsKeeper keeper(geometry.data() + (task / nc) * ns, iou_thr);
      const float* s = sp + task * ns;
      order.clear();
      for (int64_t i = 0; i < ns; ++i)
        if (s[i] == s[i] && (!use_score || static_cast<double>(s[i]) > score_thr)) order.push_back({s[i], i});  // no NaN
      // Candidates leave a heap best first (higher score, then lower index: a stable sort's order) and only until
      // max_out boxes are kept: detection heads keep ~100 of thousands, so sorting them all would dominate.
      auto worse = [](const Candidate& p, const Candidate& q) {
        return p.score < q.score || (p.score == q.score && p.index > q.index);
      };
      std::make_heap(order.begin(), order.end(), worse);
      auto heap_end = order.end();
      while (heap_end != order.begin() && static_cast<int64_t>(keeper.kept().size()) < max_out) {
        std::pop_heap(order.begin(), heap_end, worse);
        --heap_end;
        keeper.offer(heap_end->index);
      }
      kept_of[task] = keeper.kept();
    }
  });
  std::vector<int64_t> selected;
  for (int64_t task = 0; task < nb * nc; ++task)
    for (int64_t k : kept_of[task]) selected.insert(selected.end(), {task / nc, task % nc, k});
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {static_cast<int64_t>(selected.size() / 3), 3}));
  std::copy(selected.begin(), selected.end(), y->data<int64_t>());
  return ok_status();
}

NodeSupport roi_align_supports(const Graph& g, const Node& n) {
  if (input_dtype(g, n, 0) != DType::kFloat32 || input_dtype(g, n, 1) != DType::kFloat32)
    return NodeSupport::no("X or rois not float32");
  if (!int_index(input_dtype(g, n, 2))) return NodeSupport::no("batch_indices not int32/int64");
  auto params = roi_align_params(n.attrs);
  return params.ok() ? NodeSupport::yes() : NodeSupport::no(params.status().message());
}

Status roi_align_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  const Tensor& bi = ctx.input(2);
  if (x.rank() != 4) return ctx.error("input X must have rank 4 (N, C, H, W); got " + dims_to_string(x.dims()));
  if (rois.rank() != 2 || rois.dim(1) != 4)
    return ctx.error("rois must have shape [num_rois, 4]; got " + dims_to_string(rois.dims()));
  if (!int_index(bi.dtype()) || bi.rank() != 1 || bi.dim(0) != rois.dim(0))
    return ctx.error("batch_indices must be an integer tensor of shape [" + std::to_string(rois.dim(0)) + "]; got " +
                     dims_to_string(bi.dims()));
  auto params = roi_align_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const RoiAlignParams& p = *params;
  const bool avg = p.avg;
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), nr = rois.dim(0), oh = p.out_h, ow = p.out_w;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, {nr, c, oh, ow}));
  const float* xp = x.data<float>();
  const float* rp = rois.data<float>();
  float* yp = y->data<float>();
  RoiSamples samples;
  std::vector<Tap> taps;
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t batch = bi.dtype() == DType::kInt64 ? bi.data<int64_t>()[r] : bi.data<int32_t>()[r];
    if (batch < 0 || batch >= n)
      return ctx.error("batch_indices[" + std::to_string(r) + "] = " + std::to_string(batch) + " is out of range [0, " +
                       std::to_string(n) + ")");
    const double box[4] = {rp[r * 4], rp[r * 4 + 1], rp[r * 4 + 2], rp[r * 4 + 3]};
    Status st = roi_align_samples(p, box, h, w, &samples);
    if (!st.ok()) return ctx.error("roi " + std::to_string(r) + " " + st.message());
    const int64_t per_bin = samples.per_bin;
    const float inv_count = static_cast<float>(1.0 / samples.count);
    taps.resize(samples.taps.size());  // float weights for the channel loops
    for (size_t k = 0; k < taps.size(); ++k)
      for (int j = 0; j < 4; ++j) {
        taps[k].pos[j] = samples.taps[k].pos[j];
        taps[k].wt[j] = static_cast<float>(samples.taps[k].wt[j]);
      }
    const float* base = xp + batch * c * h * w;
    float* out = yp + r * c * oh * ow;
    parallel_range(threads_for(ctx, c * static_cast<int64_t>(taps.size()) * 4), c, [&](int64_t cb, int64_t ce) {
      for (int64_t ci = cb; ci < ce; ++ci) {
        const float* img = base + ci * h * w;
        const Tap* t = taps.data();
        for (int64_t p = 0; p < oh * ow; ++p) {
          float acc = 0.0f;
          for (int64_t s = 0; s < per_bin; ++s, ++t) {
            if (avg) {
              acc += t->wt[0] * img[t->pos[0]] + t->wt[1] * img[t->pos[1]] + t->wt[2] * img[t->pos[2]] +
                     t->wt[3] * img[t->pos[3]];
            } else {
              float v = t->wt[0] * img[t->pos[0]];
              for (int j = 1; j < 4; ++j) v = std::max(v, t->wt[j] * img[t->pos[j]]);
              acc = s == 0 ? v : std::max(acc, v);
            }
          }
          out[ci * oh * ow + p] = avg ? acc * inv_count : acc;
        }
      }
    });
  }
  return ok_status();
}

}  // namespace kiln::cpu::kern
