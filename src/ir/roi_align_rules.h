// RoiAlign's attributes and the bilinear sampling grid of one region, shared by every backend: the taps (four pixel
// offsets and weights per sample, in double) are computed the same way wherever the op runs; backends differ only
// in how they apply them to the channels.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/attrs.h"
#include "kiln/status.h"

namespace kiln {

struct RoiAlignParams {
  bool avg = true;         // mode avg (else max)
  bool half_pixel = true;  // coordinate_transformation_mode half_pixel (else output_half_pixel)
  int64_t out_h = 1, out_w = 1, sampling = 0;
  double scale = 1.0;  // spatial_scale
};
// invalid_argument naming the attribute that is wrong.
Result<RoiAlignParams> roi_align_params(const Attrs& attrs);

// One bilinear sample: pixel offsets into an [H, W] plane and their weights (all zero outside the image).
struct RoiTap {
  int64_t pos[4] = {0, 0, 0, 0};
  double wt[4] = {0, 0, 0, 0};
};

// The samples of one region (x1, y1, x2, y2 in input coordinates) over an h x w plane: out_h * out_w bins of
// `per_bin` taps each, in bin order; an average divides by `count` (>= 1). per_bin is 0 for an empty or inverted
// region. invalid_argument when the region needs more than 2^26 taps.
struct RoiSamples {
  std::vector<RoiTap> taps;
  int64_t per_bin = 0;
  double count = 1;
};
Status roi_align_samples(const RoiAlignParams& p, const double box[4], int64_t h, int64_t w, RoiSamples* out);

}  // namespace kiln
