// Vectorized float32 row reductions and transforms (see norm_rows.h), compiled per ISA.
#include "backends/cpu/kernels/norm_rows.h"

#include <algorithm>
#include <cmath>
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

// Softmax down columns: W adjacent columns at once, one lane each, so a short softmax axis still runs on whole vectors
// (per lane: the NaN-propagating max from `m`, exp and sum, then the scale or the log-softmax shift). The max is taken
// before the body: on 16-float vector types for whole blocks (a scalar loop of selects did not vectorize).
#define KILN_SOFTMAX_COLUMNS_BODY(W)                                                    \
  {                                                                                     \
    float s[kLanes];                                                                    \
    for (int l = 0; l < (W); ++l) s[l] = 0.f;                                           \
    for (int64_t j = 0; j < len; ++j)                                                   \
      for (int l = 0; l < (W); ++l) {                                                   \
        const float e = vm::exp_nonpos_f(x[j * inner + c + l] - m[l]);                  \
        y[j * inner + c + l] = e;                                                       \
        s[l] += e;                                                                      \
      }                                                                                 \
    if (log) {                                                                          \
      for (int l = 0; l < (W); ++l) s[l] = -m[l] - std::log(s[l]);                      \
      for (int64_t j = 0; j < len; ++j)                                                 \
        for (int l = 0; l < (W); ++l) y[j * inner + c + l] = x[j * inner + c + l] + s[l]; \
    } else {                                                                            \
      for (int l = 0; l < (W); ++l) s[l] = 1.f / s[l];                                  \
      for (int64_t j = 0; j < len; ++j)                                                 \
        for (int l = 0; l < (W); ++l) y[j * inner + c + l] *= s[l];                     \
    }                                                                                   \
  }

KILN_CPU_CLONES void softmax_columns(const float* x, float* y, int64_t len, int64_t inner, int64_t cols, bool log) {
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN(), kNegInf = -std::numeric_limits<float>::infinity();
  int64_t c = 0;
  for (; c + kLanes <= cols; c += kLanes) {
    V16f vm_max;
    for (int l = 0; l < kLanes; ++l) vm_max[l] = kNegInf;
    V16i nan = {};
    for (int64_t j = 0; j < len; ++j) {
      V16f v;
      std::memcpy(&v, x + j * inner + c, sizeof v);
      vm_max = v > vm_max ? v : vm_max;
      nan |= v != v;
    }
    float m[kLanes];
    for (int l = 0; l < kLanes; ++l) m[l] = nan[l] ? kNan : vm_max[l];
    KILN_SOFTMAX_COLUMNS_BODY(kLanes)
  }
  const int w = static_cast<int>(cols - c);
  if (w > 0) {
    float m[kLanes];
    for (int l = 0; l < w; ++l) {
      m[l] = kNegInf;
      for (int64_t j = 0; j < len; ++j) {
        const float v = x[j * inner + c + l];
        m[l] = (v > m[l] || v != v) ? v : m[l];
        if (v != v) break;
      }
    }
    KILN_SOFTMAX_COLUMNS_BODY(w)
  }
}
#undef KILN_SOFTMAX_COLUMNS_BODY

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
// Two selects instead of `a || b ? :`, whose branches kept the loops scalar.
KILN_CPU_CLONES void col_max(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], a = v > acc[i] ? v : acc[i];
    acc[i] = v != v ? v : a;
  }
}
KILN_CPU_CLONES void col_min(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], a = v < acc[i] ? v : acc[i];
    acc[i] = v != v ? v : a;
  }
}

// ArgMax / ArgMin down columns, one lane per column, with integer masks instead of branches so the loop runs on whole
// vectors: pos / neg say v orders above / below the current best (NaN above every number), eq that neither does.
#define KILN_ARG_EXTREME_LANES(W)                                                                      \
  for (int l = 0; l < (W); ++l) {                                                                      \
    const float v = row[l];                                                                            \
    const int32_t nv = v != v, nc = cur[l] != cur[l];                                                  \
    const int32_t pos = (nv & (nc ^ 1)) | (v > cur[l]), neg = ((nv ^ 1) & nc) | (v < cur[l]);          \
    const int32_t better = (want_max ? pos : neg) | (keep_last & ((pos | neg) ^ 1));                   \
    cur[l] = better ? v : cur[l];                                                                      \
    at[l] = better ? jj : at[l];                                                                       \
  }

KILN_CPU_CLONES void arg_extreme_columns(const float* x, int64_t len, int64_t inner, int64_t cols, bool is_max,
                                         bool last, int64_t* out) {
  const int32_t want_max = is_max, keep_last = last;
  for (int64_t c0 = 0; c0 < cols; c0 += kLanes) {
    const int w = static_cast<int>(std::min<int64_t>(kLanes, cols - c0));
    float cur[kLanes];
    int32_t at[kLanes];
    for (int l = 0; l < w; ++l) {
      cur[l] = x[c0 + l];
      at[l] = 0;
    }
    for (int64_t j = 1; j < len; ++j) {
      const float* row = x + j * inner + c0;
      const int32_t jj = static_cast<int32_t>(j);
      if (w == kLanes) {  // constant trip count: the loop vectorizes
        KILN_ARG_EXTREME_LANES(kLanes)
      } else {
        KILN_ARG_EXTREME_LANES(w)
      }
    }
    for (int l = 0; l < w; ++l) out[c0 + l] = at[l];
  }
}
#undef KILN_ARG_EXTREME_LANES

}  // namespace kiln::cpu::kern
