// Resize's typed parameters and coordinate rules parsed once (src/ir/resize_params.h) for shape inference and every
// backend: defaults, every error, axes and the coordinate/rounding formulas.
#include "ir/resize_params.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

std::string error_of(const Attrs& a) {
  auto p = resize_params(a);
  EXPECT_FALSE(p.ok());
  return p.ok() ? std::string() : p.status().message();
}

TEST(ResizeParams, DefaultsAreOnnxs) {
  auto p = resize_params(Attrs{});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->mode, ResizeMode::kNearest);
  EXPECT_EQ(p->coord, ResizeCoord::kHalfPixel);
  EXPECT_EQ(p->nearest, ResizeNearest::kRoundPreferFloor);
  EXPECT_FLOAT_EQ(p->cubic_coeff_a, -0.75f);
  EXPECT_FALSE(p->exclude_outside);
  EXPECT_FLOAT_EQ(p->extrapolation_value, 0.f);
  EXPECT_FALSE(p->antialias);
  EXPECT_EQ(p->aspect, ResizeAspect::kStretch);
  EXPECT_TRUE(p->axes.empty());
}

TEST(ResizeParams, ReadsEveryAttribute) {
  Attrs a;
  a.set("mode", std::string("cubic"));
  a.set("coordinate_transformation_mode", std::string("tf_crop_and_resize"));
  a.set("nearest_mode", std::string("ceil"));
  a.set("cubic_coeff_a", -0.5f);
  a.set("exclude_outside", int64_t{1});
  a.set("extrapolation_value", 2.5f);
  a.set("antialias", int64_t{1});
  a.set("keep_aspect_ratio_policy", std::string("not_smaller"));
  a.set("axes", std::vector<int64_t>{-1, 2});
  auto p = resize_params(a);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->mode, ResizeMode::kCubic);
  EXPECT_EQ(p->coord, ResizeCoord::kTfCropAndResize);
  EXPECT_EQ(p->nearest, ResizeNearest::kCeil);
  EXPECT_FLOAT_EQ(p->cubic_coeff_a, -0.5f);
  EXPECT_TRUE(p->exclude_outside);
  EXPECT_FLOAT_EQ(p->extrapolation_value, 2.5f);
  EXPECT_TRUE(p->antialias);
  EXPECT_EQ(p->aspect, ResizeAspect::kNotSmaller);
  auto axes = resize_axes(*p, 4);
  ASSERT_TRUE(axes.ok()) << axes.status().message();
  EXPECT_EQ(*axes, (std::vector<int64_t>{3, 2}));
}

TEST(ResizeParams, ErrorsNameTheAttribute) {
  auto with = [](const char* name, AttrValue v) {
    Attrs a;
    a.set(name, std::move(v));
    return error_of(a);
  };
  EXPECT_NE(with("mode", std::string("bilinear")).find("mode 'bilinear' is not valid"), std::string::npos);
  EXPECT_NE(
      with("coordinate_transformation_mode", std::string("corners")).find("coordinate_transformation_mode 'corners'"),
      std::string::npos);
  EXPECT_NE(with("nearest_mode", std::string("round")).find("nearest_mode 'round'"), std::string::npos);
  EXPECT_NE(with("keep_aspect_ratio_policy", std::string("fit")).find("keep_aspect_ratio_policy 'fit'"),
            std::string::npos);
  EXPECT_NE(with("exclude_outside", int64_t{2}).find("exclude_outside must be 0 or 1; got 2"), std::string::npos);
  EXPECT_NE(with("antialias", int64_t{-1}).find("antialias must be 0 or 1; got -1"), std::string::npos);
}

TEST(ResizeParams, AxesDefaultToAllAndRejectBadOnes) {
  ResizeParams p;
  auto all = resize_axes(p, 3);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<int64_t>{0, 1, 2}));
  p.axes = {0, 3};
  auto bad = resize_axes(p, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("axes value 3 is out of range for rank 3"), std::string::npos);
  p.axes = {1, -2};
  bad = resize_axes(p, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("repeated"), std::string::npos);
}

TEST(ResizeParams, SourceCoordinates) {
  // 4 -> 8 (scale 2), output index 3.
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kHalfPixel, 3, 4, 8, 2.0), 1.25);
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kAsymmetric, 3, 4, 8, 2.0), 1.5);
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kAlignCorners, 3, 4, 8, 2.0), 3.0 * 3 / 7);
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kTfHalfPixelForNn, 3, 4, 8, 2.0), 1.75);
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kPytorchHalfPixel, 3, 4, 8, 2.0), 1.25);
  // pytorch_half_pixel and align_corners special-case a one-element output.
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kPytorchHalfPixel, 0, 4, 1, 0.25), -0.5);
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kAlignCorners, 0, 4, 1, 0.25), 0.0);
  // half_pixel_symmetric shifts by the rounding of the output size: 4 * 1.7 = 6.8 -> 6.
  EXPECT_NEAR(resize_source_coord(ResizeCoord::kHalfPixelSymmetric, 0, 4, 6, 1.7),
              2.0 * (1 - 6 / 6.8) + 0.5 / 1.7 - 0.5, 1e-12);
  // tf_crop_and_resize maps through the roi.
  EXPECT_DOUBLE_EQ(resize_source_coord(ResizeCoord::kTfCropAndResize, 1, 5, 3, 0.6, 0.25, 0.75), 2.0);
}

TEST(ResizeParams, NearestRoundingAndCubicWeights) {
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kRoundPreferFloor, 1.5), 1);
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kRoundPreferCeil, 1.5), 2);
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kRoundPreferFloor, 1.6), 2);
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kFloor, 1.9), 1);
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kCeil, 1.1), 2);
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kCeil, 2.0), 2);
  EXPECT_EQ(resize_nearest_index(ResizeNearest::kFloor, -0.5), -1);
  EXPECT_DOUBLE_EQ(resize_cubic_weight(0.0, -0.75), 1.0);
  EXPECT_DOUBLE_EQ(resize_cubic_weight(1.0, -0.75), 0.0);
  EXPECT_DOUBLE_EQ(resize_cubic_weight(2.5, -0.75), 0.0);
  EXPECT_DOUBLE_EQ(resize_cubic_weight(-0.5, -0.5), resize_cubic_weight(0.5, -0.5));
}

}  // namespace
}  // namespace kiln
