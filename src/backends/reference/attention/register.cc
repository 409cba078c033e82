// Reference kernels of the attention family: one line per kernel.
#include "backends/reference/attention/kernels.h"

namespace kiln {

void register_attention_kernels(KernelRegistry& r) {
  r.add(OpKind::kAttention, attention_kernel);
  r.add(OpKind::kRotaryEmbedding, rotary_embedding_kernel);
  r.add(OpKind::kRNN, rnn_kernel);
  r.add(OpKind::kGRU, gru_kernel);
  r.add(OpKind::kLSTM, lstm_kernel);
}

}  // namespace kiln
