// Output comparison with per-dtype tolerances (documented in docs/conformance.md).
#pragma once
#include <string>

#include "kiln/value.h"

namespace kiln::cli {

struct Tolerance {
  double rtol, atol;
};
// float32/float64: rtol 1e-3, atol 1e-5; float16: 1e-2/1e-3; bfloat16: 2e-2/1e-2;
// float8/float4: exact on decoded values; integers, bool, strings: exact. NaN equals NaN.
Tolerance tolerance_for(DType t);

// Empty string when `got` matches `expected`; otherwise a one-line reason.
std::string compare_values(const Value& expected, const Value& got, bool shape_and_type_only = false);

}  // namespace kiln::cli
