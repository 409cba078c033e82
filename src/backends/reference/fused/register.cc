// Reference kernels of Kiln's fused ops: one line per kernel.
#include "backends/reference/fused/kernels.h"

namespace kiln {

void register_fused_kernels(KernelRegistry& r) {
  r.add(OpKind::kFusedConv, fused_ref::fused_conv);
  r.add(OpKind::kFusedMatMul, fused_ref::fused_matmul);
  r.add(OpKind::kFusedElementwise, fused_ref::fused_elementwise);
  r.add(OpKind::kFusedAddLayerNorm, fused_ref::fused_add_layer_norm);
  r.add(OpKind::kLookupTable, fused_ref::lookup_table);
}

}  // namespace kiln
