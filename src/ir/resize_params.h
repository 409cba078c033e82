// Resize's attributes (mode, coordinate_transformation_mode, nearest_mode, cubic_coeff_a, exclude_outside,
// extrapolation_value, antialias, keep_aspect_ratio_policy, axes) parsed and checked once, and its per-axis coordinate
// rules (source coordinate, nearest rounding, cubic weight): shared by shape inference and every backend.
// Errors are invalid_argument without a node prefix (callers add theirs) and name the attribute.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/attrs.h"
#include "kiln/status.h"

namespace kiln {

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class ResizeCoord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
  kTfHalfPixelForNn,
};
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class ResizeAspect { kStretch, kNotLarger, kNotSmaller };

// Resize in its canonical (opset 11+) form; the importer rewrites Upsample and Resize-10 into it (asymmetric + floor).
// Defaults are ONNX's: nearest, half_pixel, round_prefer_floor, cubic_coeff_a -0.75, no exclude_outside,
// extrapolation_value 0, no antialias, stretch, all axes.
struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  float cubic_coeff_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation_value = 0.f;
  bool antialias = false;
  ResizeAspect aspect = ResizeAspect::kStretch;
  std::vector<int64_t> axes;  // as written (possibly negative); empty: every axis
};
// invalid_argument naming the attribute and its value when a string attribute is not one ONNX defines, or
// exclude_outside / antialias is not 0 or 1.
Result<ResizeParams> resize_params(const Attrs& a);

// The axes the scales/sizes/roi refer to for an input of `rank`, normalized to [0, rank) (all axes when `axes` is
// empty). invalid_argument naming `axes` when one is out of range or repeated.
Result<std::vector<int64_t>> resize_axes(const ResizeParams& p, int64_t rank);

// Source coordinate (in input pixels) of output index `x` on an axis of input length `in_len` resized to `out_len`
// by `scale`; roi_lo/roi_hi (normalized) are read by tf_crop_and_resize only.
double resize_source_coord(ResizeCoord coord, double x, int64_t in_len, int64_t out_len, double scale,
                           double roi_lo = 0.0, double roi_hi = 1.0);
// The input index nearest mode picks for source coordinate `xo` (unclamped).
int64_t resize_nearest_index(ResizeNearest mode, double xo);
// The cubic convolution weight at distance `x` with coefficient `a` (Keys' kernel).
double resize_cubic_weight(double x, double a);

// Names as ONNX spells them (for messages).
const char* resize_coord_name(ResizeCoord c);
const char* resize_mode_name(ResizeMode m);

}  // namespace kiln
