// The oneDNN kernel families' registration functions (called from onednn/register.cc).
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::onednn {

void register_onednn_conv(CpuKernelRegistry& r);    // conv.cc: Conv, FusedConv
void register_onednn_deconv(CpuKernelRegistry& r);  // deconv.cc: ConvTranspose
void register_onednn_matmul(CpuKernelRegistry& r);  // matmul.cc: MatMul, Gemm, FusedMatMul
void register_onednn_pool(CpuKernelRegistry& r);    // pool.cc: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void register_onednn_qconv(CpuKernelRegistry& r);    // qconv.cc: QLinearConv (int8)
void register_onednn_lookup(CpuKernelRegistry& r);   // lookup.cc: LookupTable in oneDNN layouts
void register_onednn_qbinary(CpuKernelRegistry& r);  // qbinary.cc: QLinearAdd, QLinearMul in NHWC or plain
void register_onednn_qavgpool(CpuKernelRegistry& r);  // qavgpool.cc: QLinearGlobalAveragePool, NHWC or plain
void register_onednn_qmatmul(CpuKernelRegistry& r);  // qmatmul.cc: QLinearMatMul (int8)
void register_onednn_matmul_integer(CpuKernelRegistry& r);  // matmul_integer.cc: MatMulInteger

}  // namespace kiln::cpu::onednn
