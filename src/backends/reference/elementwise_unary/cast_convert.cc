// The generic element conversion table behind Cast/CastLike: any dtype -> CastScalar -> any dtype.
#include "backends/reference/elementwise_unary/cast_convert.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/float_formats.h"

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

// Rounds d to float with "round to odd": truncate toward zero, and set the last mantissa bit when
// anything was cut off. A later round-to-nearest-even into any format of at most 22 mantissa bits then
// gives the same result as rounding d directly (no double-rounding error). Finite stays finite.
float round_to_odd_float(double d) {
  float f = static_cast<float>(d);
  if (std::isnan(d) || std::isinf(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return float_of(bits_of(f) | 1u);
}

// |magnitude| as a double rounded to odd (exact below 2^53), so a later narrowing rounds correctly.
double round_to_odd_double(uint64_t magnitude) {
  int width = std::bit_width(magnitude);
  if (width <= 53) return static_cast<double>(magnitude);
  int shift = width - 53;
  uint64_t kept = magnitude >> shift;
  if (magnitude & ((uint64_t{1} << shift) - 1)) kept |= 1;
  return std::ldexp(static_cast<double>(kept), shift);
}

// The scalar as a float rounded to odd: the input of every narrow-float encoder.
float narrow_input(const CastScalar& v) {
  switch (v.kind) {
    case CastScalar::Kind::kFloat:
      return round_to_odd_float(v.f);
    case CastScalar::Kind::kUnsigned:
      return round_to_odd_float(round_to_odd_double(v.u));
    case CastScalar::Kind::kSigned: {
      uint64_t mag = v.i < 0 ? uint64_t{0} - static_cast<uint64_t>(v.i) : static_cast<uint64_t>(v.i);
      float f = round_to_odd_float(round_to_odd_double(mag));
      return v.i < 0 ? -f : f;
    }
  }
  return 0;
}

// The scalar as a 64-bit two's-complement pattern, for integer targets (which keep its low bits).
// Float -> integer is undefined by ONNX when out of range; like numpy on x86 this truncates toward zero,
// wraps values within the int64/uint64 range, maps NaN to 0 and anything beyond to INT64_MIN's pattern.
uint64_t integer_bits(const CastScalar& v) {
  switch (v.kind) {
    case CastScalar::Kind::kSigned:
      return static_cast<uint64_t>(v.i);
    case CastScalar::Kind::kUnsigned:
      return v.u;
    case CastScalar::Kind::kFloat: {
      if (std::isnan(v.f)) return 0;
      double t = std::trunc(v.f);
      constexpr double kTwo63 = 9223372036854775808.0;
      if (t >= -kTwo63 && t < kTwo63) return static_cast<uint64_t>(static_cast<int64_t>(t));
      if (t >= kTwo63 && t < 2 * kTwo63) return static_cast<uint64_t>(t);
      return uint64_t{1} << 63;
    }
  }
  return 0;
}

bool is_nonzero(const CastScalar& v) {
  switch (v.kind) {
    case CastScalar::Kind::kFloat:
      return v.f != 0;  // NaN is true, as in numpy
    case CastScalar::Kind::kSigned:
      return v.i != 0;
    case CastScalar::Kind::kUnsigned:
      return v.u != 0;
  }
  return false;
}

// Sign-extends the low `width` bits of `bits`.
int64_t sign_extend(uint64_t bits, int width) {
  uint64_t mask = (uint64_t{1} << width) - 1;
  uint64_t low = bits & mask;
  if (low & (uint64_t{1} << (width - 1))) low |= ~mask;
  return static_cast<int64_t>(low);
}

}  // namespace

bool cast_supports(DType t) { return t != DType::kUndefined && t != DType::kComplex64 && t != DType::kComplex128; }

CastScalar read_scalar(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32:
      return CastScalar::of_float(t.data<float>()[i]);
    case DType::kFloat64:
      return CastScalar::of_float(t.data<double>()[i]);
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ:
    case DType::kFloat8E8M0:
    case DType::kFloat4E2M1:
      return CastScalar::of_float(t.as_double(i));
    case DType::kInt8:
    case DType::kInt4:
    case DType::kInt2:
      return CastScalar::of_signed(t.data<int8_t>()[i]);
    case DType::kInt16:
      return CastScalar::of_signed(t.data<int16_t>()[i]);
    case DType::kInt32:
      return CastScalar::of_signed(t.data<int32_t>()[i]);
    case DType::kInt64:
      return CastScalar::of_signed(t.data<int64_t>()[i]);
    case DType::kUInt8:
    case DType::kUInt4:
    case DType::kUInt2:
      return CastScalar::of_unsigned(t.data<uint8_t>()[i]);
    case DType::kBool:
      return CastScalar::of_unsigned(t.data<uint8_t>()[i] != 0 ? 1 : 0);
    case DType::kUInt16:
      return CastScalar::of_unsigned(t.data<uint16_t>()[i]);
    case DType::kUInt32:
      return CastScalar::of_unsigned(t.data<uint32_t>()[i]);
    case DType::kUInt64:
      return CastScalar::of_unsigned(t.data<uint64_t>()[i]);
    default:
      return CastScalar::of_signed(0);
  }
}

