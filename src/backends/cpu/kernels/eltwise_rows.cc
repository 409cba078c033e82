// Vectorized float32 row functions of the elementwise kernels (see eltwise_rows.h). Each op is its own loop,
// compiled per ISA (KILN_CPU_CLONES) so the hot ones run 8 or 16 lanes wide.
#include "backends/cpu/kernels/eltwise_rows.h"

#include <cmath>
#include <cstring>

#include "backends/cpu/kernels/vec_math.h"

namespace kiln::cpu::kern {
namespace {

using namespace vm;

#define KILN_UNARY(name, expr)                                                    \
  KILN_CPU_CLONES void name(const float* x, float* y, int64_t n, float p0, float p1) { \
    for (int64_t i = 0; i < n; ++i) {                                             \
      const float v = x[i];                                                       \
      y[i] = (expr);                                                              \
    }                                                                             \
  }

KILN_UNARY(u_neg, -v)
KILN_UNARY(u_abs, v < 0 ? -v : v)
KILN_UNARY(u_relu, v < 0 ? 0.0f : v)
KILN_UNARY(u_sigmoid, sigmoid_f(v))
KILN_UNARY(u_tanh, tanh_f(v))
KILN_UNARY(u_exp, exp_f(v))
KILN_UNARY(u_sqrt, __builtin_sqrtf(v))
KILN_UNARY(u_recip, 1.0f / v)
KILN_UNARY(u_erf, erf_f(v))
KILN_UNARY(u_gelu, gelu_f(v))
KILN_UNARY(u_gelu_tanh, gelu_tanh_f(v))
KILN_UNARY(u_silu, silu_f(v))
KILN_UNARY(u_floor, __builtin_floorf(v))
KILN_UNARY(u_ceil, __builtin_ceilf(v))
KILN_UNARY(u_leaky, v < 0 ? v * p0 : v)
KILN_UNARY(u_clip, (v < p0 ? p0 : v) > p1 ? p1 : (v < p0 ? p0 : v))
KILN_UNARY(u_hsig, (p0 * v + p1) < 0 ? 0.0f : ((p0 * v + p1) > 1 ? 1.0f : (p0 * v + p1)))
KILN_UNARY(u_hswish, v * ((v / 6.0f + 0.5f) < 0 ? 0.0f : ((v / 6.0f + 0.5f) > 1 ? 1.0f : (v / 6.0f + 0.5f))))
KILN_UNARY(u_elu, v < 0 ? p0 * (exp_f(v) - 1.0f) : v)
KILN_UNARY(u_round, std::nearbyint(v))  // the default rounding mode: half to even
KILN_UNARY(u_sign, v > 0 ? 1.0f : (v < 0 ? -1.0f : v))
KILN_UNARY(u_swish, v * sigmoid_f(p0 * v))
KILN_UNARY(u_softplus, softplus_f(v))
// x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2); past 20 it is x to float precision.
KILN_UNARY(u_mish, v > 20.0f ? v : v * (exp_f(v) * (exp_f(v) + 2.0f)) / (exp_f(v) * (exp_f(v) + 2.0f) + 2.0f))
KILN_UNARY(u_softsign, v / (1.0f + (v < 0 ? -v : v)))
KILN_UNARY(u_selu, v > 0 ? p1 * v : p1 * p0 * (exp_f(v) - 1.0f))
KILN_UNARY(u_celu, v > 0 ? v : p0 * (exp_f(v / p0) - 1.0f))
KILN_UNARY(u_thresholded_relu, v > p0 ? v : 0.0f)

// Scalar libm loops (rare in hot paths, and the compiler cannot vectorize them without fast-math).
void u_log(const float* x, float* y, int64_t n, float, float) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
}
void u_sin(const float* x, float* y, int64_t n, float, float) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::sin(x[i]);
}
void u_cos(const float* x, float* y, int64_t n, float, float) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::cos(x[i]);
}
void u_copy(const float* x, float* y, int64_t n, float, float) {
  if (x != y) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
}

// NaN propagates through Max/Min (numpy.maximum): the NaN operand wins.
#define KILN_BINARY(name, expr)                                                         \
  KILN_CPU_CLONES void name##_vv(const float* a, const float* b, float* y, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) {                                                   \
      const float u = a[i], v = b[i];                                                   \
      y[i] = (expr);                                                                    \
    }                                                                                   \
  }                                                                                     \
  KILN_CPU_CLONES void name##_sv(const float* a, const float* b, float* y, int64_t n) { \
    const float u = a[0];                                                               \
    for (int64_t i = 0; i < n; ++i) {                                                   \
      const float v = b[i];                                                             \
      y[i] = (expr);                                                                    \
    }                                                                                   \
  }                                                                                     \
  KILN_CPU_CLONES void name##_vs(const float* a, const float* b, float* y, int64_t n) { \
    const float v = b[0];                                                               \
    for (int64_t i = 0; i < n; ++i) {                                                   \
      const float u = a[i];                                                             \
      y[i] = (expr);                                                                    \
    }                                                                                   \
  }

KILN_BINARY(b_add, u + v)
KILN_BINARY(b_sub, u - v)
KILN_BINARY(b_mul, u * v)
KILN_BINARY(b_div, u / v)
KILN_BINARY(b_max, u != u ? u : (u > v ? u : v))
KILN_BINARY(b_min, u != u ? u : (u < v ? u : v))
KILN_BINARY(b_prelu, u < 0 ? u * v : u)

