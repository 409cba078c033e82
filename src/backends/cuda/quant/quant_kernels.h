// The quant family's kernels (8-bit quantized ops on CUDA), for register.cc.
#pragma once
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

CudaKernel quantize_linear_kernel();    // qdq.cc
CudaKernel dequantize_linear_kernel();  // qdq.cc
CudaKernel lookup_table_kernel();       // lookup.cc
CudaKernel qlinear_matmul_kernel();     // qlinear_matmul.cc
CudaKernel qlinear_conv_kernel();       // qlinear_conv.cc
CudaKernel qlinear_binary_kernel();     // qbinary.cc: QLinearAdd, QLinearMul
CudaKernel qlinear_global_average_pool_kernel();  // qbinary.cc

}  // namespace kiln::cuda
