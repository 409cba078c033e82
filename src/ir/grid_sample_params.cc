// GridSample attribute parsing and coordinate rules (grid_sample_params.h).
#include "ir/grid_sample_params.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace kiln {

namespace {

// Reflects x into [lo, hi] by repeated mirroring at the borders.
double reflect(double x, double lo, double hi) {
  const double rng = hi - lo;
  if (rng <= 0) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const int64_t n = static_cast<int64_t>(dx / rng);
    const double r = dx - static_cast<double>(n) * rng;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const int64_t n = static_cast<int64_t>(dx / rng);
    const double r = dx - static_cast<double>(n) * rng;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

// The valid source range of an axis: pixel centres with align_corners, pixel edges without.
void axis_range(const GridSampleParams& p, int64_t len, double* lo, double* hi) {
  *lo = p.align_corners ? 0.0 : -0.5;
  *hi = p.align_corners ? static_cast<double>(len - 1) : static_cast<double>(len) - 0.5;
}

}  // namespace

Result<GridSampleParams> grid_sample_params(const Attrs& a) {
  GridSampleParams p;
  const std::string mode = a.get_string("mode", "linear");
  if (mode == "linear" || mode == "bilinear") p.mode = GridMode::kLinear;
  else if (mode == "nearest") p.mode = GridMode::kNearest;
  else if (mode == "cubic" || mode == "bicubic") p.mode = GridMode::kCubic;
  else return invalid_argument("mode '" + mode + "' is not valid (linear, nearest or cubic)");
  const std::string pm = a.get_string("padding_mode", "zeros");
  if (pm == "zeros") p.padding = GridPadding::kZeros;
  else if (pm == "border") p.padding = GridPadding::kBorder;
  else if (pm == "reflection") p.padding = GridPadding::kReflection;
  else return invalid_argument("padding_mode '" + pm + "' is not valid (zeros, border or reflection)");
  p.align_corners = a.get_int("align_corners", 0) != 0;
  return p;
}

double grid_source_position(const GridSampleParams& p, double g, int64_t len) {
  const double l = static_cast<double>(len);
  double v = p.align_corners ? (g + 1) / 2.0 * (l - 1) : ((g + 1) * l - 1) / 2.0;
  double lo, hi;
  axis_range(p, len, &lo, &hi);
  if (p.mode == GridMode::kNearest) v = std::nearbyint(v);
  if (v < lo || v > hi) {
    if (p.padding == GridPadding::kBorder) v = std::clamp(v, 0.0, l - 1);
    else if (p.padding == GridPadding::kReflection) v = reflect(v, lo, hi);
  }
  return v;
}

int64_t grid_pixel_index(const GridSampleParams& p, int64_t i, int64_t len) {
  if (p.padding == GridPadding::kZeros) return i >= 0 && i < len ? i : -1;
  if (p.padding == GridPadding::kBorder) return std::clamp<int64_t>(i, 0, len - 1);
  double lo, hi;
  axis_range(p, len, &lo, &hi);
  const int64_t j = static_cast<int64_t>(reflect(static_cast<double>(i), lo, hi));
  return std::clamp<int64_t>(j, 0, len - 1);
}

double grid_cubic_weight(double x) {
  const double a = -0.75;
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

}  // namespace kiln
