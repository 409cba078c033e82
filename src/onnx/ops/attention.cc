// Import normalizers for the attention family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

void register_attention_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
