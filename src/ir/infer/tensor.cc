// Shape and type inference for the tensor family.
#include "ir/infer_helpers.h"

namespace kiln {

void register_tensor_infer(InferRegistry& r) { (void)r; }

}  // namespace kiln
