// Tests of the narrow float encoders/decoders (core/float_formats.cc) used by Cast.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/float_formats.h"

namespace kiln {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Fp8 {
  const char* name;
  float (*decode)(uint8_t);
  uint8_t (*encode)(float, bool);
};

const Fp8 kFp8[] = {{"e4m3fn", fp8e4m3fn_to_float, float_to_fp8e4m3fn},
                    {"e4m3fnuz", fp8e4m3fnuz_to_float, float_to_fp8e4m3fnuz},
                    {"e5m2", fp8e5m2_to_float, float_to_fp8e5m2},
                    {"e5m2fnuz", fp8e5m2fnuz_to_float, float_to_fp8e5m2fnuz}};

TEST(ElementwiseUnaryFloatFormats, Fp8EveryFiniteCodeRoundTrips) {
  for (const Fp8& f : kFp8) {
    for (int c = 0; c < 256; ++c) {
      float v = f.decode(static_cast<uint8_t>(c));
      if (!std::isfinite(v)) continue;
      EXPECT_EQ(f.encode(v, true), c) << f.name << " code " << c;
      EXPECT_EQ(f.encode(v, false), c) << f.name << " code " << c;
    }
  }
}

// The midpoint between two neighbouring finite codes rounds to the even code; just above it rounds up.
TEST(ElementwiseUnaryFloatFormats, Fp8TiesToEven) {
  for (const Fp8& f : kFp8) {
    for (int c = 0; c < 126; ++c) {
      float lo = f.decode(static_cast<uint8_t>(c)), hi = f.decode(static_cast<uint8_t>(c + 1));
      if (!std::isfinite(lo) || !std::isfinite(hi)) continue;
      float mid = (lo + hi) / 2;
      int even = (c % 2 == 0) ? c : c + 1;
      EXPECT_EQ(f.encode(mid, true), even) << f.name << " between codes " << c << " and " << c + 1;
      EXPECT_EQ(f.encode(std::nextafter(mid, kInf), true), c + 1) << f.name;
      EXPECT_EQ(f.encode(std::nextafter(mid, 0.0f), true), c) << f.name;
    }
  }
}

TEST(ElementwiseUnaryFloatFormats, Fp8SpecialValues) {
  // Saturating: inf and overflow clamp to +-max; NaN stays NaN.
  EXPECT_EQ(float_to_fp8e4m3fn(kInf, true), 0x7e);
  EXPECT_EQ(float_to_fp8e4m3fn(-1e6f, true), 0xfe);
  EXPECT_EQ(float_to_fp8e4m3fn(kNaN, true), 0x7f);
  EXPECT_EQ(float_to_fp8e4m3fn(-kNaN, true), 0xff);
  EXPECT_EQ(float_to_fp8e4m3fnuz(kInf, true), 0x7f);
  EXPECT_EQ(float_to_fp8e5m2(kInf, true), 0x7b);
  EXPECT_EQ(float_to_fp8e5m2fnuz(-kInf, true), 0xff);
  // Non-saturating: e5m2 has inf, the others give NaN.
  EXPECT_EQ(float_to_fp8e4m3fn(kInf, false), 0x7f);
  EXPECT_EQ(float_to_fp8e4m3fn(-kInf, false), 0xff);
  EXPECT_EQ(float_to_fp8e5m2(kInf, false), 0x7c);
  EXPECT_EQ(float_to_fp8e5m2(-1e6f, false), 0xfc);
  EXPECT_EQ(float_to_fp8e5m2(kNaN, false), 0x7e);
  EXPECT_EQ(float_to_fp8e4m3fnuz(kInf, false), 0x80);
  EXPECT_EQ(float_to_fp8e5m2fnuz(kNaN, false), 0x80);
  // Negative zero exists only in the non-fnuz formats.
  EXPECT_EQ(float_to_fp8e4m3fn(-0.0f, true), 0x80);
  EXPECT_EQ(float_to_fp8e5m2(-1e-9f, true), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(-0.0f, true), 0x00);
  EXPECT_EQ(float_to_fp8e5m2fnuz(-1e-9f, true), 0x00);
}

// Just past the max: e4m3fn's max code 0x7e is even, so its upper midpoint (464) still rounds to 448;
// e5m2's max 0x7b is odd, so its midpoint (61440) overflows.
TEST(ElementwiseUnaryFloatFormats, Fp8OverflowBoundary) {
  EXPECT_EQ(float_to_fp8e4m3fn(464.f, false), 0x7e);
  EXPECT_EQ(float_to_fp8e4m3fn(465.f, false), 0x7f);
  EXPECT_EQ(float_to_fp8e5m2(61439.f, false), 0x7b);
  EXPECT_EQ(float_to_fp8e5m2(61440.f, false), 0x7c);
  EXPECT_EQ(float_to_fp8e4m3fnuz(248.f, false), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(247.f, false), 0x7f);
}

TEST(ElementwiseUnaryFloatFormats, Fp4) {
  const float values[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int c = 0; c < 16; ++c) {
    float v = fp4e2m1_to_float(static_cast<uint8_t>(c));
    EXPECT_EQ(v, c < 8 ? values[c] : -values[c - 8]);
    EXPECT_EQ(float_to_fp4e2m1(v, true), c == 8 ? 8 : c);
  }
  EXPECT_EQ(float_to_fp4e2m1(0.25f, true), 0x0);  // tie -> even (0)
  EXPECT_EQ(float_to_fp4e2m1(0.75f, true), 0x2);  // tie -> even (1.0)
  EXPECT_EQ(float_to_fp4e2m1(5.f, true), 0x6);    // tie -> even (4)
  EXPECT_EQ(float_to_fp4e2m1(-3.5f, true), 0xe);
  EXPECT_EQ(float_to_fp4e2m1(1e6f, false), 0x7);  // always clamps
  EXPECT_EQ(float_to_fp4e2m1(-kInf, false), 0xf);
  EXPECT_EQ(float_to_fp4e2m1(kNaN, true), 0x8);
  EXPECT_EQ(float_to_fp4e2m1(-0.0f, true), 0x8);
}

TEST(ElementwiseUnaryFloatFormats, Fp8E8M0) {
  EXPECT_EQ(fp8e8m0_to_float(127), 1.0f);
  EXPECT_EQ(fp8e8m0_to_float(0), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(fp8e8m0_to_float(255)));
  EXPECT_EQ(float_to_fp8e8m0(1.0f, true, "up"), 127);
  EXPECT_EQ(float_to_fp8e8m0(1.0001f, true, "up"), 128);
  EXPECT_EQ(float_to_fp8e8m0(1.9999f, true, "down"), 127);
  EXPECT_EQ(float_to_fp8e8m0(1.4999f, true, "nearest"), 127);
  EXPECT_EQ(float_to_fp8e8m0(1.5f, true, "nearest"), 128);
  EXPECT_EQ(float_to_fp8e8m0(0.0f, true, "up"), 0);
  EXPECT_EQ(float_to_fp8e8m0(0.0f, false, "nearest"), 255);
  EXPECT_EQ(float_to_fp8e8m0(kInf, true, "up"), 254);
  EXPECT_EQ(float_to_fp8e8m0(kInf, false, "up"), 255);
  EXPECT_EQ(float_to_fp8e8m0(3e38f, true, "up"), 254);
  EXPECT_EQ(float_to_fp8e8m0(3e38f, false, "up"), 255);
  EXPECT_EQ(float_to_fp8e8m0(kNaN, true, "up"), 255);
  EXPECT_EQ(float_to_fp8e8m0(1e-45f, true, "up"), 0);       // below 2^-127 rounds up to the min
  EXPECT_EQ(float_to_fp8e8m0(1e-45f, false, "down"), 255);  // ... or is out of range
}

TEST(ElementwiseUnaryFloatFormats, HalfAndBfloat16) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(65504.f), 0x7bff);
  EXPECT_EQ(float_to_half(65519.f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.f), 0x7c00);  // midpoint to 2^16 rounds to even (inf)
  EXPECT_EQ(float_to_half(-kInf), 0xfc00);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(3.0f, -11)), 0x3c02);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(kNaN))));
  for (uint32_t h = 0; h < 0x10000; h += 7) {
    float f = half_to_float(static_cast<uint16_t>(h));
    if (!std::isnan(f)) EXPECT_EQ(float_to_half(f), h) << h;
  }
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(kInf), 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(kNaN))));
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie -> even
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(3.0f, -8)), 0x3f82);
}

}  // namespace
}  // namespace kiln
