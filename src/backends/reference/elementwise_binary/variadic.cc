// Reference kernels for the variadic Max, Min, Mean and Sum (multidirectional broadcast of all inputs).
#include <cmath>

#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

namespace {

enum class Fold { kMax, kMin, kSum, kMean };

const char* fold_name(Fold f) {
  switch (f) {
    case Fold::kMax:
      return "Max";
    case Fold::kMin:
      return "Min";
    case Fold::kSum:
      return "Sum";
    case Fold::kMean:
      return "Mean";
  }
  return "?";
}

// One step of the fold; NaN propagates through Max/Min like numpy.maximum/minimum.
template <typename T>
T fold_step(Fold f, T acc, T x) {
  switch (f) {
    case Fold::kMax:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(acc) || std::isnan(x)) return std::isnan(acc) ? acc : x;
      }
      return x > acc ? x : acc;
    case Fold::kMin:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(acc) || std::isnan(x)) return std::isnan(acc) ? acc : x;
      }
      return x < acc ? x : acc;
    case Fold::kSum:
    case Fold::kMean:
      if constexpr (std::is_floating_point_v<T>) {
        return acc + x;
      } else {
        return wrap_add(acc, x);
      }
  }
  return acc;
}

// Folds `inputs` (all of storage type T) into `out`, which has the broadcast shape.
template <typename T>
void fold_inputs(Fold f, const std::vector<const Tensor*>& inputs, Tensor& out) {
  T* po = out.data<T>();
  const std::vector<int64_t> m0 = broadcast_index_map(inputs[0]->dims(), out.dims());
  for (int64_t k = 0; k < out.numel(); ++k) po[k] = inputs[0]->data<T>()[m0[k]];
  for (size_t i = 1; i < inputs.size(); ++i) {
    const std::vector<int64_t> m = broadcast_index_map(inputs[i]->dims(), out.dims());
    const T* pi = inputs[i]->data<T>();
    for (int64_t k = 0; k < out.numel(); ++k) po[k] = fold_step(f, po[k], pi[m[k]]);
  }
  if (f == Fold::kMean) {
    if constexpr (std::is_floating_point_v<T>) {
      for (int64_t k = 0; k < out.numel(); ++k) po[k] = po[k] / static_cast<T>(inputs.size());
    }
  }
}

Status run_fold(KernelContext& ctx, Fold f) {
  if (ctx.num_inputs() == 0) return ctx.error("needs at least one input");
  std::vector<const Tensor*> inputs;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    if (ctx.input(i).dtype() != ctx.input(0).dtype())
      return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input(i).dtype()) +
                       " but input 0 has dtype " + dtype_name(ctx.input(0).dtype()) + "; they must match");
    inputs.push_back(&ctx.input(i));
  }
  Dims out_dims;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, inputs, &out_dims));
  const DType dt = inputs[0]->dtype();
  const bool float_only = f == Fold::kMean || f == Fold::kSum;
  if (float_only && !is_float(dt))
    return ctx.unsupported(std::string(fold_name(f)) + " supports floating-point inputs only, got " + dtype_name(dt));

  if (is_narrow_float(dt)) {
    std::vector<Tensor> f32;
    std::vector<const Tensor*> ptrs;
    for (const Tensor* t : inputs) f32.push_back(to_float32(*t));
    for (const Tensor& t : f32) ptrs.push_back(&t);
    KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, DType::kFloat32, out_dims));
    fold_inputs<float>(f, ptrs, out);
    ctx.set_output(0, from_float32(out, dt));
    return ok_status();
  }
  if (dt == DType::kBool || dt == DType::kString || is_sub_byte(dt))
    return ctx.unsupported(std::string(fold_name(f)) + " does not support dtype " + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, dt, out_dims));
  Status st = dispatch_dtype(dt, DispatchSet{}, [&]<typename T>() { fold_inputs<T>(f, inputs, out); });
  if (!st.ok()) return ctx.unsupported(std::string(fold_name(f)) + ": " + st.message());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

Status max_kernel(KernelContext& ctx) { return run_fold(ctx, Fold::kMax); }
Status min_kernel(KernelContext& ctx) { return run_fold(ctx, Fold::kMin); }
Status mean_kernel(KernelContext& ctx) { return run_fold(ctx, Fold::kMean); }
Status sum_kernel(KernelContext& ctx) { return run_fold(ctx, Fold::kSum); }

}  // namespace kiln
