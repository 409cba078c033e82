// Import normalizers for the nn family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_nn_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
