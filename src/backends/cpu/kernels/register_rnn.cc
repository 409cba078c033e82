// Registers the hand-written recurrent CPU kernels (LSTM, GRU, the plain RNN).
#include "backends/cpu/kernels/register.h"
#include "backends/cpu/kernels/rnn.h"

namespace kiln::cpu {

void register_cpu_rnn_kernels(CpuKernelRegistry& r) {
  r.add(OpKind::kLSTM, {"lstm", kern::lstm_supports, kern::lstm_run});
  r.add(OpKind::kGRU, {"gru", kern::gru_supports, kern::gru_run});
  r.add(OpKind::kRNN, {"rnn", kern::plain_rnn_supports, kern::plain_rnn_run});
}

}  // namespace kiln::cpu
