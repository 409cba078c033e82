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

// What an engine's compute precision adds to the per-dtype tolerances (docs/conformance.md, "Budgets per precision"):
// fp16 / bf16 (and tf32) engines compute float32 outputs in a narrower type, so their float32/float64 outputs are
// judged element-wise with |got - expected| <= rtol * |expected| + atol_of_max * max|expected| (the second term is
// the rounding of the operands a sum cancelled, which scales with the tensor, not the element); int8 engines may
// round a quantized (8-bit integer) output one step differently.
struct Budget {
  double rtol = 0, atol_of_max = 0;  // both 0: the dtype's own tolerance (tolerance_for) alone
  int64_t int8_steps = 0;            // allowed |got - expected| of int8/uint8 outputs
};
// The budget of an engine built with --precision `precision` (fp32, tf32, fp16, bf16, int8, best); an unknown
// precision gets fp32's (none).
Budget budget_for_precision(const std::string& precision);

// Empty string when `got` matches `expected` within the dtype's tolerance and `budget`; otherwise a one-line reason.
std::string compare_values(const Value& expected, const Value& got, bool shape_and_type_only = false,
                           const Budget& budget = {});

}  // namespace kiln::cli
