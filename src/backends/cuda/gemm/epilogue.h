// Device epilogue shared by the gemm and conv families: y = act(y + bias + Z), in place, in float32 math.
// Plain C++17 so that both .cc host files and .cu device files can include it.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda {

// Element type of float tensors the gemm/conv device code handles.
enum class ElemType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// Mirrors fused::ActKind (docs/fused-ops.md); the host maps one onto the other.
enum class EpAct : int {
  kNone,
  kRelu,
  kLeakyRelu,
  kSigmoid,
  kTanh,
  kClip,
  kSilu,
  kGelu,
  kGeluTanh,
  kHardSigmoid,
  kHardSwish
};

constexpr int kMaxEpilogueRank = 8;

struct EpilogueParams {
  void* y = nullptr;  // read and written in place
  ElemType type = ElemType::kF32;
  int64_t n = 0;  // elements of y
  // Bias (y's dtype, may be null): element i uses bias[(i / bias_inner) % bias_channels].
  const void* bias = nullptr;
  int64_t bias_inner = 1;
  int64_t bias_channels = 1;
  // Residual Z (y's dtype, may be null). z_full: same shape as y (offset i). Otherwise broadcast: y's dims are
  // `dims[0..rank)` and Z's element offset is sum(index[d] * z_strides[d]) (stride 0 on broadcast axes).
  const void* z = nullptr;
  float z_scale = 1.f;  // Z is added as z_scale * Z (Gemm's beta)
  bool z_full = true;
  int rank = 0;
  int64_t dims[kMaxEpilogueRank] = {};
  int64_t z_strides[kMaxEpilogueRank] = {};
  EpAct act = EpAct::kNone;
  float act_alpha = 0.f;
  float act_beta = 0.f;
};

// Enqueues the epilogue on `stream`; returns the launch error, if any.
cudaError_t launch_epilogue(const EpilogueParams& p, cudaStream_t stream);

}  // namespace kiln::cuda
