// Float32 math written so the compiler vectorizes it (no libm calls, branch-free selects): exp, tanh, erf,
// sigmoid, gelu. Accuracy (checked against the double-precision reference in tests/ops/cpu_kernels_*):
// |err| <= 1e-6 + 1e-5 * |exact| on all finite inputs; NaN in gives NaN out; +-inf give the IEEE limits.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

// Hot loops are compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA) and baseline x86-64; the loader picks one at run time (ifunc).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KILN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KILN_CPU_CLONES
#endif
#define KILN_VINLINE inline __attribute__((always_inline))

namespace kiln::cpu::vm {

KILN_VINLINE float bits_to_float(int32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// The shared core of exp_f and exp_nonpos_f: *n = round(x / ln2) and e^r for r = x - n ln2 (Cody-Waite split of ln2,
// degree-6 polynomial), so e^x = result * 2^n. x must already be clamped to the caller's range.
KILN_VINLINE float exp_reduced(float xc, float* n_out) {
  const float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  *n_out = n;
  return p;
}

// e^x: Cody-Waite reduction to r in [-ln2/2, ln2/2], degree-6 polynomial, 2^n from the exponent bits.
KILN_VINLINE float exp_f(float x) {
  const float xc = x < -103.9f ? -103.9f : (x > 88.72283935546875f ? 88.72283935546875f : x);  // NaN passes through both compares
  float n;
  const float p = exp_reduced(xc, &n);
  // 2^n as two normal powers (n in [-150, 128]), so results near overflow and in the denormal range are right.
  const int32_t ni = static_cast<int32_t>(n), h = ni >> 1;
  float y = p * bits_to_float((h + 127) << 23) * bits_to_float((ni - h + 127) << 23);
  y = x > 88.72283935546875f ? std::numeric_limits<float>::infinity() : y;
  y = x < -103.9f ? 0.0f : y;
  return x != x ? x : y;
}

// e^x for x <= 0 (softmax's x - max, sigmoid's -|x|): no overflow path, one 2^n scale; below -87.3 the result
// flushes to 0 (true values < 1.2e-38). NaN propagates through the polynomial.
KILN_VINLINE float exp_nonpos_f(float x) {
  const float xc = x < -87.3f ? -87.3f : x;
  float n;
  const float p = exp_reduced(xc, &n);
  const float y = p * bits_to_float((static_cast<int32_t>(n) + 127) << 23);
  return x < -87.3f ? 0.0f : y;
}

// log(1 + t) for t in [0, 1]: 2 atanh(s) with s = t / (2 + t) in [0, 1/3], its odd series to s^13 (the next term
// is below 1e-8 of the result); no cancellation for small t.
KILN_VINLINE float log1p_unit_f(float t) {
  const float sv = t / (2.0f + t), s2 = sv * sv;
  float p = 2.0f / 13.0f;
  p = p * s2 + 2.0f / 11.0f;
  p = p * s2 + 2.0f / 9.0f;
  p = p * s2 + 2.0f / 7.0f;
  p = p * s2 + 2.0f / 5.0f;
  p = p * s2 + 2.0f / 3.0f;
  p = p * s2 + 2.0f;
  return sv * p;
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log(1 + e^-|x|); NaN propagates.
KILN_VINLINE float softplus_f(float x) {
  const float ax = x < 0 ? -x : x;
  const float y = (x > 0 ? x : 0.0f) + log1p_unit_f(exp_nonpos_f(-ax));
  return x != x ? x : y;
}

// tanh: odd Taylor series below |x| = 0.55 (error < 4e-7 relative), 1 - 2/(e^{2|x|}+1) above.
KILN_VINLINE float tanh_f(float x) {
  const float ax = x < 0 ? -x : x;
  const float x2 = x * x;
  float p = -929569.0f / 638512875.0f;
  p = p * x2 + 21844.0f / 6081075.0f;
  p = p * x2 + -1382.0f / 155925.0f;
  p = p * x2 + 62.0f / 2835.0f;
  p = p * x2 + -17.0f / 315.0f;
  p = p * x2 + 2.0f / 15.0f;
  p = p * x2 + -1.0f / 3.0f;
  const float small = x + x * x2 * p;
  const float e = exp_f(2.0f * (ax > 20.0f ? 20.0f : ax));
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0 ? -big : big;
  const float y = ax < 0.55f ? small : big;
  return x != x ? x : y;
}

KILN_VINLINE float sigmoid_f(float x) {
  // 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: no overflow, relative accuracy in the left tail; one division.
  const float e = exp_nonpos_f(x < 0 ? x : -x);
  const float r = 1.0f / (1.0f + e);
  return x >= 0 ? r : (x != x ? x : e * r);
}

// erf: Taylor series below |x| = 0.5, Abramowitz-Stegun 7.1.26 (abs error 1.5e-7) above.
KILN_VINLINE float erf_f(float x) {
  const float ax = x < 0 ? -x : x;
  const float x2 = x * x;
  float s = -1.0f / 1320.0f;
  s = s * x2 + 1.0f / 216.0f;
  s = s * x2 + -1.0f / 42.0f;
  s = s * x2 + 1.0f / 10.0f;
  s = s * x2 + -1.0f / 3.0f;
  s = s * x2 + 1.0f;
  const float small = 1.12837916709551257f * x * s;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float q = 1.061405429f;
  q = q * t + -1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t + -0.284496736f;
  q = q * t + 0.254829592f;
  float big = 1.0f - q * t * exp_f(-ax * ax);
  big = x < 0 ? -big : big;
  const float y = ax < 0.5f ? small : big;
  return x != x ? x : y;
}

KILN_VINLINE float gelu_f(float x) { return 0.5f * x * (1.0f + erf_f(x * 0.70710678118654752f)); }
KILN_VINLINE float gelu_tanh_f(float x) {
  return 0.5f * x * (1.0f + tanh_f(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
}
KILN_VINLINE float silu_f(float x) { return x * sigmoid_f(x); }

}  // namespace kiln::cpu::vm
