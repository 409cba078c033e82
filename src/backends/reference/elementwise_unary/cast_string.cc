// String <-> number conversion for Cast: numpy-style shortest float text (what the ONNX reference
// produces) and tolerant number parsing.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backends/reference/elementwise_unary/cast_convert.h"

namespace kiln {

namespace {

// Shortest scientific text ("4.7892547e-01") that reads back as exactly `value` in dtype `t`
// (float64, float32 or float16).
std::string shortest_scientific(double value, DType t) {
  char buf[64];
  if (t == DType::kFloat64) {
    auto r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
    return std::string(buf, r.ptr);
  }
  if (t == DType::kFloat32) {
    auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(value), std::chars_format::scientific);
    return std::string(buf, r.ptr);
  }
  // Narrow formats: the fewest significant digits whose value rounds back to the same element.
  Tensor probe(t, {1});
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*e", digits - 1, value);
    write_scalar(probe, 0, CastScalar::of_float(std::strtod(buf, nullptr)), CastOptions{false, "nearest"});
    if (probe.as_double(0) == value) return buf;
  }
  std::snprintf(buf, sizeof(buf), "%.16e", value);
  return buf;
}

// Lays out shortest digits like numpy's str() of a float scalar: positional for 1e-4 <= |x| < 10^k
// ("0.001", "100.0"), otherwise scientific with a two-digit exponent minimum ("1e-07", "1.5e+16"), where
// k is 16 for float64, 6 for float32 and 3 for float16 (numpy 2 thresholds).
std::string numpy_float_text(double value, DType t) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  const double positional_limit = t == DType::kFloat64 ? 1e16 : (t == DType::kFloat32 ? 1e6 : 1e3);
  const bool positional = std::fabs(value) >= 1e-4 && std::fabs(value) < positional_limit;
  std::string sci = shortest_scientific(value, t);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  int exp10 = std::atoi(sci.c_str() + e_pos + 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();

  if (!positional) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + exp_buf;
  }
  if (exp10 < 0) return sign + "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  size_t int_len = static_cast<size_t>(exp10) + 1;
  if (digits.size() <= int_len) return sign + digits + std::string(int_len - digits.size(), '0') + ".0";
  return sign + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

bool equals_ignore_case(const std::string& a, const char* b) {
  size_t n = std::char_traits<char>::length(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Whole-string parses; false on trailing garbage, empty input or out-of-range integers.
bool parse_int64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_uint64(const std::string& s, uint64_t* out) {
  if (s.empty() || s[0] == '-') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);  // handles inf/+inf/-inf/infinity/nan case-insensitively
  if (end == s.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace

// bfloat16, float8 and float4 print like their Python (ml_dtypes) scalars: "%g" ("0.478516", "-0", "1e+09").
std::string printf_g_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", value);
  return buf;
}

std::string format_scalar(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::kBool) return t.data<uint8_t>()[i] ? "True" : "False";
  CastScalar v = read_scalar(t, i);
  switch (v.kind) {
    case CastScalar::Kind::kFloat:
      if (t.dtype() == DType::kFloat64 || t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat16)
        return numpy_float_text(v.f, t.dtype());
      return printf_g_text(v.f);
    case CastScalar::Kind::kSigned:
      return std::to_string(v.i);
    case CastScalar::Kind::kUnsigned:
      return std::to_string(v.u);
  }
  return "";
}

bool parse_scalar(const std::string& raw, DType target, CastScalar* out) {
  const std::string s = trimmed(raw);
  // "True"/"False" (how bool elements are formatted) read as 1/0 for every target.
  if (equals_ignore_case(s, "true")) return *out = CastScalar::of_unsigned(1), true;
  if (equals_ignore_case(s, "false")) return *out = CastScalar::of_unsigned(0), true;
  if (is_integer(target) || target == DType::kBool) {
    // Integers parse exactly; "100.5" falls back to the float path and truncates (ONNX: may yield 100).
    int64_t iv;
    if (parse_int64(s, &iv)) return *out = CastScalar::of_signed(iv), true;
    uint64_t uv;
    if (parse_uint64(s, &uv)) return *out = CastScalar::of_unsigned(uv), true;
  }
  if (target == DType::kFloat32) {
    // Parse straight to float so the decimal is rounded once.
    if (s.empty()) return false;
    char* end = nullptr;
    float f = std::strtof(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0') return false;
    *out = CastScalar::of_float(f);
    return true;
  }
  double d;
  if (!parse_double(s, &d)) return false;
  *out = CastScalar::of_float(d);
  return true;
}

}  // namespace kiln
