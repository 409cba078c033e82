// Launch functions of the CUDA elementwise binary kernels (device code in binary.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/elementwise/broadcast.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

enum class BinaryOp : int {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kFMod,
  kPow,
  kMax,
  kMin,
  kPRelu,
  kEqual,
  kLess,
  kLessOrEqual,
  kGreater,
  kGreaterOrEqual,
  kAnd,
  kOr,
  kXor,
  kBitwiseAnd,
  kBitwiseOr,
  kBitwiseXor,
};

inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::kEqual && op <= BinaryOp::kGreaterOrEqual; }
inline bool is_logical(BinaryOp op) { return op >= BinaryOp::kAnd && op <= BinaryOp::kXor; }
inline bool is_bitwise(BinaryOp op) { return op >= BinaryOp::kBitwiseAnd; }

// out[i] = op(a[.], b[.]) over `d` (collapsed output dims, strides of a = input 0 and b = input 1).
// Dtypes: a and b share a dtype (float32/16/bf16, int32, int64; bool for logic and Equal), except Pow, whose
// exponent may be any of those numeric dtypes. Output: bool for comparisons and logic, else a's dtype.
// Float math runs in float32; integer math wraps; integer division by zero gives 0.
// Returns cudaErrorInvalidValue for a combination it lacks. numel of d must be > 0.
cudaError_t launch_binary(BinaryOp op, DType a_dtype, DType b_dtype, const void* a, const void* b, void* out,
                          const BroadcastDesc<2>& d, cudaStream_t stream);

// Whether launch_binary has a kernel for the combination (host-side check, no device work).
bool binary_supported(BinaryOp op, DType a_dtype, DType b_dtype);

// Variadic Sum / Mean / Max / Min over up to kMaxFoldInputs inputs of one dtype, folded per element in
// float32 (float dtypes; rounded once at the end) or natively (int32/int64 Max/Min).
constexpr int kMaxFoldInputs = 8;
struct FoldInputs {
  int count = 0;
  const void* ptr[kMaxFoldInputs] = {};
  BroadcastDesc<kMaxFoldInputs> desc;
};
// op: kAdd (Sum; Mean when `mean`), kMax or kMin.
cudaError_t launch_fold(BinaryOp op, bool mean, DType dtype, const FoldInputs& in, void* out, int64_t n,
                        cudaStream_t stream);

// out[i] = cond[.] ? x[.] : y[.] over `d` (strides of cond, x, y) for elements of `elem_size` bytes.
cudaError_t launch_where(size_t elem_size, const uint8_t* cond, const void* x, const void* y, void* out,
                         const BroadcastDesc<3>& d, cudaStream_t stream);

}  // namespace kiln::cuda
