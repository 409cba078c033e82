// Import normalizers for the control family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_control_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
