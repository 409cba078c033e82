// Host side of the Reduce* ops (axes from input 1 since opset 18, else the `axes` attribute; keepdims;
// noop_with_empty_axes) and of ArgMax/ArgMin (axis, keepdims, select_last_index).
#include <algorithm>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/host_util.h"
#include "backends/cuda/norm/kernels.h"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

bool reduce_kind_of(OpKind op, ReduceKind* k) {
  switch (op) {
    case OpKind::kReduceL1:
      *k = ReduceKind::kL1;
      return true;
    case OpKind::kReduceL2:
      *k = ReduceKind::kL2;
      return true;
    case OpKind::kReduceLogSum:
      *k = ReduceKind::kLogSum;
      return true;
    case OpKind::kReduceLogSumExp:
      *k = ReduceKind::kLogSumExp;
      return true;
    case OpKind::kReduceMax:
      *k = ReduceKind::kMax;
      return true;
    case OpKind::kReduceMean:
      *k = ReduceKind::kMean;
      return true;
    case OpKind::kReduceMin:
      *k = ReduceKind::kMin;
      return true;
    case OpKind::kReduceProd:
      *k = ReduceKind::kProd;
      return true;
    case OpKind::kReduceSum:
      *k = ReduceKind::kSum;
      return true;
    case OpKind::kReduceSumSquare:
      *k = ReduceKind::kSumSquare;
      return true;
    default:
      return false;
  }
}

bool int_kind_ok(ReduceKind k) {
  return k == ReduceKind::kSum || k == ReduceKind::kSumSquare || k == ReduceKind::kL1 || k == ReduceKind::kProd ||
         k == ReduceKind::kMax || k == ReduceKind::kMin;
}

bool dtype_ok(ReduceKind k, DType t) {
  if (is_float_dtype(t)) return true;
  return (t == DType::kInt32 || t == DType::kInt64) && int_kind_ok(k);
}

Status run_reduce(CudaKernelContext& ctx) {
  ReduceKind kind;
  if (!reduce_kind_of(ctx.node().op, &kind)) return ctx.unsupported("not a Reduce op");
  const DType dt = ctx.input_dtype(0);
  if (!dtype_ok(kind, dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const Dims& dims = ctx.input_dims(0);
  const int64_t rank = static_cast<int64_t>(dims.size());
  std::vector<int64_t> axes;
  if (ctx.num_inputs() > 1 && ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor a, ctx.host_input(1));
    if (!is_integer(a.dtype()) || a.rank() > 1)
      return ctx.error(std::string("axes must be a 1-D int64 tensor, got ") + dtype_name(a.dtype()) + " " +
                       dims_str(a.dims()));
    for (int64_t i = 0; i < a.numel(); ++i) axes.push_back(a.as_int64(i));
  } else if (ctx.attrs().has("axes")) {
    axes = ctx.attrs().get_ints("axes");
  }
  const bool noop = ctx.attrs().get_int("noop_with_empty_axes", 0) != 0;
  const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (!noop) reduced.assign(static_cast<size_t>(rank), true);
  } else {
    for (int64_t a : axes) {
      int64_t n;
      if (!normalize_axis(a, rank, &n))
        return ctx.error("axis " + std::to_string(a) + " is out of range for input of rank " + std::to_string(rank));
      if (reduced[n]) return ctx.error("axis " + std::to_string(a) + " is listed twice in axes");
      reduced[n] = true;
    }
  }
  Dims out_dims;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d] || keepdims) out_dims.push_back(reduced[d] ? 1 : dims[d]);
  ReduceGeometry g;
  if (!plan_reduce_geometry(dims, reduced, &g))
    return ctx.unsupported("reductions over more than 8 separate kept or reduced axis runs are not supported");
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, dt, out_dims));
  KILN_CUDA_RETURN_IF_ERROR(launch_reduce(kind, dt, x.data, y.data, g, ctx.stream()));
  return ok_status();
}

bool supports_reduce(const Node& node, const std::vector<const TypeInfo*>& types) {
  ReduceKind kind;
  if (!reduce_kind_of(node.op, &kind)) return false;
  if (types.empty() || types[0] == nullptr || types[0]->dtype == DType::kUndefined) return true;
  return dtype_ok(kind, types[0]->dtype);
}

bool arg_dtype_ok(DType t) { return is_float_dtype(t) || t == DType::kInt32 || t == DType::kInt64; }

Status run_arg_reduce(CudaKernelContext& ctx, bool want_max) {
  const DType dt = ctx.input_dtype(0);
  if (!arg_dtype_ok(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const Dims& dims = ctx.input_dims(0);
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (rank == 0) return ctx.error("input must have rank >= 1");
  int64_t axis;
  const int64_t axis_attr = ctx.attrs().get_int("axis", 0);
  if (!normalize_axis(axis_attr, rank, &axis))
    return ctx.error("axis " + std::to_string(axis_attr) + " is out of range for rank " + std::to_string(rank));
  if (dims[axis] == 0) return ctx.error("cannot reduce an empty axis " + std::to_string(axis));
  const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
  const bool last = ctx.attrs().get_int("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[d];
  Dims out_dims = dims;
  if (keepdims)
    out_dims[axis] = 1;
  else
    out_dims.erase(out_dims.begin() + axis);
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, DType::kInt64, out_dims));
  KILN_CUDA_RETURN_IF_ERROR(
      launch_arg_reduce(dt, x.data, y.ptr<int64_t>(), outer, dims[axis], inner, want_max, last, ctx.stream()));
  return ok_status();
}

bool supports_arg_reduce(const Node& /*node*/, const std::vector<const TypeInfo*>& types) {
  return input_dtype_ok(types, 0, &arg_dtype_ok);
}

}  // namespace

CudaKernel reduce_kernel(OpKind /*op*/) { return CudaKernel{&run_reduce, &supports_reduce}; }
CudaKernel arg_max_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_arg_reduce(ctx, true); }, &supports_arg_reduce};
}
CudaKernel arg_min_kernel() {
  return CudaKernel{[](CudaKernelContext& ctx) { return run_arg_reduce(ctx, false); }, &supports_arg_reduce};
}

}  // namespace kiln::cuda::norm
