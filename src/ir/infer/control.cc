// Shape and type inference for the control family.
#include "ir/infer_helpers.h"

namespace kiln {

void register_control_infer(InferRegistry& r) { (void)r; }

}  // namespace kiln
