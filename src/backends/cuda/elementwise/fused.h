// FusedElementwise on CUDA: the compact bytecode the host builds from the `program` attribute and the
// launch function of the one kernel that evaluates it per output element (device code in fused.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/elementwise/broadcast.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

constexpr int kMaxFusedSteps = 48;
constexpr int kMaxFusedInputs = 8;

// Step ops, in the order of fused::EwOp (the host maps them by name-independent switch).
enum class FusedOp : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kNeg,
  kAbs,
  kRelu,
  kSigmoid,
  kTanh,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kErf,
  kGelu,
  kGeluTanh,
  kSilu,
  kFloor,
  kCeil,
  kLeakyRelu,
  kClip,
};

// One operand: kind 0 = input `index`, 1 = result of step `index`, 2 = the constant `value`.
struct FusedOperand {
  uint8_t kind = 2;
  uint8_t index = 0;
  float value = 0.f;
};
struct FusedInstr {
  FusedOp op = FusedOp::kAdd;
  FusedOperand args[3];
};
struct FusedProgram {
  int num_steps = 0;
  FusedInstr steps[kMaxFusedSteps];
};

// The kernel's inputs: device pointers and dtypes (float32/16/bf16) plus their broadcast strides.
struct FusedInputs {
  int count = 0;
  const void* ptr[kMaxFusedInputs] = {};
  DType dtype[kMaxFusedInputs] = {};
  bool all_contiguous = false;
  BroadcastDesc<kMaxFusedInputs> desc;
};

// y[i] = program(inputs at i) for n > 0 output elements of dtype `out_dtype` (float32/16/bf16).
cudaError_t launch_fused_elementwise(const FusedProgram& prog, const FusedInputs& in, DType out_dtype, void* y,
                                     int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda
