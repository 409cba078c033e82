// Import normalizers for the elementwise_binary family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_elementwise_binary_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
