// Registers the oneDNN-backed CPU kernels (convolution, matmul, pooling, int8 convolution and matmul,
// and LookupTable, QLinearAdd, QLinearMul and QLinearGlobalAveragePool, which read their int8 layouts).
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu {

void register_onednn_kernels(CpuKernelRegistry& r) {
  onednn::register_onednn_conv(r);
  onednn::register_onednn_deconv(r);
  onednn::register_onednn_matmul(r);
  onednn::register_onednn_pool(r);
  onednn::register_onednn_qconv(r);
  onednn::register_onednn_qmatmul(r);
  onednn::register_onednn_matmul_integer(r);
  onednn::register_onednn_lookup(r);
  onednn::register_onednn_qbinary(r);
  onednn::register_onednn_qavgpool(r);
}

}  // namespace kiln::cpu
