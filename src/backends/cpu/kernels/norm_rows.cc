// Vectorized float32 row reductions and transforms (see norm_rows.h), compiled per ISA.
#include "backends/cpu/kernels/norm_rows.h"

#include <cstring>
#include <limits>

#include "backends/cpu/kernels/vec_math.h"

namespace kiln::cpu::kern {

namespace {
constexpr int kLanes = 16;
}

// Max / min with NaN propagation: a select per lane on 16-float vectors (vmaxps/vminps, whose NaN rule keeps the
// accumulator) and a separate any-NaN mask, so the loop runs on whole vectors; the per-element NaN-aware select it
// replaces compiled to scalar compares and branches (most of a transformer's standalone Softmax time).
using V16f = float __attribute__((vector_size(64)));
using V16i = int32_t __attribute__((vector_size(64)));

#define KILN_EXTREME_BODY(init, better)                             \
  V16f acc;                                                         \
  for (int l = 0; l < kLanes; ++l) acc[l] = init;                   \
  V16i nan = {};                                                    \
  int64_t i = 0;                                                    \
  for (; i + kLanes <= n; i += kLanes) {                            \
    V16f v;                                                         \
    std::memcpy(&v, x + i, sizeof v);                               \
    acc = v better acc ? v : acc;                                   \
    nan |= v != v;                                                  \
  }                                                                 \
  float r = init;                                                   \
  int any_nan = 0;                                                  \
  for (int l = 0; l < kLanes; ++l) {                                \
    r = acc[l] better r ? acc[l] : r;                               \
    any_nan |= nan[l];                                              \
  }                                                                 \
  for (; i < n; ++i) {                                              \
    r = x[i] better r ? x[i] : r;                                   \
    any_nan |= x[i] != x[i];                                        \
  }                                                                 \
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : r;

KILN_CPU_CLONES float row_max(const float* x, int64_t n) {
  KILN_EXTREME_BODY(-std::numeric_limits<float>::infinity(), >)
}

KILN_CPU_CLONES float row_min(const float* x, int64_t n) {
  KILN_EXTREME_BODY(std::numeric_limits<float>::infinity(), <)
}
#undef KILN_EXTREME_BODY

#define KILN_SUM_BODY(expr)                                 \
  float acc[kLanes] = {};                                   \
  int64_t i = 0;                                            \
  for (; i + kLanes <= n; i += kLanes)                      \
    for (int l = 0; l < kLanes; ++l) {                      \
      const float v = x[i + l];                             \
      acc[l] += (expr);                                     \
    }                                                       \
  for (; i < n; ++i) {                                      \
    const float v = x[i];                                   \
    acc[i % kLanes] += (expr);                              \
  }                                                         \
  float r = 0.f;                                            \
  for (int l = 0; l < kLanes; ++l) r += acc[l];             \
  return r;

KILN_CPU_CLONES float row_sum(const float* x, int64_t n) { KILN_SUM_BODY(v) }
KILN_CPU_CLONES float row_sum_sq(const float* x, int64_t n) { KILN_SUM_BODY(v * v) }
KILN_CPU_CLONES float row_sum_sq_dev(const float* x, int64_t n, float mean) { KILN_SUM_BODY((v - mean) * (v - mean)) }

KILN_CPU_CLONES float row_exp_sum(const float* x, float* y, int64_t n, float m) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float e = vm::exp_nonpos_f(x[i + l] - m);
      y[i + l] = e;
      acc[l] += e;
    }
  for (; i < n; ++i) {
    const float e = vm::exp_nonpos_f(x[i] - m);
    y[i] = e;
    acc[i % kLanes] += e;
  }
  float r = 0.f;
  for (int l = 0; l < kLanes; ++l) r += acc[l];
  return r;
}

KILN_CPU_CLONES void row_scale(float* y, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}
KILN_CPU_CLONES void row_add_scalar(const float* x, float* y, int64_t n, float c) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] + c;
}
KILN_CPU_CLONES void row_normalize(const float* x, float* y, int64_t n, float mean, float inv, const float* scale,
                                   const float* bias) {
  if (bias) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * scale[i] + bias[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * scale[i];
  }
}
KILN_CPU_CLONES void row_shift_scale(const float* x, float* y, int64_t n, float mean, float a, float b) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * a + b;
}
KILN_CPU_CLONES void row_add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
KILN_CPU_CLONES void col_add(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}
KILN_CPU_CLONES void col_add_sq(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i] * x[i];
}
// NaN wins in column max/min (numpy semantics of the reference reductions).
KILN_CPU_CLONES void col_max(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = (x[i] > acc[i] || x[i] != x[i]) ? x[i] : acc[i];
}
KILN_CPU_CLONES void col_min(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = (x[i] < acc[i] || x[i] != x[i]) ? x[i] : acc[i];
}

}  // namespace kiln::cpu::kern
