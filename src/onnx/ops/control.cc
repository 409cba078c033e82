// Import normalizers for the control family (older opset forms -> canonical form).
// None are needed: If/Loop (1..24), SequenceMap, the sequence/optional, string, random and TfIdf ops only
// widened their type lists across opsets. Scan-8 (batch axis + sequence_lens input) differs in meaning, not
// just form, and is handled by the Scan kernel and its inference function by branching on node.opset < 9.
#include "onnx/ops/normalize.h"

namespace kiln {

void register_control_normalizers(NormalizeRegistry& r) { (void)r; }

}  // namespace kiln
