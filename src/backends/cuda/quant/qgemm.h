// Device side of Kiln's int8 GEMM path on CUDA (QLinearMatMul, QLinearConv): operand packing into signed 8-bit
// rows padded to 16 bytes, im2col, zero-point sums, the fused int8 GEMM, and the requantizing pass over the int32
// accumulators. Plain C++17 launch functions (raw pointers, sizes, stream) for the .cc host files.
//
// The integer algebra (docs/int8.md, "INT8 on CUDA"): cuBLASLt multiplies signed int8 only, so uint8 operands are
// shifted to int8 (v - 128; their zero points shift alike). With a_s, b_s the shifted values and za, zb[n] their
// zero points, the product the model asks for is
//   sum_k (a_s - za)(b_s - zb[n]) = acc - za * colsum_b[n] - zb[n] * rowsum_a[m] + K * za * zb[n],
// acc = sum_k a_s * b_s (cuBLASLt, int32), colsum_b once per weight, rowsum_a only when some zb[n] != 0.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda {

// Signed-8-bit view of an 8-bit operand: `is_u8` values are shifted by -128.
struct Q8Source {
  const void* data = nullptr;
  bool is_u8 = false;
};

// dst[r][0..kp) (row-major, int8) = src row r shifted to int8, zero beyond `k`; rows >= `rows` (up to `rows_pad`)
// are all zero. `src_transposed`: src is [k][rows] (a MatMul's B), else [rows][k].
cudaError_t launch_pack_rows_s8(Q8Source src, bool src_transposed, int64_t rows, int64_t k, int64_t rows_pad,
                                int64_t kp, int8_t* dst, cudaStream_t stream);

// sums[r] = sum over the first `k` columns of the packed int8 rows (row stride kp), for r < rows.
cudaError_t launch_row_sums_s8(const int8_t* packed, int64_t rows, int64_t k, int64_t kp, int32_t* sums,
                               cudaStream_t stream);

// im2col of an 8-bit input (2-D window; 1-D as H = 1): row m = (image, oy, ox); columns (c, ky, kx) for an NCHW
// input, (ky, kx, c) for a channels-last one (the order of NHWC weights [M, kH, kW, C]); out-of-image taps read
// `pad_value` (the input's zero point, raw). Channels-last rows copy 16 or 4 bytes a thread when c allows.
struct Im2ColParams {
  Q8Source x;
  bool channels_last = false;          // x is [n][h][w][c]
  int64_t n = 0, c = 0, h = 0, w = 0;  // input dims
  int64_t kh = 1, kw = 1, oh = 0, ow = 0;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_top = 0, pad_left = 0;
  const void* pad_value = nullptr;  // device scalar of the input's dtype (nullptr: 0)
  int64_t kp = 0;                   // padded row length (>= c * kh * kw, a multiple of 4)
  int8_t* dst = nullptr;            // [n * oh * ow][kp]
};
cudaError_t launch_im2col_s8(const Im2ColParams& p, cudaStream_t stream);

// A zero point or scale input read on the device: `count` values (1 = per tensor), dtype by flags.
struct QZeroPoint {
  const void* data = nullptr;  // nullptr: 0
  bool is_u8 = false;          // uint8 (else int8)
  int64_t count = 1;
};

// y = requantize(acc): the int32 product of shifted operands corrected by the zero-point sums above, plus the
// int32 bias (accumulator units), times a_scale * b_scale[n] / y_scale, rounded half to even, plus y's zero point.
// `scale_in_float`: the combined scale is formed in float32 steps (QLinearMatMul, as the ONNX reference does);
// otherwise in double (QLinearConv). `saturate`: clamp to y's range; else wrap modulo 256 (plain QLinearMatMul).
struct RequantParams {
  const int32_t* acc = nullptr;  // [m][ldacc]
  int64_t m = 0, n = 0, ldacc = 0, k = 0;
  const float* a_scale = nullptr;  // one value
  QZeroPoint a_zp;                 // za (raw; shifted here when a was uint8)
  bool a_shifted = false;          // a's values were shifted by -128
  const float* b_scale = nullptr;  // 1 or n values
  int64_t b_scale_count = 1;
  QZeroPoint b_zp;  // 1 or n values (raw)
  bool b_shifted = false;
  const float* y_scale = nullptr;  // one value
  QZeroPoint y_zp;                 // one value; its dtype is y's
  bool y_is_u8 = false;
  const int32_t* bias = nullptr;      // n values or nullptr
  const int32_t* colsum_b = nullptr;  // n values
  const int32_t* rowsum_a = nullptr;  // m values, or nullptr when every zb is 0
  bool scale_in_float = true;
  bool saturate = true;
  // Per-channel terms from launch_requant_terms (both or neither; nullptr: formed per element): the combined scale
  // and offset[n] = bias[n] - za * colsum_b[n] (+ k * za * zb[n] when rowsum_a is used).
  const double* term_scale = nullptr;
  const int64_t* term_offset = nullptr;
  // Output placement: rows_per_image == 0: y[m][n] row-major. Otherwise NCHW: row m = image * rows_per_image + p
  // goes to y[image][n][p].
  int64_t rows_per_image = 0;
  void* y = nullptr;
};
cudaError_t launch_requantize(const RequantParams& p, cudaStream_t stream);

