// Shape and type inference for the nn family.
#include "ir/infer_helpers.h"

namespace kiln {

void register_nn_infer(InferRegistry& r) { (void)r; }

}  // namespace kiln
