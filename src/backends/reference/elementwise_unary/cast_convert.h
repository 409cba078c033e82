// Element-level conversion between any two ONNX dtypes (Cast/CastLike): read an element into a
// type-neutral scalar, then write that scalar into any target dtype, strings included.
#pragma once
#include <cstdint>
#include <string>

#include "kiln/tensor.h"

namespace kiln {

// One element in a form every dtype can be read into without losing information: a floating-point value
// (floats of every width fit a double exactly), a signed integer or an unsigned integer (bool is 0/1).
struct CastScalar {
  enum class Kind { kFloat, kSigned, kUnsigned };
  Kind kind = Kind::kSigned;
  double f = 0;
  int64_t i = 0;
  uint64_t u = 0;

  static CastScalar of_float(double v) { return CastScalar{Kind::kFloat, v, 0, 0}; }
  static CastScalar of_signed(int64_t v) { return CastScalar{Kind::kSigned, 0, v, 0}; }
  static CastScalar of_unsigned(uint64_t v) { return CastScalar{Kind::kUnsigned, 0, 0, v}; }
};

struct CastOptions {
  bool saturate = true;           // float8 / e8m0 targets: clamp out-of-range values instead of inf/NaN
  std::string round_mode = "up";  // e8m0 target: "up", "down" or "nearest"
};

// True for the dtypes Cast handles (every ONNX dtype but complex and undefined).
bool cast_supports(DType t);

// Element i of a numeric (non-string) tensor.
CastScalar read_scalar(const Tensor& t, int64_t i);
// Writes `v` converted to out's dtype into element i of `out` (numeric, non-string dtypes).
void write_scalar(Tensor& out, int64_t i, const CastScalar& v, const CastOptions& opt);

// Element i of a numeric tensor as the ONNX reference (numpy) prints it: shortest round-trip digits for
// float16/32/64 ("0.47892547", "1e-07", "1000.0", "inf", "nan"), "%g" for bfloat16/float8/float4 (as
// ml_dtypes prints them), decimal for integers, "True"/"False" for bool.
std::string format_scalar(const Tensor& t, int64_t i);
// Parses a string element for a numeric target dtype; false if `s` is not a number.
// Accepts decimal and scientific notation and case-insensitive "INF", "+INF", "-INF", "NaN".
bool parse_scalar(const std::string& s, DType target, CastScalar* out);

// Converts every element of `in` into a new tensor of dtype `to` (same dims). Fails for unparsable
// strings or unsupported dtypes.
Result<Tensor> cast_tensor(const Tensor& in, DType to, const CastOptions& opt);

}  // namespace kiln
