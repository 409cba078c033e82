// The recurrent kernel family (LSTM, GRU with default activations; the plain RNN with Tanh or Relu): supports/run pairs registered by
// register_rnn.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport lstm_supports(const Graph& g, const Node& n);
NodeSupport gru_supports(const Graph& g, const Node& n);
NodeSupport plain_rnn_supports(const Graph& g, const Node& n);
Status lstm_run(CpuKernelContext& ctx);
Status gru_run(CpuKernelContext& ctx);
Status plain_rnn_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
