// Shape and type inference for the attention family.
#include "ir/infer_helpers.h"

namespace kiln {

void register_attention_infer(InferRegistry& r) { (void)r; }

}  // namespace kiln
