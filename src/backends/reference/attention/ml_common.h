// Helpers shared by the ai.onnx.ml reference kernels: score post-transforms and 2-D feature views.
#pragma once
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace kiln {
namespace attn {

enum class MlPostTransform { kNone, kSoftmax, kLogistic, kSoftmaxZero, kProbit };

// Parses "NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"; false for anything else.
bool parse_post_transform(const std::string& s, MlPostTransform* out);
// Applies the transform to one row of scores in place.
void apply_post_transform(MlPostTransform pt, double* row, int64_t n);

// Input X as rows x cols doubles: [N, C] stays, [C] is one row, a scalar is 1x1.
struct MlRows {
  int64_t rows = 0, cols = 0;
  std::vector<double> vals;
};
// Reads input `i` (float, double, float16, int32, int64) as rows; errors on rank > 2 or other dtypes.
Status read_ml_rows(const KernelContext& ctx, size_t i, MlRows* out);

}  // namespace attn
}  // namespace kiln
