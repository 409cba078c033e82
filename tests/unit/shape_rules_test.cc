// The shared shape rules (src/ir/shape_rules.h) that shape inference and every backend's kernels use.
#include "ir/shape_rules.h"

#include <gtest/gtest.h>

#include <climits>

namespace kiln {
namespace {

void expect_range(int64_t start, int64_t end, int64_t step, int64_t dim, int64_t first, int64_t count) {
  const SliceRange r = slice_range(start, end, step, dim);
  EXPECT_EQ(r.count, count) << start << ":" << end << ":" << step << " on " << dim;
  if (count > 0) {
    EXPECT_EQ(r.first, first) << start << ":" << end << ":" << step << " on " << dim;
  }
}

TEST(ShapeRules, SliceForwardClampsAndCounts) {
  expect_range(0, 10, 1, 10, 0, 10);
  expect_range(2, 9, 3, 10, 2, 3);           // 2, 5, 8
  expect_range(-3, INT64_MAX, 1, 10, 7, 3);  // from the end, open-ended
  expect_range(-100, 100, 1, 10, 0, 10);     // clamped both ways
  expect_range(5, 5, 1, 10, 5, 0);
  expect_range(8, 2, 1, 10, 8, 0);
}

TEST(ShapeRules, SliceBackwardClampsAndCounts) {
  expect_range(-1, INT64_MIN, -1, 10, 9, 10);  // the whole axis reversed
  expect_range(9, 0, -2, 10, 9, 5);            // 9, 7, 5, 3, 1
  expect_range(100, -100, -3, 10, 9, 4);       // 9, 6, 3, 0
  expect_range(2, 5, -1, 10, 2, 0);
  expect_range(0, INT64_MIN, INT64_MIN, 10, 0, 1);  // the most negative step does not overflow
}

TEST(ShapeRules, SliceOfAnEmptyAxisIsEmptyForEveryStep) {
  // The copies this rule replaced disagreed here: clamp(b, 0, d - 1) is undefined for d == 0.
  for (int64_t step : {1, 2, -1, -5}) {
    expect_range(0, 10, step, 0, 0, 0);
    expect_range(-1, INT64_MIN, step, 0, 0, 0);
  }
}

}  // namespace
}  // namespace kiln
