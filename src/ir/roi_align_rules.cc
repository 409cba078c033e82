// RoiAlign's attributes and per-region sampling grid (roi_align_rules.h).
#include "ir/roi_align_rules.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace kiln {

Result<RoiAlignParams> roi_align_params(const Attrs& attrs) {
  RoiAlignParams p;
  const std::string mode = attrs.get_string("mode", "avg");
  if (mode != "avg" && mode != "max") return invalid_argument("mode '" + mode + "' must be 'avg' or 'max'");
  p.avg = mode == "avg";
  const std::string ctm = attrs.get_string("coordinate_transformation_mode", "half_pixel");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return invalid_argument("coordinate_transformation_mode '" + ctm + "' must be half_pixel or output_half_pixel");
  p.half_pixel = ctm == "half_pixel";
  p.out_h = attrs.get_int("output_height", 1);
  p.out_w = attrs.get_int("output_width", 1);
  p.sampling = attrs.get_int("sampling_ratio", 0);
  p.scale = attrs.get_float("spatial_scale", 1.0f);
  if (p.out_h <= 0 || p.out_w <= 0) return invalid_argument("output_height and output_width must be positive");
  if (p.sampling < 0) return invalid_argument("sampling_ratio must be non-negative");
  return p;
}

Status roi_align_samples(const RoiAlignParams& p, const double box[4], int64_t h, int64_t w, RoiSamples* out) {
  const int64_t oh = p.out_h, ow = p.out_w;
  const double off = p.half_pixel ? 0.5 : 0.0;
  const double x0 = box[0] * p.scale - off, y0 = box[1] * p.scale - off;
  const double x1 = box[2] * p.scale - off, y1 = box[3] * p.scale - off;
  double rw = x1 - x0, rh = y1 - y0;
  if (!p.half_pixel) {
    rw = std::max(rw, 1.0);
    rh = std::max(rh, 1.0);
  }
  const double bh = rh / static_cast<double>(oh), bw = rw / static_cast<double>(ow);
  const int64_t gh = p.sampling > 0 ? p.sampling : static_cast<int64_t>(std::ceil(rh / static_cast<double>(oh)));
  const int64_t gw = p.sampling > 0 ? p.sampling : static_cast<int64_t>(std::ceil(rw / static_cast<double>(ow)));
  if (gh > (int64_t{1} << 20) || gw > (int64_t{1} << 20) ||
      static_cast<double>(std::max<int64_t>(gh, 0)) * static_cast<double>(std::max<int64_t>(gw, 0)) *
              static_cast<double>(oh) * static_cast<double>(ow) > static_cast<double>(int64_t{1} << 26))
    return invalid_argument("is too large to sample (" + std::to_string(gh) + "x" + std::to_string(gw) +
                            " samples per bin)");
  out->per_bin = gh > 0 && gw > 0 ? gh * gw : 0;
  out->count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
  out->taps.clear();
  for (int64_t ph = 0; ph < oh && out->per_bin > 0; ++ph)
    for (int64_t pw = 0; pw < ow; ++pw)
      for (int64_t iy = 0; iy < gh; ++iy) {
        double yy = y0 + ph * bh + (iy + 0.5) * bh / static_cast<double>(gh);
        for (int64_t ix = 0; ix < gw; ++ix) {
          double xx = x0 + pw * bw + (ix + 0.5) * bw / static_cast<double>(gw);
          RoiTap t;
          if (!(yy < -1.0 || yy > h || xx < -1.0 || xx > w) && h > 0 && w > 0) {
            yy = std::max(yy, 0.0);
            xx = std::max(xx, 0.0);
            int64_t ylo = static_cast<int64_t>(yy), xlo = static_cast<int64_t>(xx), yhi, xhi;
            if (ylo >= h - 1) {
              yhi = ylo = h - 1;
              yy = static_cast<double>(ylo);
            } else {
              yhi = ylo + 1;
            }
            if (xlo >= w - 1) {
              xhi = xlo = w - 1;
              xx = static_cast<double>(xlo);
            } else {
              xhi = xlo + 1;
            }
            const double ly = yy - ylo, lx = xx - xlo, hy = 1.0 - ly, hx = 1.0 - lx;
            t = RoiTap{{ylo * w + xlo, ylo * w + xhi, yhi * w + xlo, yhi * w + xhi}, {hy * hx, hy * lx, ly * hx, ly * lx}};
          }
          out->taps.push_back(t);
        }
      }
  return ok_status();
}

}  // namespace kiln
