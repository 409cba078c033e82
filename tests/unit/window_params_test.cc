// The shared window rules (src/ir/window_params.h) of Conv, ConvTranspose and pooling that shape inference and every
// backend use: attribute parsing and checks, SAME splits, pooling's ceil rule, ConvTranspose's output sizes.
#include "ir/window_params.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

Attrs window(const std::string& auto_pad, Dims strides, Dims pads = {}, Dims dilations = {}) {
  Attrs a;
  a.set("auto_pad", auto_pad);
  if (!strides.empty()) a.set("strides", strides);
  if (!pads.empty()) a.set("pads", pads);
  if (!dilations.empty()) a.set("dilations", dilations);
  return a;
}

WindowGeometry geometry(const Attrs& a, const Dims& in, const Dims& kernel, bool ceil_mode = false) {
  auto w = parse_window_attrs(a, in.size(), ceil_mode);
  EXPECT_TRUE(w.ok()) << w.status().message();
  auto g = window_geometry(*w, in, kernel);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return *g;
}

TEST(WindowParams, DefaultsAndExplicitPads) {
  Attrs a;
  WindowGeometry g = geometry(a, {7, 9}, {3, 3});
  EXPECT_EQ(g.out, (Dims{5, 7}));
  EXPECT_EQ(g.pads, (Dims{0, 0, 0, 0}));
  g = geometry(window("NOTSET", {2, 2}, {1, 0, 2, 1}), {7, 9}, {3, 3});
  EXPECT_EQ(g.out, (Dims{4, 4}));  // (7+3-3)/2+1, (9+1-3)/2+1
  EXPECT_EQ(g.pads, (Dims{1, 0, 2, 1}));
  g = geometry(window("NOTSET", {1}, {}, {2}), {10}, {3});  // dilation 2: extent 5
  EXPECT_EQ(g.out, (Dims{6}));
}

TEST(WindowParams, SameSplitsPutTheOddPadAtTheRightEnd) {
  // in 7, stride 2, kernel 4: out 4, total pad (4-1)*2+4-7 = 3
  WindowGeometry up = geometry(window("SAME_UPPER", {2}), {7}, {4});
  EXPECT_EQ(up.out, (Dims{4}));
  EXPECT_EQ(up.pads, (Dims{1, 2}));
  WindowGeometry low = geometry(window("SAME_LOWER", {2}), {7}, {4});
  EXPECT_EQ(low.pads, (Dims{2, 1}));
  // Explicit pads are ignored under SAME and VALID.
  WindowGeometry valid = geometry(window("VALID", {1}, {5, 5}), {7}, {3});
  EXPECT_EQ(valid.out, (Dims{5}));
  EXPECT_EQ(valid.pads, (Dims{0, 0}));
}

TEST(WindowParams, CeilModeDropsAWindowStartingInTheRightPad) {
  // in 6, kernel 2, stride 2, pads 0/1: floor gives 3; ceil would give 4 but window 4 starts at 6 >= 6 + 0.
  auto w = parse_window_attrs(window("NOTSET", {2}, {0, 1}), 1, true);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*window_out_size(*w, 0, 6, 2), 3);
  // in 5, kernel 2, stride 2: floor 2, ceil 3 (the last window starts at 4, inside the input).
  w = parse_window_attrs(window("NOTSET", {2}), 1, true);
  EXPECT_EQ(*window_out_size(*w, 0, 5, 2), 3);
  w = parse_window_attrs(window("NOTSET", {2}), 1, false);
  EXPECT_EQ(*window_out_size(*w, 0, 5, 2), 2);
}

TEST(WindowParams, BadAttributesNameWhatIsWrong) {
  auto expect_error = [](const Attrs& a, size_t nd, const std::string& part) {
    auto w = parse_window_attrs(a, nd);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.status().message().find(part), std::string::npos) << w.status().message();
  };
  expect_error(window("NOTSET", {1, 1, 1}), 2, "strides [1,1,1] has 3 values; expected 2");
  expect_error(window("NOTSET", {0, 1}), 2, "strides [0,1] must be positive");
  expect_error(window("NOTSET", {}, {1, -1, 0, 0}), 2, "must be non-negative");
  expect_error(window("NOTSET", {}, {1, 1}), 2, "pads [1,1] has 2 values; expected 4");
  expect_error(window("SAME", {}), 2, "auto_pad 'SAME' is not one of");
  auto w = parse_window_attrs(Attrs{}, 1);
  auto g = window_geometry(*w, {2}, {5});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("kernel extent 5 exceeds padded input size 2"), std::string::npos);
}

TEST(WindowParams, ConvTransposeSizesAndPads) {
  Attrs a = window("NOTSET", {2}, {1, 1});
  a.set("output_padding", Dims{1});
  auto t = parse_conv_transpose_attrs(a, 1);
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto g = conv_transpose_geometry(*t, {5}, {3});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->full, (Dims{11}));  // 2*(5-1)+3
  EXPECT_EQ(g->out, (Dims{10}));   // 11 + 1 - 2
  EXPECT_EQ(g->pads, (Dims{1, 1}));
  // SAME_UPPER: out = in * stride; total 11 - 10 = 1 goes to the end.
  t = parse_conv_transpose_attrs(window("SAME_UPPER", {2}), 1);
  g = conv_transpose_geometry(*t, {5}, {3});
  EXPECT_EQ(g->out, (Dims{10}));
  EXPECT_EQ(g->pads, (Dims{0, 1}));
  // output_shape (spatial or full NCHW form) wins over pads; its total splits with the larger half first.
  Attrs s = window("NOTSET", {2}, {4, 4});
  s.set("output_shape", Dims{1, 8, 8});
  t = parse_conv_transpose_attrs(s, 1);
  ASSERT_TRUE(t.ok()) << t.status().message();
  g = conv_transpose_geometry(*t, {5}, {3});
  EXPECT_EQ(g->out, (Dims{8}));
  EXPECT_EQ(g->pads, (Dims{2, 1}));
  EXPECT_EQ(*conv_transpose_out_size(*t, 0, 5, 3), 8);
  // An output larger than the full result keeps zero pads (a bias-only tail).
  Attrs big;
  big.set("output_shape", Dims{14});
  t = parse_conv_transpose_attrs(big, 1);
  g = conv_transpose_geometry(*t, {5}, {3});
  EXPECT_EQ(g->pads, (Dims{0, 0}));
  // Pads that leave nothing are an error naming the axis.
  t = parse_conv_transpose_attrs(window("NOTSET", {1}, {2, 2}), 1);
  auto bad = conv_transpose_geometry(*t, {1}, {3});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not positive"), std::string::npos);
}

}  // namespace
}  // namespace kiln
