// NonMaxSuppression's box geometry and greedy keeper (nms_rules.h).
#include "ir/nms_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln {

Result<NmsArgs> nms_args(const Tensor& boxes, const Tensor& scores, const Tensor* max_out, const Tensor* iou,
                         const Tensor* score, int64_t center_point_box) {
  if (boxes.rank() != 3 || boxes.dim(2) != 4)
    return invalid_argument("boxes must have shape [batch, spatial, 4]; got " + dims_to_string(boxes.dims()));
  if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
    return invalid_argument("scores must have shape [" + std::to_string(boxes.dim(0)) + ", classes, " +
                            std::to_string(boxes.dim(1)) + "]; got " + dims_to_string(scores.dims()));
  NmsArgs a;
  a.batches = boxes.dim(0), a.spatial = boxes.dim(1), a.classes = scores.dim(1);
  auto present = [](const Tensor* t) { return t && t->defined() && t->numel() > 0; };
  if (present(max_out)) a.max_out = max_out->as_int64(0);
  if (present(iou)) a.iou_threshold = iou->as_double(0);
  if (present(score)) {
    a.score_threshold = score->as_double(0);
    a.use_score = true;
  }
  if (!(a.iou_threshold >= 0 && a.iou_threshold <= 1))
    return invalid_argument("iou_threshold must be in [0, 1]; got " + std::to_string(a.iou_threshold));
  if (center_point_box != 0 && center_point_box != 1) return invalid_argument("center_point_box must be 0 or 1");
  a.center = center_point_box == 1;
  return a;
}

NmsBox nms_box(double a, double b, double c, double d, bool center) {
  NmsBox r;
  if (center) {
    r.x0 = a - c / 2;
    r.x1 = a + c / 2;
    r.y0 = b - d / 2;
    r.y1 = b + d / 2;
  } else {
    r.y0 = std::min(a, c);
    r.y1 = std::max(a, c);
    r.x0 = std::min(b, d);
    r.x1 = std::max(b, d);
  }
  r.area = (r.x1 - r.x0) * (r.y1 - r.y0);
  return r;
}

double nms_iou(const NmsBox& a, const NmsBox& b) {
  const double iw = std::min(a.x1, b.x1) - std::max(a.x0, b.x0), ih = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  if (iw <= 0 || ih <= 0) return 0.0;
  const double inter = iw * ih;
  const double uni = a.area + b.area - inter;
  return uni > 0 ? inter / uni : 0.0;
}

namespace {
bool finite_box(const NmsBox& b) {
  return std::isfinite(b.x0) && std::isfinite(b.x1) && std::isfinite(b.y0) && std::isfinite(b.y1) &&
         std::isfinite(b.x1 - b.x0);
}
}  // namespace

bool NmsKeeper::offer(int64_t i) {
  const NmsBox& c = boxes_[i];
  if (kept_.size() < kIndexFrom) {  // few kept: compared with each directly
    for (int64_t k : kept_)
      if (nms_iou(c, boxes_[k]) > threshold_) return false;
    kept_.push_back(i);
    if (kept_.size() == kIndexFrom)
      for (int64_t k : kept_) index(k);
    return true;
  }
  for (int64_t k : unindexed_)
    if (nms_iou(c, boxes_[k]) > threshold_) return false;
  if (finite_box(c)) {
    // A kept box b overlaps c only if b.x0 < c.x1 and b.x1 > c.x0, and b.x1 <= b.x0 + widest_: so b.x0 lies in
    // (c.x0 - widest_, c.x1). The lower end is widened by a relative margin far above double rounding.
    const double margin = 1e-9 * (std::fabs(c.x0) + widest_) + std::numeric_limits<double>::min();
    auto it = by_x0_.lower_bound({c.x0 - widest_ - margin, std::numeric_limits<int64_t>::min()});
    for (; it != by_x0_.end() && it->first < c.x1; ++it)
      if (nms_iou(c, boxes_[it->second]) > threshold_) return false;
  } else {
    // A candidate with a non-finite coordinate: compared with every kept box, as the brute-force rule does.
    for (const auto& [x0, k] : by_x0_)
      if (nms_iou(c, boxes_[k]) > threshold_) return false;
  }
  kept_.push_back(i);
  index(i);
  return true;
}

void NmsKeeper::index(int64_t k) {
  const NmsBox& b = boxes_[k];
  if (finite_box(b)) {
    by_x0_.insert({b.x0, k});
    widest_ = std::max(widest_, b.x1 - b.x0);
  } else {
    unindexed_.push_back(k);
  }
}

}  // namespace kiln
