// Import normalizers for the math family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_math_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
