// Host helpers around the shared epilogue: dtype and activation mapping, Z broadcast setup.
#pragma once
#include <optional>

#include "backends/cuda/gemm/epilogue.h"
#include "backends/cuda/kernel.h"
#include "ir/infer/fused_ops.h"

namespace kiln::cuda {

// ElemType of a float32/float16/bfloat16 dtype; nullopt for anything else.
std::optional<ElemType> elem_type_of(DType t);
size_t elem_size(ElemType t);
EpAct ep_act_of(fused::ActKind k);
// Fills p.z / p.z_full / dims / z_strides for Z of dims `z_dims` broadcast (numpy rules) to `y_dims`.
// Errors (naming the node) when Z does not broadcast to Y or Y's rank exceeds kMaxEpilogueRank.
Status set_epilogue_residual(const CudaKernelContext& ctx, const void* z, const Dims& z_dims, const Dims& y_dims,
                             EpilogueParams* p);
// Launches the epilogue, turning launch errors into a Status.
Status run_epilogue(const CudaKernelContext& ctx, const EpilogueParams& p);

}  // namespace kiln::cuda
