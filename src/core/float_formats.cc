// Narrow float formats. fp8/fp4 encoders search the format's value table for the nearest value
// (ties to the even code), which is exact round-to-nearest-even and easy to audit.
#include "core/float_formats.h"

#include <array>
#include <cmath>
#include <cstring>
#include <algorithm>
#include <limits>
#include <string_view>

namespace kiln {

namespace {
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
}  // namespace

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(man), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (man << 13));
  return float_of(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t float_to_half(float f) {
  uint32_t u = bits_of(f);
  uint16_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;  // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // overflow (>= 65520 rounds to inf)
  if (a < 0x38800000u) {                        // subnormal or zero in half
    float v = float_of(a);
    float scaled = v * 16777216.0f;  // 2^24
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return sign | static_cast<uint16_t>(m);
  }
  uint32_t exp = ((a >> 23) - 112) << 10;
  uint32_t man = (a >> 13) & 0x3ffu;
  uint32_t rest = a & 0x1fffu;
  uint32_t h = exp | man;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

float bf16_to_float(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

uint16_t float_to_bf16(float f) {
  uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

namespace {

// Generic decoder for a minifloat with `e` exponent bits, `m` mantissa bits and `bias`.
float decode_minifloat(uint32_t v, int e, int m, int bias) {
  uint32_t sign = (v >> (e + m)) & 1u;
  uint32_t exp = (v >> m) & ((1u << e) - 1);
  uint32_t man = v & ((1u << m) - 1);
  float r = exp == 0 ? std::ldexp(static_cast<float>(man), 1 - bias - m)
                     : std::ldexp(1.0f + static_cast<float>(man) / (1 << m), static_cast<int>(exp) - bias);
  return sign ? -r : r;
}

struct Format {
  float values[256];
  bool finite[256];
  int count;
};

Format make_format(int e, int m, int bias, int kind) {
  // kind: 0 = e4m3fn (NaN at S.1111.111), 1 = fnuz (NaN 0x80, no -0), 2 = e5m2 (IEEE-like inf/NaN), 3 = fp4
  Format f{};
  f.count = 1 << (1 + e + m);
  for (int i = 0; i < f.count; ++i) {
    f.values[i] = decode_minifloat(i, e, m, bias);
    f.finite[i] = true;
    int mag = i & ((1 << (e + m)) - 1);
    if (kind == 0 && mag == (1 << (e + m)) - 1) f.finite[i] = false, f.values[i] = kNaN;
    if (kind == 1 && i == 0x80) f.finite[i] = false, f.values[i] = kNaN;
    if (kind == 2 && (mag >> m) == (1 << e) - 1) {
      f.finite[i] = false;
      f.values[i] = (mag & ((1 << m) - 1)) ? kNaN : ((i >> (e + m)) ? -kInf : kInf);
    }
  }
  return f;
}

const Format& e4m3fn() { static Format f = make_format(4, 3, 7, 0); return f; }
const Format& e4m3fnuz() { static Format f = make_format(4, 3, 8, 1); return f; }
const Format& e5m2() { static Format f = make_format(5, 2, 15, 2); return f; }
const Format& e5m2fnuz() { static Format f = make_format(5, 2, 16, 1); return f; }
const Format& e2m1() { static Format f = make_format(2, 1, 1, 3); return f; }

// Nearest finite code to x (x finite), ties to even code; sets *overflow when |x| rounds past the max.
uint8_t nearest_code(const Format& f, float x, bool* overflow) {
  int best = -1;
  double best_d = 0;
  double max_abs = 0, max_next_gap = 0;
  for (int i = 0; i < f.count; ++i) {
    if (!f.finite[i]) continue;
    double a = std::fabs(static_cast<double>(f.values[i]));
    if (a > max_abs) max_abs = a;
  }
  // Gap between the two largest finite magnitudes approximates one ulp at the top of the range.
  double second = 0;
  for (int i = 0; i < f.count; ++i)
    if (f.finite[i] && std::fabs(f.values[i]) < max_abs) second = std::max(second, std::fabs((double)f.values[i]));
  max_next_gap = max_abs - second;
  double ax = std::fabs(static_cast<double>(x));
  *overflow = ax > max_abs + max_next_gap / 2 || (ax == max_abs + max_next_gap / 2);
  bool neg = std::signbit(x);
  for (int i = 0; i < f.count; ++i) {
    if (!f.finite[i]) continue;
    double v = f.values[i];
    if (v != 0 && (v < 0) != neg) continue;
    if (v == 0 && std::signbit(f.values[i]) != neg && f.count == 256 && f.values[0x80] == 0) continue;
    double d = std::fabs(v - static_cast<double>(x));
    if (best < 0 || d < best_d || (d == best_d && (i & 1) == 0 && (best & 1) == 1)) {
      best = i;
      best_d = d;
    }
  }
  return static_cast<uint8_t>(best < 0 ? 0 : best);
}

uint8_t max_code(const Format& f, bool neg) {
  int best = 0;
  for (int i = 0; i < f.count; ++i)
    if (f.finite[i] && std::signbit(f.values[i]) == neg && std::fabs(f.values[i]) > std::fabs(f.values[best])) best = i;
  return static_cast<uint8_t>(best);
}

}  // namespace

float fp8e4m3fn_to_float(uint8_t v) { return e4m3fn().values[v]; }
float fp8e4m3fnuz_to_float(uint8_t v) { return e4m3fnuz().values[v]; }
float fp8e5m2_to_float(uint8_t v) { return e5m2().values[v]; }
float fp8e5m2fnuz_to_float(uint8_t v) { return e5m2fnuz().values[v]; }
float fp4e2m1_to_float(uint8_t v) { return e2m1().values[v & 0xf]; }
float fp8e8m0_to_float(uint8_t v) { return v == 0xff ? kNaN : std::ldexp(1.0f, static_cast<int>(v) - 127); }

uint8_t float_to_fp8e4m3fn(float x, bool saturate) {
  if (std::isnan(x)) return 0x7f;
  bool neg = std::signbit(x);
  if (std::isinf(x)) return saturate ? max_code(e4m3fn(), neg) : (neg ? 0xff : 0x7f);
  bool ovf;
  uint8_t c = nearest_code(e4m3fn(), x, &ovf);
  if (ovf) return saturate ? max_code(e4m3fn(), neg) : (neg ? 0xff : 0x7f);
  return c;
}

uint8_t float_to_fp8e4m3fnuz(float x, bool saturate) {
  if (std::isnan(x)) return 0x80;
  bool neg = std::signbit(x);
  if (std::isinf(x)) return saturate ? max_code(e4m3fnuz(), neg) : 0x80;
  bool ovf;
  uint8_t c = nearest_code(e4m3fnuz(), x, &ovf);
  if (ovf) return saturate ? max_code(e4m3fnuz(), neg) : 0x80;
  return c == 0x80 ? 0 : c;
}

uint8_t float_to_fp8e5m2(float x, bool saturate) {
  if (std::isnan(x)) return 0x7f;
  bool neg = std::signbit(x);
  if (std::isinf(x)) return saturate ? max_code(e5m2(), neg) : (neg ? 0xfc : 0x7c);
  bool ovf;
  uint8_t c = nearest_code(e5m2(), x, &ovf);
  if (ovf) return saturate ? max_code(e5m2(), neg) : (neg ? 0xfc : 0x7c);
  return c;
}

uint8_t float_to_fp8e5m2fnuz(float x, bool saturate) {
  if (std::isnan(x)) return 0x80;
  bool neg = std::signbit(x);
  if (std::isinf(x)) return saturate ? max_code(e5m2fnuz(), neg) : 0x80;
  bool ovf;
  uint8_t c = nearest_code(e5m2fnuz(), x, &ovf);
  if (ovf) return saturate ? max_code(e5m2fnuz(), neg) : 0x80;
  return c == 0x80 ? 0 : c;
}

uint8_t float_to_fp4e2m1(float x, bool saturate) {
  (void)saturate;  // fp4 has no inf/NaN: out-of-range values always clamp to +-6
  if (std::isnan(x)) return 0x7;
  bool neg = std::signbit(x);
  if (std::isinf(x)) return neg ? 0xf : 0x7;
  bool ovf;
  uint8_t c = nearest_code(e2m1(), x, &ovf);
  if (ovf) return neg ? 0xf : 0x7;
  return c;
}

uint8_t float_to_fp8e8m0(float x, bool saturate, const char* round_mode) {
  if (std::isnan(x) || x <= 0) return x > 0 || std::isnan(x) ? 0xff : 0x00;
  if (std::isinf(x)) return saturate ? 0xfe : 0xff;
  int exp;
  float frac = std::frexp(x, &exp);  // x = frac * 2^exp, frac in [0.5, 1)
  int e = exp - 1;                   // floor(log2(x))
  bool exact = frac == 0.5f;
  std::string_view mode = round_mode ? round_mode : "up";
  if (!exact) {
    if (mode == "up") e += 1;
    else if (mode == "nearest" && frac > 0.75f) e += 1;  // nearer to 2^(e+1) in log-linear terms per mantissa
  }
  int code = e + 127;
  if (code < 0) return 0;
  if (code > 254) return saturate ? 0xfe : 0xff;
  return static_cast<uint8_t>(code);
}

}  // namespace kiln
