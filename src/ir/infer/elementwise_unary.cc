// Shape and type inference for the elementwise_unary family.
#include "ir/infer_helpers.h"

namespace kiln {

void register_elementwise_unary_infer(InferRegistry& r) { (void)r; }

}  // namespace kiln
