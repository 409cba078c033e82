// Import normalizers for the attention family (older opset forms -> canonical form). Most of the family kept
// its form across opsets: Attention 23/24 differ only by the optional nonpad_kv_seqlen input, the tree
// ensembles' *_as_tensor attributes and LabelEncoder's opset-1 classes_strings are read by the kernels.
#include "onnx/ops/normalize.h"

namespace kiln {
namespace {

// RNN/GRU/LSTM opset 1 had an "output_sequence" flag that only said whether Y is requested (it is optional
// either way since opset 7): drop it.
Status norm_recurrent(NormalizeContext& ctx) {
  ctx.node.attrs.erase("output_sequence");
  return ok_status();
}

}  // namespace

void register_attention_normalizers(NormalizeRegistry& r) {
  for (OpKind op : {OpKind::kRNN, OpKind::kGRU, OpKind::kLSTM}) r.add(op, norm_recurrent);
}

}  // namespace kiln
