// CUDA kernels of the quant family (int8/uint8 values): one line per kernel (docs/int8.md, "INT8 on CUDA").
#include "backends/cuda/quant/quant_kernels.h"

namespace kiln::cuda {

void register_quant_kernels(CudaKernelRegistry& r) {
  r.add(OpKind::kQuantizeLinear, quantize_linear_kernel());      // per tensor / per axis, to int8/uint8
  r.add(OpKind::kDequantizeLinear, dequantize_linear_kernel());  // per tensor / per axis, from int8/uint8/int32
  r.add(OpKind::kLookupTable, lookup_table_kernel());            // y = table[x], 256 entries (fold_qdq_lookup)
  r.add(OpKind::kQLinearMatMul, qlinear_matmul_kernel());        // cuBLASLt int8 x int8 -> int32, requantize
  r.add(OpKind::kQLinearConv, qlinear_conv_kernel());            // im2col + cuBLASLt int8 GEMM; direct for groups
  r.add(OpKind::kQLinearAdd, qlinear_binary_kernel());           // broadcast, float32 steps of the unfused ops
  r.add(OpKind::kQLinearMul, qlinear_binary_kernel());
  r.add(OpKind::kQLinearGlobalAveragePool, qlinear_global_average_pool_kernel());  // NCHW, exact integer sums
}

}  // namespace kiln::cuda
