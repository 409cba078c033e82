// Shape and type inference for the math family.
#include "ir/infer_helpers.h"

namespace kiln {

void register_math_infer(InferRegistry& r) { (void)r; }

}  // namespace kiln
