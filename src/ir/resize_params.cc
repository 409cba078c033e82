// Resize's typed parameters and coordinate rules (see resize_params.h).
#include "ir/resize_params.h"

#include <cmath>
#include <string>

namespace kiln {
namespace {

template <typename E, size_t N>
Result<E> parse_enum(const Attrs& a, const char* attr, const char* def, const std::pair<const char*, E> (&names)[N]) {
  const std::string v = a.get_string(attr, def);
  std::string all;
  for (const auto& [name, e] : names) {
    if (v == name) return e;
    all += std::string(all.empty() ? "" : ", ") + name;
  }
  return invalid_argument(std::string(attr) + " '" + v + "' is not valid (expected one of " + all + ")");
}

Result<bool> parse_flag(const Attrs& a, const char* attr) {
  const int64_t v = a.get_int(attr, 0);
  if (v != 0 && v != 1) return invalid_argument(std::string(attr) + " must be 0 or 1; got " + std::to_string(v));
  return v == 1;
}

constexpr std::pair<const char*, ResizeMode> kModes[] = {
    {"nearest", ResizeMode::kNearest}, {"linear", ResizeMode::kLinear}, {"cubic", ResizeMode::kCubic}};
constexpr std::pair<const char*, ResizeCoord> kCoords[] = {{"half_pixel", ResizeCoord::kHalfPixel},
                                                           {"half_pixel_symmetric", ResizeCoord::kHalfPixelSymmetric},
                                                           {"pytorch_half_pixel", ResizeCoord::kPytorchHalfPixel},
                                                           {"align_corners", ResizeCoord::kAlignCorners},
                                                           {"asymmetric", ResizeCoord::kAsymmetric},
                                                           {"tf_crop_and_resize", ResizeCoord::kTfCropAndResize},
                                                           {"tf_half_pixel_for_nn", ResizeCoord::kTfHalfPixelForNn}};
constexpr std::pair<const char*, ResizeNearest> kNearest[] = {{"round_prefer_floor", ResizeNearest::kRoundPreferFloor},
                                                              {"round_prefer_ceil", ResizeNearest::kRoundPreferCeil},
                                                              {"floor", ResizeNearest::kFloor},
                                                              {"ceil", ResizeNearest::kCeil}};
constexpr std::pair<const char*, ResizeAspect> kAspects[] = {{"stretch", ResizeAspect::kStretch},
                                                             {"not_larger", ResizeAspect::kNotLarger},
                                                             {"not_smaller", ResizeAspect::kNotSmaller}};

}  // namespace

Result<ResizeParams> resize_params(const Attrs& a) {
  ResizeParams p;
  KILN_ASSIGN_OR_RETURN(p.mode, parse_enum(a, "mode", "nearest", kModes));
  KILN_ASSIGN_OR_RETURN(p.coord, parse_enum(a, "coordinate_transformation_mode", "half_pixel", kCoords));
  KILN_ASSIGN_OR_RETURN(p.nearest, parse_enum(a, "nearest_mode", "round_prefer_floor", kNearest));
  KILN_ASSIGN_OR_RETURN(p.aspect, parse_enum(a, "keep_aspect_ratio_policy", "stretch", kAspects));
  KILN_ASSIGN_OR_RETURN(p.exclude_outside, parse_flag(a, "exclude_outside"));
  KILN_ASSIGN_OR_RETURN(p.antialias, parse_flag(a, "antialias"));
  p.cubic_coeff_a = a.get_float("cubic_coeff_a", -0.75f);
  p.extrapolation_value = a.get_float("extrapolation_value", 0.f);
  p.axes = a.get_ints("axes");
  return p;
}

Result<std::vector<int64_t>> resize_axes(const ResizeParams& p, int64_t rank) {
  std::vector<int64_t> axes = p.axes;
  if (axes.empty())
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& ax : axes) {
    const int64_t v = ax;
    if (v < -rank || v >= rank)
      return invalid_argument("axes value " + std::to_string(v) + " is out of range for rank " + std::to_string(rank));
    ax = v < 0 ? v + rank : v;
    if (seen[static_cast<size_t>(ax)]) return invalid_argument("axes contains a repeated axis " + std::to_string(v));
    seen[static_cast<size_t>(ax)] = true;
  }
  return axes;
}

double resize_source_coord(ResizeCoord coord, double x, int64_t in_len, int64_t out_len, double scale, double roi_lo,
                           double roi_hi) {
  const double in_f = static_cast<double>(in_len);
  const double out_w = scale * in_f;  // the (possibly fractional) output length the scale implies
  switch (coord) {
    case ResizeCoord::kAlignCorners:
      return out_w == 1.0 ? 0.0 : x * (in_f - 1) / (out_w - 1);
    case ResizeCoord::kAsymmetric:
      return x / scale;
    case ResizeCoord::kTfCropAndResize: {
      const double xo =
          out_w == 1.0 ? (roi_hi - roi_lo) * (in_f - 1) / 2 : x * (roi_hi - roi_lo) * (in_f - 1) / (out_w - 1);
      return xo + roi_lo * (in_f - 1);
    }
    case ResizeCoord::kPytorchHalfPixel:
      return out_w == 1.0 ? -0.5 : (x + 0.5) / scale - 0.5;
    case ResizeCoord::kHalfPixelSymmetric: {
      const double offset = in_f / 2 * (1 - static_cast<double>(out_len) / out_w);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case ResizeCoord::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
    case ResizeCoord::kHalfPixel:
      break;
  }
  return (x + 0.5) / scale - 0.5;
}

int64_t resize_nearest_index(ResizeNearest mode, double xo) {
  const double f = std::floor(xo);
  if (xo == f) return static_cast<int64_t>(f);
  const double r = xo - f;
  bool up = r > 0.5;  // round_prefer_floor
  if (mode == ResizeNearest::kRoundPreferCeil)
    up = r >= 0.5;
  else if (mode == ResizeNearest::kFloor)
    up = false;
  else if (mode == ResizeNearest::kCeil)
    up = true;
  return static_cast<int64_t>(f) + (up ? 1 : 0);
}

double resize_cubic_weight(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

const char* resize_coord_name(ResizeCoord c) {
  for (const auto& [name, e] : kCoords)
    if (e == c) return name;
  return "?";
}

const char* resize_mode_name(ResizeMode m) {
  for (const auto& [name, e] : kModes)
    if (e == m) return name;
  return "?";
}

}  // namespace kiln
