// Host side of TopK: k from input 1 (read on the host), axis, largest; rows up to kTopKMaxLen elements.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/host_util.h"
#include "backends/cuda/norm/kernels.h"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

bool top_k_dtype_ok(DType t) { return is_float_dtype(t) || t == DType::kInt32 || t == DType::kInt64; }

Status run_top_k(CudaKernelContext& ctx) {
  const DType dt = ctx.input_dtype(0);
  if (!top_k_dtype_ok(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const Dims& dims = ctx.input_dims(0);
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t axis;
  const int64_t axis_attr = ctx.attrs().get_int("axis", -1);
  if (!normalize_axis(axis_attr, rank, &axis))
    return ctx.error("axis " + std::to_string(axis_attr) + " is out of range for rank " + std::to_string(rank));
  if (!ctx.has_input(1)) return ctx.error("input K is required");
  KILN_ASSIGN_OR_RETURN(Tensor kt, ctx.host_input(1));
  if (!is_integer(kt.dtype()) || kt.numel() != 1) return ctx.error("K must hold exactly one integer");
  const int64_t k = kt.as_int64(0), len = dims[axis];
  if (k < 0 || k > len) return ctx.error("K = " + std::to_string(k) + " must be in [0, " + std::to_string(len) + "]");
  if (len > kTopKMaxLen)
    return ctx.unsupported("rows longer than " + std::to_string(kTopKMaxLen) + " elements are not supported");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[d];
  Dims out_dims = dims;
  out_dims[axis] = k;
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor values, ctx.allocate_output(0, dt, out_dims));
  // The kernel always writes indices: into output 1, or scratch when the node does not list that output.
  int64_t* indices = nullptr;
  if (ctx.num_outputs() > 1) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor t, ctx.allocate_output(1, DType::kInt64, out_dims));
    indices = t.ptr<int64_t>();
  } else if (values.numel() > 0) {
    KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(static_cast<size_t>(values.numel()) * sizeof(int64_t)));
    indices = static_cast<int64_t*>(ws);
  }
  const bool largest = ctx.attrs().get_int("largest", 1) != 0;
  KILN_CUDA_RETURN_IF_ERROR(
      launch_top_k(dt, x.data, values.data, indices, outer, len, inner, k, largest, ctx.stream()));
  return ok_status();
}

// Rejects rows known (from inferred shapes) to be longer than the kernel takes.
bool supports_top_k(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!input_dtype_ok(types, 0, &top_k_dtype_ok)) return false;
  if (types.empty() || types[0] == nullptr || !types[0]->shape.rank_known) return true;
  const Shape& s = types[0]->shape;
  int64_t axis;
  if (!normalize_axis(node.attrs.get_int("axis", -1), static_cast<int64_t>(s.rank()), &axis)) return false;
  const Dim& d = s.dims[axis];
  return !d.is_known() || d.value <= kTopKMaxLen;
}

}  // namespace

CudaKernel top_k_kernel() { return CudaKernel{&run_top_k, &supports_top_k}; }

}  // namespace kiln::cuda::norm
