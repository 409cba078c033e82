// GridSample's attributes (mode, padding_mode, align_corners) parsed and checked once, and its coordinate rules:
// where a grid value lands on an input axis, how the padding mode maps it back inside, which integer taps a sample
// reads. Shared by the reference kernel and the CPU backend so the ONNX arithmetic is written once.
// Errors are invalid_argument without a node prefix (callers add theirs).
#pragma once
#include <cstdint>

#include "ir/attrs.h"
#include "kiln/status.h"

namespace kiln {

enum class GridMode { kNearest, kLinear, kCubic };
enum class GridPadding { kZeros, kBorder, kReflection };

struct GridSampleParams {
  GridMode mode = GridMode::kLinear;
  GridPadding padding = GridPadding::kZeros;
  bool align_corners = false;
};

// Reads mode ("linear"/"bilinear", "nearest", "cubic"/"bicubic"), padding_mode and align_corners.
Result<GridSampleParams> grid_sample_params(const Attrs& a);

// The (unrounded) source position on an axis of `len` pixels for grid value g in [-1, 1], after the padding mode
// (border clamps, reflection mirrors; zeros leaves it outside), and rounded half to even for nearest. May be NaN or
// infinite when g is.
double grid_source_position(const GridSampleParams& p, double g, int64_t len);

// A tap's pixel index on an axis of `len` pixels: the index itself, clamped or mirrored per the padding mode, or -1
// where it reads zero (zeros padding outside the axis).
int64_t grid_pixel_index(const GridSampleParams& p, int64_t i, int64_t len);

// Keys' cubic convolution weight (a = -0.75) at distance x.
double grid_cubic_weight(double x);

}  // namespace kiln
