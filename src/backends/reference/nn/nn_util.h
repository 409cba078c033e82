// Helpers shared by the nn reference kernels: float I/O in double precision and conv/pool window geometry.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "backends/reference/common.h"
#include "ir/window_params.h"

namespace kiln {
namespace nn {

// Reads every element of a numeric tensor as double.
std::vector<double> read_doubles(const Tensor& t);
// Builds a tensor of dtype `dt` from double values (rounding for narrow floats, truncating casts for ints).
Result<Tensor> make_tensor(DType dt, const Dims& dims, const std::vector<double>& v);
// Allocates a tensor, failing cleanly (no abort) for negative or huge dims.
Result<Tensor> alloc(const KernelContext& ctx, DType dt, const Dims& dims);
// True for the float dtypes an nn op accepts (float16/32/64, bfloat16).
bool is_basic_float(DType t);
// Validates that input i is present, a tensor, and of a basic float dtype.
Status require_float(const KernelContext& ctx, size_t i, const char* name);

// The sliding-window geometry of a conv/pool over N-D spatial dims (ir/window_params.h).
using Window = ResolvedWindow;

// Resolves the node's window attributes ("strides", "dilations", "pads", "auto_pad") for input sizes `in` and
// kernel sizes `kernel`. `ceil_mode` selects the pooling ceil rule. Errors (naming the node) on bad attribute
// lengths, non-positive values or empty outputs.
Status compute_window(const KernelContext& ctx, const Dims& in, const Dims& kernel, bool ceil_mode, Window* w);

// Iterates all multi-indices of `dims` (row-major), calling f(index vector, linear position).
template <typename F>
void for_each_index(const Dims& dims, F&& f) {
  const int64_t n = dims_numel(dims);
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    f(idx, k);
    for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
}

std::string dims_str(const Dims& d);

// out dim d = in dim perm[d] (byte copies: any fixed-size dtype).
Result<Tensor> permute(const Tensor& in, const std::vector<size_t>& perm);

// Runs `inner` on the channels-first view of a node whose kiln-only attribute layout="NHWC" (from the layout_nhwc
// pass) makes the inputs `channels_last_inputs` and output 0 channels-last ([N, spatial..., C]): those inputs are
// transposed to [N, C, spatial...], `inner` sees the node without the attribute, and its output 0 is transposed
// back. Layout "NCHW" or none runs `inner` on `ctx` itself; any other layout is an error.
Status run_channels_last(KernelContext& ctx, const std::vector<size_t>& channels_last_inputs,
                         const std::function<Status(KernelContext&)>& inner);

}  // namespace nn
}  // namespace kiln
