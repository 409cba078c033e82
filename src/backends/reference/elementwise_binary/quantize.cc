// Reference kernels for QuantizeLinear and DequantizeLinear (per-tensor, per-axis, blocked) and DynamicQuantizeLinear.
#include <cmath>

#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"
#include "core/float_formats.h"

namespace kiln {

namespace {

// Integer quantization targets and their ranges.
bool int_quant_range(DType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DType::kUInt8:
      *lo = 0;
      *hi = 255;
      return true;
    case DType::kInt8:
      *lo = -128;
      *hi = 127;
      return true;
    case DType::kUInt16:
      *lo = 0;
      *hi = 65535;
      return true;
    case DType::kInt16:
      *lo = -32768;
      *hi = 32767;
      return true;
    case DType::kUInt4:
      *lo = 0;
      *hi = 15;
      return true;
    case DType::kInt4:
      *lo = -8;
      *hi = 7;
      return true;
    case DType::kUInt2:
      *lo = 0;
      *hi = 3;
      return true;
    case DType::kInt2:
      *lo = -2;
      *hi = 1;
      return true;
    default:
      return false;
  }
}

bool is_fp8_quant(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ;
}

// Stores integer value v (already inside the type's range) as element i of t.
void store_int(Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DType::kUInt8:
    case DType::kUInt4:
    case DType::kUInt2:
      t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
      break;
    case DType::kInt8:
    case DType::kInt4:
    case DType::kInt2:
      t.data<int8_t>()[i] = static_cast<int8_t>(v);
      break;
    case DType::kUInt16:
      t.data<uint16_t>()[i] = static_cast<uint16_t>(v);
      break;
    case DType::kInt16:
      t.data<int16_t>()[i] = static_cast<int16_t>(v);
      break;
    default:
      break;
  }
}

uint8_t float_to_fp8(DType t, float v, bool saturate) {
  switch (t) {
    case DType::kFloat8E4M3FN:
      return float_to_fp8e4m3fn(v, saturate);
    case DType::kFloat8E4M3FNUZ:
      return float_to_fp8e4m3fnuz(v, saturate);
    case DType::kFloat8E5M2:
      return float_to_fp8e5m2(v, saturate);
    case DType::kFloat8E5M2FNUZ:
      return float_to_fp8e5m2fnuz(v, saturate);
    default:
      return 0;
  }
}

// Rounds a float32 value to the precision of a narrow float dtype (float16/bfloat16), else returns it unchanged.
float round_to_precision(DType t, float v) {
  if (t == DType::kFloat16) return half_to_float(float_to_half(v));
  if (t == DType::kBFloat16) return bf16_to_float(float_to_bf16(v));
  return v;
}

// Round half to even, then add the zero point and clamp to [lo, hi]; NaN counts as 0.
int64_t round_clamp(double v, double zp, int64_t lo, int64_t hi) {
  double r = std::isnan(v) ? 0.0 : std::nearbyint(v);
  r += zp;
  if (r < static_cast<double>(lo)) return lo;
  if (r > static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(r);
}

// For each element of x (row-major), the index of its scale / zero point. Validates the scale's shape against
// the quantization granularity: per-tensor (one element), per-axis (1-D of x.dim(axis)) or blocked.
Status quant_param_index(const KernelContext& ctx, const Dims& x_dims, const Tensor& scale, int64_t axis_attr,
                         int64_t block_size, std::vector<int64_t>* index) {
  const int64_t n = dims_numel(x_dims);
  index->assign(static_cast<size_t>(n), 0);
  if (block_size < 0) return ctx.error("block_size must be >= 0, got " + std::to_string(block_size));
  if (scale.numel() == 1) return ok_status();  // per-tensor
  const int64_t rank = static_cast<int64_t>(x_dims.size());
  int64_t axis = 0;
  if (!normalize_axis_index(axis_attr, rank, &axis))
    return ctx.error("axis " + std::to_string(axis_attr) + " is out of range for input of rank " +
                     std::to_string(rank));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x_dims[d];
  if (block_size == 0) {
    if (scale.rank() != 1 || scale.dim(0) != x_dims[axis])
      return ctx.error("per-axis scale must be 1-D of size " + std::to_string(x_dims[axis]) + " (x dim " +
                       std::to_string(axis) + "), got shape [" + dims_to_string(scale.dims()) + "]");
    for (int64_t k = 0; k < n; ++k) (*index)[k] = (k / inner) % x_dims[axis];
    return ok_status();
  }
  // Blocked: scale has x's rank; equal dims except along axis, where it holds ceil(dim / block_size) blocks.
  bool ok = static_cast<int64_t>(scale.rank()) == rank;
  for (int64_t d = 0; ok && d < rank; ++d) {
    const int64_t want = d == axis ? (x_dims[d] == 0 ? 0 : (x_dims[d] - 1) / block_size + 1) : x_dims[d];
    ok = scale.dim(d) == want;
  }
  if (!ok)
    return ctx.error("blocked scale shape [" + dims_to_string(scale.dims()) + "] does not match x shape [" +
                     dims_to_string(x_dims) + "] with block_size " + std::to_string(block_size) + " along axis " +
                     std::to_string(axis));
  const int64_t len = x_dims[axis];
  const int64_t blocks = scale.dim(axis);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t outer = k / (inner * len);
    const int64_t a = (k / inner) % len;
    const int64_t in = k % inner;
    (*index)[k] = (outer * blocks + a / block_size) * inner + in;
  }
  return ok_status();
}

