// Narrow float formats. fp8/fp4 encoders search the format's value table for the nearest value
// (ties to the even code), which is exact round-to-nearest-even and easy to audit. Special values follow
// the ONNX Cast tables (saturate attribute) and the ONNX reference implementation's codes for NaN.
#include "core/float_formats.h"

#include <cmath>
#include <cstring>
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
  if (a > 0x7f800000u) return sign | 0x7e00u;   // NaN
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

// Value table of one narrow format plus what the encoder needs about its top of range.
struct Format {
  float values[256];
  bool finite[256];
  int count;
  bool has_negative_zero;  // false for the fnuz formats (code 0x80 is NaN) and true for the others
  uint8_t max_pos;         // code of the largest finite positive value
  double max_abs;          // that value
  double overflow_at;      // max_abs + half the gap to the next (unrepresentable) step
};

enum class Kind { kE4M3FN, kFnuz, kE5M2, kFp4 };

Format make_format(int e, int m, int bias, Kind kind) {
  Format f{};
  f.count = 1 << (1 + e + m);
  const int sign_bit = 1 << (e + m);
  for (int i = 0; i < f.count; ++i) {
    f.values[i] = decode_minifloat(i, e, m, bias);
    f.finite[i] = true;
    int mag = i & (sign_bit - 1);
    if (kind == Kind::kE4M3FN && mag == sign_bit - 1) f.finite[i] = false, f.values[i] = kNaN;
    if (kind == Kind::kFnuz && i == sign_bit) f.finite[i] = false, f.values[i] = kNaN;
    if (kind == Kind::kE5M2 && (mag >> m) == (1 << e) - 1) {
      f.finite[i] = false;
      f.values[i] = (mag & ((1 << m) - 1)) ? kNaN : ((i & sign_bit) ? -kInf : kInf);
    }
  }
  f.has_negative_zero = kind != Kind::kFnuz;
  // Positive codes are 0..sign_bit-1 and increase with the value: the largest finite one is the max.
  int top = sign_bit - 1;
  while (!f.finite[top]) --top;
  f.max_pos = static_cast<uint8_t>(top);
  f.max_abs = f.values[top];
  // Above the max the next step would continue the top binade's spacing.
  double gap = f.max_abs - f.values[top - 1];
  f.overflow_at = f.max_abs + gap / 2;
  return f;
}

const Format& e4m3fn() {
  static Format f = make_format(4, 3, 7, Kind::kE4M3FN);
  return f;
}
const Format& e4m3fnuz() {
  static Format f = make_format(4, 3, 8, Kind::kFnuz);
  return f;
}
const Format& e5m2() {
  static Format f = make_format(5, 2, 15, Kind::kE5M2);
  return f;
}
const Format& e5m2fnuz() {
  static Format f = make_format(5, 2, 16, Kind::kFnuz);
  return f;
}
const Format& e2m1() {
  static Format f = make_format(2, 1, 1, Kind::kFp4);
  return f;
}

// True when finite x rounds (to nearest, ties to even) past the largest finite value. At the exact
// midpoint the tie goes to the even code: past the max when the max code is odd (its mantissa is odd).
bool overflows(const Format& f, float x) {
  double ax = std::fabs(static_cast<double>(x));
  return ax > f.overflow_at || (ax == f.overflow_at && (f.max_pos & 1u));
}

// Nearest finite code to finite x that does not overflow, ties to the even code. Zero keeps x's sign
// where the format has a negative zero.
uint8_t nearest_code(const Format& f, float x) {
  const bool neg = std::signbit(x);
  const int sign_bit = f.count / 2;
  int best = -1;
  double best_d = 0;
  // Search the codes of x's sign (magnitude codes 0..sign_bit-1); +0 stands in for -0 when there is none.
  const int base = neg && f.has_negative_zero ? sign_bit : 0;
  for (int mag = 0; mag < sign_bit; ++mag) {
    int code = mag == 0 ? base : (neg ? sign_bit : 0) + mag;
    if (!f.finite[code]) continue;
    double d = std::fabs(std::fabs(static_cast<double>(f.values[code])) - std::fabs(static_cast<double>(x)));
    if (best < 0 || d < best_d || (d == best_d && (code & 1) == 0 && (best & 1) == 1)) {
      best = code;
      best_d = d;
    }
  }
  return static_cast<uint8_t>(best);
}

