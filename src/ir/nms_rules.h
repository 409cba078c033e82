// NonMaxSuppression's geometry and its greedy selection for one (image, class), shared by every backend: box corners
// and IoU in double (the op's result must not depend on who runs it), and a keeper that finds the kept boxes a
// candidate could overlap through an index sorted by left edge. Exporters batch every class into one call by
// shifting each class's boxes by a per-class offset (torchvision's batched_nms, YOLO exports): with the index a
// candidate is compared with the kept boxes of its own class only, not all of them (27,000 candidates of an SSD head:
// O(n * kept) IoUs before). The kept set is exactly the brute-force one: a kept box the index skips cannot overlap
// the candidate, so its IoU is 0, and 0 never exceeds an iou_threshold in [0, 1].
#pragma once
#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// NonMaxSuppression's inputs checked and read: boxes [batch, spatial, 4], scores [batch, classes, spatial], and the
// optional max_output_boxes_per_class (default 0: nothing kept), iou_threshold (default 0, must lie in [0, 1]) and
// score_threshold (none: no score filter) tensors (null or empty when absent).
struct NmsArgs {
  int64_t batches = 0, spatial = 0, classes = 0, max_out = 0;
  double iou_threshold = 0, score_threshold = 0;
  bool use_score = false, center = false;
};
// invalid_argument naming the first input that is wrong.
Result<NmsArgs> nms_args(const Tensor& boxes, const Tensor& scores, const Tensor* max_out, const Tensor* iou,
                         const Tensor* score, int64_t center_point_box);

struct NmsBox {
  double y0 = 0, x0 = 0, y1 = 0, x1 = 0, area = 0;
};

// Corners ordered (y0 <= y1, x0 <= x1) from [y1, x1, y2, x2] (center_point_box 0) or [x_center, y_center, width,
// height] (1), and the area.
NmsBox nms_box(double a, double b, double c, double d, bool center);

// Intersection over union; 0 when the boxes do not overlap or the union is not positive.
double nms_iou(const NmsBox& a, const NmsBox& b);

// Greedy selection for one (image, class): offer candidates best first; a candidate is kept unless a kept box has IoU
// above the threshold with it.
class NmsKeeper {
 public:
  NmsKeeper(const NmsBox* boxes, double iou_threshold) : boxes_(boxes), threshold_(iou_threshold) {}
  // Keeps box `i` unless a kept box suppresses it; returns whether it was kept.
  bool offer(int64_t i);
  const std::vector<int64_t>& kept() const { return kept_; }

 private:
  // Kept boxes from which the index pays for itself (below, a candidate is compared with each kept box).
  static constexpr size_t kIndexFrom = 64;
  void index(int64_t k);

  const NmsBox* boxes_;
  double threshold_;
  std::vector<int64_t> kept_;                   // in selection order
  std::set<std::pair<double, int64_t>> by_x0_;  // finite kept boxes by left edge
  std::vector<int64_t> unindexed_;              // kept boxes with a non-finite coordinate: always compared
  double widest_ = 0;                           // the largest x1 - x0 among the indexed boxes
};

}  // namespace kiln
