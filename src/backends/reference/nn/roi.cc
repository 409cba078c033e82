// Reference region kernels: RoiAlign, MaxRoiPool, MaxUnpool and NonMaxSuppression.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/reference/nn/nn_util.h"
#include "ir/nms_rules.h"
#include "ir/roi_align_rules.h"

namespace kiln {
namespace {

Status check_rois(const KernelContext& ctx, const Tensor& x, const Tensor& rois, int64_t cols) {
  if (x.rank() != 4) return ctx.error("input X must have rank 4 (N, C, H, W); got " + nn::dims_str(x.dims()));
  if (rois.rank() != 2 || rois.dim(1) != cols)
    return ctx.error("rois must have shape [num_rois, " + std::to_string(cols) + "]; got " + nn::dims_str(rois.dims()));
  return ok_status();
}

Status roi_align_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "rois"));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  const Tensor& bi = ctx.input(2);
  KILN_RETURN_IF_ERROR(check_rois(ctx, x, rois, 4));
  if (!is_integer(bi.dtype()) || bi.rank() != 1 || bi.dim(0) != rois.dim(0))
    return ctx.error("batch_indices must be an integer tensor of shape [" + std::to_string(rois.dim(0)) + "]; got " +
                     nn::dims_str(bi.dims()));
  auto params = roi_align_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const RoiAlignParams& p = *params;
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), nr = rois.dim(0), oh = p.out_h, ow = p.out_w;
  Dims od{nr, c, oh, ow};
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x), rv = nn::read_doubles(rois);
  const auto batch = tensor_to_int64s(bi);
  std::vector<double> y(static_cast<size_t>(nr * c * oh * ow), 0.0);
  RoiSamples samples;
  for (int64_t r = 0; r < nr; ++r) {
    if (batch[r] < 0 || batch[r] >= n)
      return ctx.error("batch_indices[" + std::to_string(r) + "] = " + std::to_string(batch[r]) + " is out of range [0, " +
                       std::to_string(n) + ")");
    Status st = roi_align_samples(p, rv.data() + r * 4, h, w, &samples);
    if (!st.ok()) return ctx.error("roi " + std::to_string(r) + " " + st.message());
    for (int64_t ci = 0; ci < c; ++ci) {
      const double* img = xv.data() + (batch[r] * c + ci) * h * w;
      size_t k = 0;
      for (int64_t q = 0; q < oh * ow; ++q) {
        double acc = 0.0;
        bool first = true;
        for (int64_t s = 0; s < samples.per_bin; ++s, ++k) {
          const RoiTap& t = samples.taps[k];
          if (p.avg) {
            for (int j = 0; j < 4; ++j) acc += t.wt[j] * img[t.pos[j]];
          } else {
            double v = t.wt[0] * img[t.pos[0]];
            for (int j = 1; j < 4; ++j) v = std::max(v, t.wt[j] * img[t.pos[j]]);
            acc = first ? v : std::max(acc, v);
            first = false;
          }
        }
        y[((r * c + ci) * oh * ow) + q] = p.avg ? acc / samples.count : acc;
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// MaxRoiPool(X, rois [num_rois, 5] = (batch, x1, y1, x2, y2)), Caffe-style integer bins.
Status max_roi_pool_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "rois"));
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  KILN_RETURN_IF_ERROR(check_rois(ctx, x, rois, 5));
  Dims pooled = ctx.attrs().get_ints("pooled_shape");
  if (pooled.size() != 2 || pooled[0] <= 0 || pooled[1] <= 0)
    return ctx.error("pooled_shape must be 2 positive values; got " + nn::dims_str(pooled));
  const double scale = ctx.attrs().get_float("spatial_scale", 1.0f);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), nr = rois.dim(0);
  const int64_t ph_n = pooled[0], pw_n = pooled[1];
  Dims od{nr, c, ph_n, pw_n};
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x), rv = nn::read_doubles(rois);
  std::vector<double> y(static_cast<size_t>(nr * c * ph_n * pw_n), 0.0);
  for (int64_t r = 0; r < nr; ++r) {
    const double bd = rv[r * 5];
    if (!(bd >= 0 && bd < static_cast<double>(n)))
      return ctx.error("rois[" + std::to_string(r) + "] batch index " + std::to_string(bd) + " is out of range");
    const int64_t b = static_cast<int64_t>(bd);
    const int64_t xs = static_cast<int64_t>(std::round(rv[r * 5 + 1] * scale));
    const int64_t ys = static_cast<int64_t>(std::round(rv[r * 5 + 2] * scale));
    const int64_t xe = static_cast<int64_t>(std::round(rv[r * 5 + 3] * scale));
    const int64_t ye = static_cast<int64_t>(std::round(rv[r * 5 + 4] * scale));
    const double rh = static_cast<double>(std::max<int64_t>(ye - ys + 1, 1));
    const double rw = static_cast<double>(std::max<int64_t>(xe - xs + 1, 1));
    const double bh = rh / static_cast<double>(ph_n), bw = rw / static_cast<double>(pw_n);
    for (int64_t ci = 0; ci < c; ++ci) {
      const double* img = xv.data() + (b * c + ci) * h * w;
      for (int64_t ph = 0; ph < ph_n; ++ph) {
        for (int64_t pw = 0; pw < pw_n; ++pw) {
          int64_t hs = std::clamp<int64_t>(static_cast<int64_t>(std::floor(ph * bh)) + ys, 0, h);
          int64_t he = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((ph + 1) * bh)) + ys, 0, h);
          int64_t ws = std::clamp<int64_t>(static_cast<int64_t>(std::floor(pw * bw)) + xs, 0, w);
          int64_t we = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((pw + 1) * bw)) + xs, 0, w);
          double best = 0.0;
          bool any = false;
          for (int64_t yy = hs; yy < he; ++yy)
            for (int64_t xx = ws; xx < we; ++xx) {
              double v = img[yy * w + xx];
              if (!any || v > best) best = v;
              any = true;
            }
          y[((r * c + ci) * ph_n + ph) * pw_n + pw] = best;
        }
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// MaxUnpool(X, I, output_shape?): scatters X into zeros at the flat positions I.
Status max_unpool_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + nn::dims_str(x.dims()));
  if (ind.dims() != x.dims() || !is_integer(ind.dtype()))
    return ctx.error("indices I must be an integer tensor of X's shape " + nn::dims_str(x.dims()) + "; got " +
                     nn::dims_str(ind.dims()));
  const size_t nd = x.rank() - 2;
  Dims kernel = ctx.attrs().get_ints("kernel_shape");
  if (kernel.size() != nd) return ctx.error("kernel_shape must have " + std::to_string(nd) + " values");
  Dims strides = ctx.attrs().get_ints("strides", Dims(nd, 1));
  if (strides.empty()) strides = Dims(nd, 1);
  Dims pads = ctx.attrs().get_ints("pads", Dims(2 * nd, 0));
  if (pads.empty()) pads = Dims(2 * nd, 0);
  if (strides.size() != nd || pads.size() != 2 * nd) return ctx.error("strides/pads have the wrong number of values");
  // Indices address the inferred (default) output; an explicit output_shape places that block at its origin.
  Dims inferred{x.dim(0), x.dim(1)};
  for (size_t i = 0; i < nd; ++i) inferred.push_back((x.dim(i + 2) - 1) * strides[i] + kernel[i] - pads[i] - pads[nd + i]);
  Dims od = inferred;
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    Dims given = tensor_to_int64s(ctx.input(2));
    if (given.size() != x.rank())
      return ctx.error("output_shape must have " + std::to_string(x.rank()) + " values; got " + nn::dims_str(given));
    for (size_t i = 0; i < given.size(); ++i)
      if (given[i] < inferred[i])
        return ctx.error("output_shape " + nn::dims_str(given) + " is smaller than the unpooled shape " + nn::dims_str(inferred));
    od = given;
  }
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), inferred).status());
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const int64_t total = dims_numel(inferred);
  const auto xv = nn::read_doubles(x);
  const auto iv = tensor_to_int64s(ind);
  std::vector<double> yi(static_cast<size_t>(total), 0.0);
  for (size_t i = 0; i < iv.size(); ++i) {
    if (iv[i] < 0 || iv[i] >= total)
      return ctx.error("index I[" + std::to_string(i) + "] = " + std::to_string(iv[i]) + " is outside the unpooled output of " +
                       std::to_string(total) + " elements");
    yi[iv[i]] = xv[i];
  }
  std::vector<double> y(static_cast<size_t>(dims_numel(od)), 0.0);
  const auto ostrides = strides_of(od);
  nn::for_each_index(inferred, [&](const std::vector<int64_t>& idx, int64_t pos) {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i) off += idx[i] * ostrides[i];
    y[off] = yi[pos];
  });
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status nms_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "boxes"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "scores"));
  const Tensor& boxes = ctx.input(0);
  const Tensor& scores = ctx.input(1);
  auto optional = [&](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
  auto args = nms_args(boxes, scores, optional(2), optional(3), optional(4), ctx.attrs().get_int("center_point_box", 0));
  if (!args.ok()) return ctx.error(args.status().message());
  const int64_t nb = args->batches, ns = args->spatial, nc = args->classes, max_out = args->max_out;
  const double iou_thr = args->iou_threshold, score_thr = args->score_threshold;
  const bool use_score = args->use_score, center = args->center;
  const auto bv = nn::read_doubles(boxes), sv = nn::read_doubles(scores);
  std::vector<int64_t> sel;
  std::vector<NmsBox> geometry(static_cast<size_t>(nb * ns));
  for (int64_t i = 0; i < nb * ns; ++i)
    geometry[i] = nms_box(bv[i * 4], bv[i * 4 + 1], bv[i * 4 + 2], bv[i * 4 + 3], center);
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t c = 0; c < nc; ++c) {
      const double* s = sv.data() + (b * nc + c) * ns;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < ns; ++i)
        if (!std::isnan(s[i]) && (!use_score || s[i] > score_thr)) order.push_back(i);  // NaN scores never win
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t z) { return s[a] > s[z]; });
      NmsKeeper keeper(geometry.data() + b * ns, iou_thr);
      for (int64_t i : order) {
        if (static_cast<int64_t>(keeper.kept().size()) >= max_out) break;
        keeper.offer(i);
      }
      for (int64_t k : keeper.kept()) sel.insert(sel.end(), {b, c, k});
    }
  }
  Tensor out(DType::kInt64, {static_cast<int64_t>(sel.size() / 3), 3});
  std::copy(sel.begin(), sel.end(), out.data<int64_t>());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

namespace nn {
Status roi_align(KernelContext& ctx) { return roi_align_kernel(ctx); }
Status max_roi_pool(KernelContext& ctx) { return max_roi_pool_kernel(ctx); }
Status max_unpool(KernelContext& ctx) { return max_unpool_kernel(ctx); }
Status non_max_suppression(KernelContext& ctx) { return nms_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
