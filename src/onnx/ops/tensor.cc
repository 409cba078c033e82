// Import normalizers for the tensor family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_tensor_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
