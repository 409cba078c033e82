// Build-time input retyping (`kiln build --input-dtype NAME:TYPE`, a server config's input data_type): the engine
// takes an input in a narrower type than the model declares, so clients send fewer bytes.
#pragma once
#include <map>
#include <string>

#include "ir/graph.h"
#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln {

// Retypes the graph inputs named in `want`. Contract:
// - only float32/float16/bfloat16/float64 inputs may be retyped, to float32, float16, bfloat16 or uint8 (uint8 values
//   are the integers 0..255, converted as they are: no scaling);
// - the input keeps its name and takes the new dtype; a Cast to the model's dtype feeds its former readers, so the
//   model computes what it did for every value the new type can carry;
// - a reader Cast that the widening makes redundant (the fp32 -> fp16 Cast precision lowering put after a float32
//   input) is folded away: Cast(Cast(x, wide), t) == Cast(x, t) when every value of x's type is exact in `wide`;
// - errors name the input: unknown input, non-float input, unsupported target, an input read inside a subgraph or
//   passed straight to a graph output.
// Types are re-inferred afterwards.
Status retype_inputs(Graph& g, const std::map<std::string, DType>& want);

// Parses "name:fp16" (dtype names as dtype_from_name, plus "uint8") into `out`; invalid_argument naming the text.
Status parse_input_dtype(const std::string& text, std::map<std::string, DType>* out);

}  // namespace kiln
