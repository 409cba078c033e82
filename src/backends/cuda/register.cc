// The CUDA backend's kernel list: each family file registers one line per kernel.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void register_elementwise_kernels(CudaKernelRegistry& r);  // elementwise/: unary, binary, Cast, Where, FusedElementwise
void register_data_kernels(CudaKernelRegistry& r);         // data/: Transpose, Concat, Slice, Gather, Reshape, ...
void register_gemm_kernels(CudaKernelRegistry& r);         // gemm/: MatMul, Gemm, FusedMatMul (cuBLASLt)
void register_conv_kernels(CudaKernelRegistry& r);         // conv/: Conv, FusedConv, pooling, BatchNorm (cuDNN)
void register_norm_kernels(CudaKernelRegistry& r);         // norm/: Softmax, LayerNorm, RMSNorm, reductions, Attention
void register_quant_kernels(CudaKernelRegistry& r);        // quant/: Q/DQ, LookupTable, QLinearMatMul, QLinearConv

const CudaKernelRegistry& cuda_kernels() {
  static const CudaKernelRegistry* reg = [] {
    auto* r = new CudaKernelRegistry();
    register_elementwise_kernels(*r);
    register_data_kernels(*r);
    register_gemm_kernels(*r);
    register_conv_kernels(*r);
    register_norm_kernels(*r);
    register_quant_kernels(*r);
    return r;
  }();
  return *reg;
}

}  // namespace kiln::cuda
