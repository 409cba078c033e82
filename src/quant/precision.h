// Precision lowering: rewrites a typed graph so allow-listed float32 math runs in float16 or bfloat16.
#pragma once
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln {

struct PrecisionOptions {
  DType target = DType::kFloat16;  // kFloat16 | kBFloat16; anything else is kInvalidArgument
  // A lowered FusedMatMul's erf GELU becomes the tanh form (max abs difference 4.7e-4, under float16's rounding
  // of GELU's outputs above 1), which GEMM libraries fuse into their epilogue. false keeps erf GELU.
  bool approximate_gelu = true;
};

// Counts for `kiln inspect`.
struct PrecisionReport {
  int lowered_nodes = 0;      // nodes whose float T inputs/outputs now carry `target`
  int fp32_nodes = 0;         // nodes with float32 inputs or outputs left in float32 (not allow-listed, or guarded)
  int casts_inserted = 0;     // Cast nodes added (to target, back to float32, and at graph outputs)
  int converted_weights = 0;  // initializers converted in place or copied in `target`
  int approximated_gelu = 0;  // lowered FusedMatMul nodes whose erf GELU became the tanh form
  // float16 overflow guard: nodes kept in float32 because one of their float initializers holds |v| > 65504.
  std::vector<std::string> overflow_guarded_nodes;
};

// Rewrites g so that float32 math on allow-listed ops (src/quant/precision_ops.cc) runs in `target`.
// Contract:
//  - g.value_types must be inferred before the call; they are re-inferred and valid afterwards, and the
//    graph verifies (verify_graph).
//  - graph inputs and outputs keep their names and dtypes: Casts are inserted at the boundaries.
//  - only the float32 "T" inputs of an allow-listed node change type; its other inputs (Resize scales, Pow
//    exponent, Slice starts, bool masks, ...) and LayerNormalization's Mean/InvStdDev outputs stay as they were.
//  - If/Loop/Scan and their bodies are left untouched (kept float32).
// Errors name the node (node.describe()); on error g may be partially rewritten, so callers should discard it.
Result<PrecisionReport> lower_precision(Graph& g, const PrecisionOptions& options);

}  // namespace kiln