uint8_t max_code(const Format& f, bool neg) { return static_cast<uint8_t>(f.max_pos | (neg ? f.count / 2 : 0)); }

// Shared encoder of the formats with NaN: `nan_pos`/`nan_neg` are the NaN codes, `inf_pos`/`inf_neg` the
// codes non-saturating overflow produces (inf for e5m2, NaN for the others).
uint8_t encode(const Format& f, float x, bool saturate, uint8_t nan_pos, uint8_t nan_neg, uint8_t inf_pos,
               uint8_t inf_neg) {
  const bool neg = std::signbit(x);
  if (std::isnan(x)) return neg ? nan_neg : nan_pos;
  if (std::isinf(x) || overflows(f, x)) return saturate ? max_code(f, neg) : (neg ? inf_neg : inf_pos);
  return nearest_code(f, x);
}

}  // namespace

float fp8e4m3fn_to_float(uint8_t v) { return e4m3fn().values[v]; }
float fp8e4m3fnuz_to_float(uint8_t v) { return e4m3fnuz().values[v]; }
float fp8e5m2_to_float(uint8_t v) { return e5m2().values[v]; }
float fp8e5m2fnuz_to_float(uint8_t v) { return e5m2fnuz().values[v]; }
float fp4e2m1_to_float(uint8_t v) { return e2m1().values[v & 0xf]; }
float fp8e8m0_to_float(uint8_t v) { return v == 0xff ? kNaN : std::ldexp(1.0f, static_cast<int>(v) - 127); }

uint8_t float_to_fp8e4m3fn(float x, bool saturate) { return encode(e4m3fn(), x, saturate, 0x7f, 0xff, 0x7f, 0xff); }
uint8_t float_to_fp8e4m3fnuz(float x, bool saturate) { return encode(e4m3fnuz(), x, saturate, 0x80, 0x80, 0x80, 0x80); }
uint8_t float_to_fp8e5m2(float x, bool saturate) { return encode(e5m2(), x, saturate, 0x7e, 0xfe, 0x7c, 0xfc); }
uint8_t float_to_fp8e5m2fnuz(float x, bool saturate) { return encode(e5m2fnuz(), x, saturate, 0x80, 0x80, 0x80, 0x80); }

uint8_t float_to_fp4e2m1(float x, bool saturate) {
  (void)saturate;  // fp4 has no inf/NaN: out-of-range values always clamp to +-6
  // NaN has no encoding; like the ONNX reference (ml_dtypes) it becomes -0 (code 0x8).
  if (std::isnan(x)) return 0x8;
  const bool neg = std::signbit(x);
  if (std::isinf(x) || overflows(e2m1(), x)) return max_code(e2m1(), neg);
  return nearest_code(e2m1(), x);
}

// e8m0 holds only powers of two 2^(code-127), code 0..254; 0xff is NaN. There is no sign: negative
// inputs (unspecified by ONNX) use their magnitude, like the ONNX reference.
uint8_t float_to_fp8e8m0(float x, bool saturate, const char* round_mode) {
  constexpr uint8_t kNaNCode = 0xff, kMaxCode = 0xfe, kMinCode = 0x00;
  if (std::isnan(x)) return kNaNCode;
  const float ax = std::fabs(x);
  if (std::isinf(ax)) return saturate ? kMaxCode : kNaNCode;
  if (ax == 0) return saturate ? kMinCode : kNaNCode;
  std::string_view mode = round_mode ? round_mode : "up";
  int exp;
  float frac = std::frexp(ax, &exp);  // ax = frac * 2^exp, frac in [0.5, 1)
  int e = exp - 1;                    // floor(log2(ax))
  if (frac != 0.5f) {
    if (mode == "up")
      e += 1;  // away from zero
    else if (mode == "nearest" && frac >= 0.75f)
      e += 1;  // linear midpoint 1.5 * 2^e, ties up
  }
  int code = e + 127;
  if (code < 0) {
    // Below 2^-127: rounding up lands on the smallest value; otherwise it is out of range.
    if (mode == "up") return kMinCode;
    return saturate ? kMinCode : kNaNCode;
  }
  if (code > 254) return saturate ? kMaxCode : kNaNCode;
  return static_cast<uint8_t>(code);
}

}  // namespace kiln
