// Host entry points of the CUDA elementwise family (registered in register.cc).
#pragma once
#include <vector>

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

bool supports_unary(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_unary(CudaKernelContext& ctx);  // float math, activations, Clip; Abs/Neg/Sign/Relu/Clip on ints
bool supports_not(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_not(CudaKernelContext& ctx);
bool supports_classify(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_classify(CudaKernelContext& ctx);  // IsNaN, IsInf

bool supports_binary(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_binary(CudaKernelContext& ctx);  // two-input ops and the variadic Sum/Mean/Max/Min
bool supports_where(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_where(CudaKernelContext& ctx);

bool supports_cast(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_cast(CudaKernelContext& ctx);  // Cast, CastLike

bool supports_fused_elementwise(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_fused_elementwise(CudaKernelContext& ctx);

}  // namespace kiln::cuda
