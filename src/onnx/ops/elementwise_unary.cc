// Import normalizers for the elementwise_unary family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_elementwise_unary_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