void write_scalar(Tensor& out, int64_t i, const CastScalar& v, const CastOptions& opt) {
  const bool sat = opt.saturate;
  switch (out.dtype()) {
    case DType::kFloat32:
      if (v.kind == CastScalar::Kind::kFloat)
        out.data<float>()[i] = static_cast<float>(v.f);
      else if (v.kind == CastScalar::Kind::kSigned)
        out.data<float>()[i] = static_cast<float>(v.i);
      else
        out.data<float>()[i] = static_cast<float>(v.u);
      return;
    case DType::kFloat64:
      if (v.kind == CastScalar::Kind::kFloat)
        out.data<double>()[i] = v.f;
      else if (v.kind == CastScalar::Kind::kSigned)
        out.data<double>()[i] = static_cast<double>(v.i);
      else
        out.data<double>()[i] = static_cast<double>(v.u);
      return;
    case DType::kFloat16:
      out.data<uint16_t>()[i] = float_to_half(narrow_input(v));
      return;
    case DType::kBFloat16:
      out.data<uint16_t>()[i] = float_to_bf16(narrow_input(v));
      return;
    case DType::kFloat8E4M3FN:
      out.data<uint8_t>()[i] = float_to_fp8e4m3fn(narrow_input(v), sat);
      return;
    case DType::kFloat8E4M3FNUZ:
      out.data<uint8_t>()[i] = float_to_fp8e4m3fnuz(narrow_input(v), sat);
      return;
    case DType::kFloat8E5M2:
      out.data<uint8_t>()[i] = float_to_fp8e5m2(narrow_input(v), sat);
      return;
    case DType::kFloat8E5M2FNUZ:
      out.data<uint8_t>()[i] = float_to_fp8e5m2fnuz(narrow_input(v), sat);
      return;
    case DType::kFloat8E8M0:
      out.data<uint8_t>()[i] = float_to_fp8e8m0(narrow_input(v), sat, opt.round_mode.c_str());
      return;
    case DType::kFloat4E2M1:
      out.data<uint8_t>()[i] = float_to_fp4e2m1(narrow_input(v), sat);
      return;
    case DType::kBool:
      out.data<uint8_t>()[i] = is_nonzero(v) ? 1 : 0;
      return;
    case DType::kInt8:
      out.data<int8_t>()[i] = static_cast<int8_t>(sign_extend(integer_bits(v), 8));
      return;
    case DType::kInt16:
      out.data<int16_t>()[i] = static_cast<int16_t>(sign_extend(integer_bits(v), 16));
      return;
    case DType::kInt32:
      out.data<int32_t>()[i] = static_cast<int32_t>(sign_extend(integer_bits(v), 32));
      return;
    case DType::kInt64:
      out.data<int64_t>()[i] = static_cast<int64_t>(integer_bits(v));
      return;
    case DType::kInt4:
      out.data<int8_t>()[i] = static_cast<int8_t>(sign_extend(integer_bits(v), 4));
      return;
    case DType::kInt2:
      out.data<int8_t>()[i] = static_cast<int8_t>(sign_extend(integer_bits(v), 2));
      return;
    case DType::kUInt8:
      out.data<uint8_t>()[i] = static_cast<uint8_t>(integer_bits(v));
      return;
    case DType::kUInt16:
      out.data<uint16_t>()[i] = static_cast<uint16_t>(integer_bits(v));
      return;
    case DType::kUInt32:
      out.data<uint32_t>()[i] = static_cast<uint32_t>(integer_bits(v));
      return;
    case DType::kUInt64:
      out.data<uint64_t>()[i] = integer_bits(v);
      return;
    case DType::kUInt4:
      out.data<uint8_t>()[i] = static_cast<uint8_t>(integer_bits(v) & 0xfu);
      return;
    case DType::kUInt2:
      out.data<uint8_t>()[i] = static_cast<uint8_t>(integer_bits(v) & 0x3u);
      return;
    default:
      return;
  }
}

Result<Tensor> cast_tensor(const Tensor& in, DType to, const CastOptions& opt) {
  if (!cast_supports(in.dtype())) return unimplemented(std::string("Cast from ") + dtype_name(in.dtype()));
  if (!cast_supports(to)) return unimplemented(std::string("Cast to ") + dtype_name(to));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(to, in.dims()));
  const int64_t n = in.numel();
  if (in.dtype() == DType::kString && to == DType::kString) {
    for (int64_t i = 0; i < n; ++i) out.strings()[i] = in.strings()[i];
    return out;
  }
  if (to == DType::kString) {
    for (int64_t i = 0; i < n; ++i) out.strings()[i] = format_scalar(in, i);
    return out;
  }
  if (in.dtype() == DType::kString) {
    for (int64_t i = 0; i < n; ++i) {
      CastScalar v;
      if (!parse_scalar(in.strings()[i], to, &v))
        return invalid_argument("element " + std::to_string(i) + " ('" + in.strings()[i] + "') is not a number");
      write_scalar(out, i, v, opt);
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) write_scalar(out, i, read_scalar(in, i), opt);
  return out;
}

}  // namespace kiln
