// Registers the hand-written normalization and reduction CPU kernels (LRN included).
#include "backends/cpu/kernels/norm.h"
#include "backends/cpu/kernels/region_ops.h"
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_norm_kernels(CpuKernelRegistry& r) {
  using namespace kern;
  r.add(OpKind::kSoftmax, {"softmax", softmax_supports, softmax_run});
  r.add(OpKind::kLRN, {"lrn", lrn_supports, lrn_run});
  r.add(OpKind::kLogSoftmax, {"log_softmax", softmax_supports, log_softmax_run});
  r.add(OpKind::kLayerNormalization, {"layer_norm", layer_norm_supports, layer_norm_run});
  r.add(OpKind::kRMSNormalization, {"rms_norm", layer_norm_supports, rms_norm_run});
  r.add(OpKind::kFusedAddLayerNorm, {"add_layer_norm", add_layer_norm_supports, add_layer_norm_run});
  r.add(OpKind::kGroupNormalization, {"group_norm", group_norm_supports, group_norm_run});
  r.add(OpKind::kInstanceNormalization, {"instance_norm", group_norm_supports, instance_norm_run});
  r.add(OpKind::kBatchNormalization, {"batch_norm", batch_norm_supports, batch_norm_run, /*takes_handoffs=*/true});
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax, OpKind::kReduceMin,
                    OpKind::kReduceL2, OpKind::kReduceSumSquare})
    r.add(op, {"reduce", reduce_supports, reduce_run});
  for (OpKind op : {OpKind::kArgMax, OpKind::kArgMin}) r.add(op, {"arg_reduce", arg_reduce_supports, arg_reduce_run});
}

}  // namespace kiln::cpu
