// Vectorized float32 row reductions and row transforms used by Softmax, the normalizations and reductions.
// Sums use 16 independent lanes (the order differs from a serial sum by float rounding only).
#pragma once
#include <cstdint>

namespace kiln::cpu::kern {

float row_max(const float* x, int64_t n);  // -inf for n == 0; NaN if any element is NaN
float row_min(const float* x, int64_t n);  // +inf for n == 0; NaN if any element is NaN
float row_sum(const float* x, int64_t n);
float row_sum_sq(const float* x, int64_t n);                 // sum x^2
float row_sum_sq_dev(const float* x, int64_t n, float mean);  // sum (x - mean)^2
// y = exp(x - m); returns sum(y).
float row_exp_sum(const float* x, float* y, int64_t n, float m);
// Softmax (log-softmax when `log`) of `cols` adjacent columns: column c holds x[c + j * inner] for j < len. y must
// not overlap x. A short axis runs as vectors across the columns (the row forms above are scalar below 16).
void softmax_columns(const float* x, float* y, int64_t len, int64_t inner, int64_t cols, bool log);
// y = y * s (in place).
void row_scale(float* y, int64_t n, float s);
// y = x + c.
void row_add_scalar(const float* x, float* y, int64_t n, float c);
// y = (x - mean) * inv * scale + bias (bias may be null).
void row_normalize(const float* x, float* y, int64_t n, float mean, float inv, const float* scale,
                   const float* bias);
// y = (x - mean) * a + b.
void row_shift_scale(const float* x, float* y, int64_t n, float mean, float a, float b);
// y = a + b.
void row_add(const float* a, const float* b, float* y, int64_t n);
// Column forms for reductions over a leading axis: acc[j] op= x[j] for j < n.
void col_add(float* acc, const float* x, int64_t n);
void col_add_sq(float* acc, const float* x, int64_t n);
void col_max(float* acc, const float* x, int64_t n);
void col_min(float* acc, const float* x, int64_t n);
// ArgMax (is_max) / ArgMin of `cols` adjacent columns (column c: x[c + j * inner], j < len < 2^31) into out[c]: the
// first extreme index, the last with `last`; NaN orders above every number (the reference's order).
void arg_extreme_columns(const float* x, int64_t len, int64_t inner, int64_t cols, bool is_max, bool last, int64_t* out);

}  // namespace kiln::cpu::kern
