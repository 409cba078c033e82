// CUDA kernels of the gemm family: one line per kernel.
#include "backends/cuda/gemm/gemm_kernels.h"

namespace kiln::cuda {

void register_gemm_kernels(CudaKernelRegistry& r) {
  r.add(OpKind::kMatMul, matmul_kernel());             // cuBLASLt, float32/float16/bfloat16
  r.add(OpKind::kGemm, gemm_kernel());                 // cuBLASLt, C via beta, bias epilogue or epilogue kernel
  r.add(OpKind::kFusedMatMul, fused_matmul_kernel());  // cuBLASLt bias/Relu/GeluTanh epilogues + epilogue kernel
}

}  // namespace kiln::cuda