Status check_zero_point_shape(const KernelContext& ctx, const Tensor& scale, const Tensor& zp) {
  if (zp.dims() != scale.dims() && !(zp.numel() == 1 && scale.numel() == 1))
    return ctx.error("zero point shape [" + dims_to_string(zp.dims()) + "] must match scale shape [" +
                     dims_to_string(scale.dims()) + "]");
  return ok_status();
}

}  // namespace

Status quantize_linear_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const bool has_zp = ctx.has_input(2);
  if (has_zp) KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const DType xt = x.dtype(), st = scale.dtype();
  if (!(is_float(xt) || xt == DType::kInt32)) return ctx.unsupported(std::string("x dtype ") + dtype_name(xt));
  if (!(is_float(st) || st == DType::kInt32)) return ctx.unsupported(std::string("y_scale dtype ") + dtype_name(st));

  DType out_t = DType::kUInt8;
  const int64_t output_dtype = ctx.attrs().get_int("output_dtype", 0);
  if (output_dtype != 0 && !dtype_from_int(output_dtype, &out_t))
    return ctx.error("unknown output_dtype " + std::to_string(output_dtype));
  if (has_zp) {
    const DType zt = ctx.input(2).dtype();
    if (output_dtype != 0 && zt != out_t)
      return ctx.error(std::string("output_dtype ") + dtype_name(out_t) + " differs from the zero point's dtype " +
                       dtype_name(zt));
    out_t = zt;
  }
  int64_t lo = 0, hi = 0;
  const bool int_target = int_quant_range(out_t, &lo, &hi);
  if (!int_target && !is_fp8_quant(out_t) && out_t != DType::kFloat4E2M1)
    return ctx.unsupported(std::string("quantization to ") + dtype_name(out_t) + " is not supported");

  std::vector<int64_t> idx;
  KILN_RETURN_IF_ERROR(quant_param_index(ctx, x.dims(), scale, ctx.attrs().get_int("axis", 1),
                                         ctx.attrs().get_int("block_size", 0), &idx));
  if (has_zp) KILN_RETURN_IF_ERROR(check_zero_point_shape(ctx, scale, ctx.input(2)));
  const bool saturate = ctx.attrs().get_int("saturate", 1) != 0;

  // x / scale is computed in float32 (float64 for float64/int32 operands) and rounded to the `precision`
  // dtype, or to x's dtype when x and scale share a 16-bit float dtype.
  DType precision = DType::kUndefined;
  const int64_t prec_attr = ctx.attrs().get_int("precision", 0);
  if (prec_attr != 0 && !dtype_from_int(prec_attr, &precision))
    return ctx.error("unknown precision dtype " + std::to_string(prec_attr));
  if (precision == DType::kUndefined && xt == st && (xt == DType::kFloat16 || xt == DType::kBFloat16)) precision = xt;
  const bool wide = precision == DType::kFloat64 ||
                    (precision == DType::kUndefined &&
                     (xt == DType::kFloat64 || st == DType::kFloat64 || xt == DType::kInt32 || st == DType::kInt32));

  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, out_t, x.dims()));
  for (int64_t k = 0; k < x.numel(); ++k) {
    const double s = scale.as_double(idx[k]);
    double v = wide ? x.as_double(k) / s
                    : static_cast<double>(
                          round_to_precision(precision, static_cast<float>(x.as_double(k)) / static_cast<float>(s)));
    const double zp = has_zp ? ctx.input(2).as_double(idx[k]) : 0.0;
    if (int_target) {
      store_int(out, k, round_clamp(v, zp, lo, hi));
    } else if (out_t == DType::kFloat4E2M1) {
      out.data<uint8_t>()[k] = float_to_fp4e2m1(static_cast<float>(v + zp), true);
    } else {
      out.data<uint8_t>()[k] = float_to_fp8(out_t, static_cast<float>(v), saturate);
    }
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status dequantize_linear_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const bool has_zp = ctx.has_input(2);
  if (has_zp) KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const DType xt = x.dtype();
  int64_t lo = 0, hi = 0;
  const bool fp8 = is_fp8_quant(xt);
  if (!int_quant_range(xt, &lo, &hi) && xt != DType::kInt32 && !fp8 && xt != DType::kFloat4E2M1)
    return ctx.unsupported(std::string("dequantization of ") + dtype_name(xt) + " is not supported");
  if (!is_float(scale.dtype()))
    return ctx.error(std::string("x_scale must be a float tensor, got ") + dtype_name(scale.dtype()));
  DType out_t = scale.dtype();
  const int64_t output_dtype = ctx.attrs().get_int("output_dtype", 0);
  if (output_dtype != 0 && (!dtype_from_int(output_dtype, &out_t) || !is_float(out_t)))
    return ctx.error("output_dtype " + std::to_string(output_dtype) + " is not a float dtype");

  std::vector<int64_t> idx;
  KILN_RETURN_IF_ERROR(quant_param_index(ctx, x.dims(), scale, ctx.attrs().get_int("axis", 1),
                                         ctx.attrs().get_int("block_size", 0), &idx));
  if (has_zp) {
    const Tensor& zp = ctx.input(2);
    KILN_RETURN_IF_ERROR(check_zero_point_shape(ctx, scale, zp));
    if (zp.dtype() != xt)
      return ctx.error(std::string("zero point dtype ") + dtype_name(zp.dtype()) + " must match x dtype " +
                       dtype_name(xt));
    if (fp8) {
      for (int64_t i = 0; i < zp.numel(); ++i)
        if (zp.as_double(i) != 0.0) return ctx.error("zero point must be 0 for float8 inputs");
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, allocate_output(ctx, DType::kFloat32, x.dims()));
  float* py = y.data<float>();
  for (int64_t k = 0; k < x.numel(); ++k) {
    const double xv = static_cast<float>(x.as_double(k));
    const double zp = has_zp ? ctx.input(2).as_double(idx[k]) : 0.0;
    py[k] = static_cast<float>((xv - zp) * scale.as_double(idx[k]));
  }
  ctx.set_output(0, from_float32(y, out_t));
  return ok_status();
}

Status dynamic_quantize_linear_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype())) return ctx.error(std::string("x must be a float tensor, got ") + dtype_name(x.dtype()));
  const Tensor xf = to_float32(x);
  const float* px = xf.data<float>();
  // The range always includes 0 so that 0 is exactly representable; NaNs are skipped.
  float maxx = 0.f, minx = 0.f;
  for (int64_t k = 0; k < xf.numel(); ++k) {
    if (std::isnan(px[k])) continue;
    maxx = std::max(maxx, px[k]);
    minx = std::min(minx, px[k]);
  }
  const float scale = (maxx == minx ? 1.0f : (maxx - minx)) / 255.0f;
  float zp_f = 0.0f - minx / scale;
  zp_f = std::max(0.0f, std::min(255.0f, zp_f));
  const double zp = std::isnan(zp_f) ? 0.0 : std::nearbyint(zp_f);
  KILN_ASSIGN_OR_RETURN(Tensor y, allocate_output(ctx, DType::kUInt8, x.dims()));
  for (int64_t k = 0; k < xf.numel(); ++k)
    y.data<uint8_t>()[k] = static_cast<uint8_t>(round_clamp(px[k] / scale, zp, 0, 255));
  ctx.set_output(0, std::move(y));
  ctx.set_output(1, from_float32(Tensor::scalar<float>(DType::kFloat32, scale), x.dtype()));
  ctx.set_output(2, Tensor::scalar<uint8_t>(DType::kUInt8, static_cast<uint8_t>(zp)));
  return ok_status();
}

}  // namespace kiln
