// Sum, Mean, Max and Min over any number of float32 inputs with multidirectional broadcasting (the two-input Max/Min
// run on the binary kernel): one pass over the output, folding the inputs left to right in float32 as the reference
// does (NaN wins in Max/Min; Mean divides the sum by the input count), so results equal the reference's.
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/eltwise.h"

namespace kiln::cpu::kern {

NodeSupport variadic_supports(const Graph& g, const Node& n) {
  if (n.inputs.empty()) return NodeSupport::no("no inputs");
  std::vector<size_t> all(n.inputs.size());
  for (size_t i = 0; i < all.size(); ++i) {
    if (!n.has_input(i)) return NodeSupport::no("an omitted input");
    all[i] = i;
  }
  return require_dtypes(g, n, all, {DType::kFloat32});
}

Status variadic_run(CpuKernelContext& ctx) {
  const size_t k = ctx.num_inputs();
  std::vector<const Dims*> dims(k);
  std::vector<const float*> src(k);
  for (size_t i = 0; i < k; ++i) {
    const Tensor& t = ctx.input(i);
    if (!t.defined() || t.dtype() != DType::kFloat32) return ctx.error("input " + std::to_string(i) + " must be float32");
    dims[i] = &t.dims();
  }
  Bcast bc;
  if (!make_bcast(dims, &bc)) {
    std::string shapes;
    for (const Dims* d : dims) shapes += (shapes.empty() ? "" : ", ") + dims_to_string(*d);
    return ctx.error("inputs of shapes " + shapes + " do not broadcast");
  }
  for (size_t i = 0; i < k; ++i) src[i] = ctx.input(i).data<float>();
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, bc.out));
  float* ys = y->data<float>();
  const OpKind op = ctx.node().op;
  for_each_row_piece(bc, threads_for(ctx, y->numel() * static_cast<int64_t>(k)), [&](const int64_t* o, int64_t out,
                                                                                     int64_t len) {
    float* yr = ys + out;
    const int64_t s0 = bc.stride[0].back();
    for (int64_t j = 0; j < len; ++j) yr[j] = src[0][o[0] + j * s0];
    for (size_t i = 1; i < k; ++i) {
      const float* xr = src[i] + o[i];
      const int64_t s = bc.stride[i].back();
      switch (op) {
        case OpKind::kMax:
          for (int64_t j = 0; j < len; ++j) {
            const float a = yr[j], x = xr[j * s];
            yr[j] = a != a ? a : (x != x || x > a ? x : a);
          }
          break;
        case OpKind::kMin:
          for (int64_t j = 0; j < len; ++j) {
            const float a = yr[j], x = xr[j * s];
            yr[j] = a != a ? a : (x != x || x < a ? x : a);
          }
          break;
        default:
          for (int64_t j = 0; j < len; ++j) yr[j] += xr[j * s];
          break;
      }
    }
    if (op == OpKind::kMean)
      for (int64_t j = 0; j < len; ++j) yr[j] = yr[j] / static_cast<float>(k);
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