// The operands of Kiln's fused int8 GEMM (q8_mma.cu): a [m][lda] and w [n_rows][ldw] signed 8-bit rows whose first
// kp bytes are multiplied (kp, lda, ldw multiples of 16, both bases 16-byte aligned); y row-major with row stride ldy,
// or NCHW when the requantization's rows_per_image is set (as launch_requantize places it).
// Implicit im2col of a channels-last convolution (x non-null): row m of A is output pixel m (image, oy, ox), its
// columns (ky, kx, c) as the NHWC weights' [M, kH, kW, C] rows; x is int8 with c % 16 == 0 (so kp == kh * kw * c and
// a 16-byte chunk never crosses a tap), kh * kw <= 32. Out-of-image taps read 0; the epilogue then adds
// x_zero_point * tap_sums[n][tap] for each of them, which is what padding with the zero point contributes.
struct Q8ImplicitConv {
  const int8_t* x = nullptr;
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t kh = 1, kw = 1, oh = 0, ow = 0;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_top = 0, pad_left = 0;
  const int32_t* tap_sums = nullptr;  // [n_rows][kh * kw]
};
struct Q8GemmOperands {
  const int8_t* a = nullptr;
  int64_t lda = 0;
  const int8_t* w = nullptr;
  int64_t ldw = 0;
  int64_t m = 0, n_rows = 0, kp = 0, ldy = 0;
  Q8ImplicitConv conv;  // conv.x non-null: A is the implicit im2col (a and lda unused)
};
// tap_sums[r][t] = sum over the c columns of tap t in packed int8 row r (rows [rows][kp], taps * c <= kp).
cudaError_t launch_tap_sums_s8(const int8_t* packed, int64_t rows, int64_t taps, int64_t c, int64_t kp,
                               int32_t* tap_sums, cudaStream_t stream);
bool q8_gemm_requant_fits(const Q8GemmOperands& g);  // for an implicit im2col (conv.x set), its own checks
// y[m][ldy] = requantize(a w^T) for the first p.n columns in one kernel (the int32 products never reach memory),
// equal bit for bit to launch_requantize over the int32 path: p needs term_scale/term_offset (launch_requant_terms),
// y, n, y_zp/y_is_u8/saturate, and rowsum_a with b_zp/b_shifted when weight zero points are not all 0.
// Block tiles: kMedium 128 x 128 (128 x 64 when n <= 64), kLarge 256 x 128 (64 x 64 warp tiles, one block per SM),
// kNarrow 128 x 64 (four warps, more blocks per SM: for short k, where each block waits on its loads).
enum class Q8Tile { kMedium, kLarge, kNarrow };
cudaError_t launch_q8_gemm_requant(const Q8GemmOperands& g, const RequantParams& p, Q8Tile tile, cudaStream_t stream);

// Fills scale[n] and offset[n] (p.n values each) for RequantParams::term_scale / term_offset, from p's scales, zero
// points, bias, colsum_b and k (acc, m, y and the placement are not read).
cudaError_t launch_requant_terms(const RequantParams& p, double* scale, int64_t* offset, cudaStream_t stream);

// Grouped QLinearConv computed directly (one thread per output, int32 sums): for group > 1, where per-group GEMMs
// would be tiny. The requantization fields of `rq` apply (acc, ldacc, colsum_b, rowsum_a, the terms and the
// placement are unused; y is NCHW, or NHWC when channels_last).
struct DirectQConvParams {
  Q8Source x, w;  // x [n][c][h][w], w [oc][c / group][kh][kw]; channels_last: x [n][h][w][c], w [oc][kh][kw][c / group]
  bool channels_last = false;
  int64_t n = 0, c = 0, h = 0, wd = 0, oc = 0, group = 1;
  int64_t kh = 1, kw = 1, oh = 0, ow = 0;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_top = 0, pad_left = 0;
};
cudaError_t launch_direct_qconv(const DirectQConvParams& p, const RequantParams& rq, cudaStream_t stream);

}  // namespace kiln::cuda
