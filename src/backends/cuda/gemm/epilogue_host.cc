// Host side of the shared epilogue: dtype/activation mapping and residual broadcast strides.
#include "backends/cuda/gemm/epilogue_host.h"

#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {

std::optional<ElemType> elem_type_of(DType t) {
  switch (t) {
    case DType::kFloat32:
      return ElemType::kF32;
    case DType::kFloat16:
      return ElemType::kF16;
    case DType::kBFloat16:
      return ElemType::kBF16;
    default:
      return std::nullopt;
  }
}

size_t elem_size(ElemType t) { return t == ElemType::kF32 ? 4 : 2; }

EpAct ep_act_of(fused::ActKind k) {
  switch (k) {
    case fused::ActKind::kNone:
      return EpAct::kNone;
    case fused::ActKind::kRelu:
      return EpAct::kRelu;
    case fused::ActKind::kLeakyRelu:
      return EpAct::kLeakyRelu;
    case fused::ActKind::kSigmoid:
      return EpAct::kSigmoid;
    case fused::ActKind::kTanh:
      return EpAct::kTanh;
    case fused::ActKind::kClip:
      return EpAct::kClip;
    case fused::ActKind::kSilu:
      return EpAct::kSilu;
    case fused::ActKind::kGelu:
      return EpAct::kGelu;
    case fused::ActKind::kGeluTanh:
      return EpAct::kGeluTanh;
    case fused::ActKind::kHardSigmoid:
      return EpAct::kHardSigmoid;
    case fused::ActKind::kHardSwish:
      return EpAct::kHardSwish;
  }
  return EpAct::kNone;
}

Status set_epilogue_residual(const CudaKernelContext& ctx, const void* z, const Dims& z_dims, const Dims& y_dims,
                             EpilogueParams* p) {
  p->z = z;
  if (z_dims == y_dims) {
    p->z_full = true;
    return ok_status();
  }
  if (z_dims.size() > y_dims.size() || y_dims.size() > static_cast<size_t>(kMaxEpilogueRank))
    return ctx.error("Z of shape " + dims_to_string(z_dims) + " does not broadcast to the output shape " +
                     dims_to_string(y_dims));
  const size_t r = y_dims.size(), off = r - z_dims.size();
  p->z_full = false;
  p->rank = static_cast<int>(r);
  int64_t stride = 1;
  for (size_t d = r; d-- > 0;) {
    p->dims[d] = y_dims[d];
    const int64_t zd = d >= off ? z_dims[d - off] : 1;
    if (zd != 1 && zd != y_dims[d])
      return ctx.error("Z of shape " + dims_to_string(z_dims) + " does not broadcast to the output shape " +
                       dims_to_string(y_dims));
    p->z_strides[d] = zd == 1 ? 0 : stride;
    stride *= zd;
  }
  return ok_status();
}

Status run_epilogue(const CudaKernelContext& ctx, const EpilogueParams& p) {
  return cuda_status(launch_epilogue(p, ctx.stream()), "bias_residual_activation_epilogue launch");
}

}  // namespace kiln::cuda