void b_pow(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  if (sb == 0) {  // common constant exponents, exact like the reference's rounding of pow(double)
    const float e = b[0];
    if (e == 2.0f) return binary_row(BOp::kMul, a, sa, a, sa, y, n);
    if (e == 1.0f) {
      for (int64_t i = 0; i < n; ++i) y[i] = a[i * sa];
      return;
    }
    if (e == 3.0f) {  // GELU's tanh form: a*a exact in double, one rounding of the cube as pow(double) rounds it
      for (int64_t i = 0; i < n; ++i) {
        const double v = a[i * sa];
        y[i] = static_cast<float>(v * v * v);
      }
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<float>(std::pow(static_cast<double>(a[i * sa]), static_cast<double>(b[i * sb])));
}

}  // namespace

void unary_row(UOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  using Fn = void (*)(const float*, float*, int64_t, float, float);
  Fn f = u_copy;
  switch (op) {
    case UOp::kNeg: f = u_neg; break;
    case UOp::kAbs: f = u_abs; break;
    case UOp::kRelu: f = u_relu; break;
    case UOp::kSigmoid: f = u_sigmoid; break;
    case UOp::kTanh: f = u_tanh; break;
    case UOp::kExp: f = u_exp; break;
    case UOp::kLog: f = u_log; break;
    case UOp::kSqrt: f = u_sqrt; break;
    case UOp::kReciprocal: f = u_recip; break;
    case UOp::kErf: f = u_erf; break;
    case UOp::kGelu: f = u_gelu; break;
    case UOp::kGeluTanh: f = u_gelu_tanh; break;
    case UOp::kSilu: f = u_silu; break;
    case UOp::kFloor: f = u_floor; break;
    case UOp::kCeil: f = u_ceil; break;
    case UOp::kLeakyRelu: f = u_leaky; break;
    case UOp::kClip: f = u_clip; break;
    case UOp::kHardSigmoid: f = u_hsig; break;
    case UOp::kHardSwish: f = u_hswish; break;
    case UOp::kSoftplus: f = u_softplus; break;
    case UOp::kElu: f = u_elu; break;
    case UOp::kRound: f = u_round; break;
    case UOp::kSign: f = u_sign; break;
    case UOp::kIdentity: f = u_copy; break;
    case UOp::kSwish: f = u_swish; break;
    case UOp::kMish: f = u_mish; break;
    case UOp::kSoftsign: f = u_softsign; break;
    case UOp::kSin: f = u_sin; break;
    case UOp::kCos: f = u_cos; break;
    case UOp::kSelu: f = u_selu; break;
    case UOp::kCelu: f = u_celu; break;
    case UOp::kThresholdedRelu: f = u_thresholded_relu; break;
  }
  f(x, y, n, p0, p1);
}

void binary_row(BOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  using Fn = void (*)(const float*, const float*, float*, int64_t);
  if (op == BOp::kPow) return b_pow(a, sa, b, sb, y, n);
  Fn vv = b_add_vv, sv = b_add_sv, vs = b_add_vs;
  switch (op) {
    case BOp::kAdd: vv = b_add_vv; sv = b_add_sv; vs = b_add_vs; break;
    case BOp::kSub: vv = b_sub_vv; sv = b_sub_sv; vs = b_sub_vs; break;
    case BOp::kMul: vv = b_mul_vv; sv = b_mul_sv; vs = b_mul_vs; break;
    case BOp::kDiv: vv = b_div_vv; sv = b_div_sv; vs = b_div_vs; break;
    case BOp::kMax: vv = b_max_vv; sv = b_max_sv; vs = b_max_vs; break;
    case BOp::kMin: vv = b_min_vv; sv = b_min_sv; vs = b_min_vs; break;
    case BOp::kPRelu: vv = b_prelu_vv; sv = b_prelu_sv; vs = b_prelu_vs; break;
    case BOp::kPow: break;
  }
  if (sa == 0 && sb == 0) {
    float r;
    vs(a, b, &r, 1);
    for (int64_t i = 0; i < n; ++i) y[i] = r;
  } else if (sa == 0) {
    sv(a, b, y, n);
  } else if (sb == 0) {
    vs(a, b, y, n);
  } else {
    vv(a, b, y, n);
  }
}

std::optional<UOp> unary_of(fused::EwOp op) {
  using fused::EwOp;
  switch (op) {
    case EwOp::kNeg: return UOp::kNeg;
    case EwOp::kAbs: return UOp::kAbs;
    case EwOp::kRelu: return UOp::kRelu;
    case EwOp::kSigmoid: return UOp::kSigmoid;
    case EwOp::kTanh: return UOp::kTanh;
    case EwOp::kExp: return UOp::kExp;
    case EwOp::kLog: return UOp::kLog;
    case EwOp::kSqrt: return UOp::kSqrt;
    case EwOp::kReciprocal: return UOp::kReciprocal;
    case EwOp::kErf: return UOp::kErf;
    case EwOp::kGelu: return UOp::kGelu;
    case EwOp::kGeluTanh: return UOp::kGeluTanh;
    case EwOp::kSilu: return UOp::kSilu;
    case EwOp::kFloor: return UOp::kFloor;
    case EwOp::kCeil: return UOp::kCeil;
    case EwOp::kLeakyRelu: return UOp::kLeakyRelu;
    case EwOp::kClip: return UOp::kClip;
    default: return std::nullopt;
  }
}

std::optional<BOp> binary_of(fused::EwOp op) {
  using fused::EwOp;
  switch (op) {
    case EwOp::kAdd: return BOp::kAdd;
    case EwOp::kSub: return BOp::kSub;
    case EwOp::kMul: return BOp::kMul;
    case EwOp::kDiv: return BOp::kDiv;
    case EwOp::kPow: return BOp::kPow;
    case EwOp::kMax: return BOp::kMax;
    case EwOp::kMin: return BOp::kMin;
    default: return std::nullopt;
  }
}

}  // namespace kiln::cpu::kern
