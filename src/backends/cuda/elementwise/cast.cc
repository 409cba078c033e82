// Host side of the CUDA Cast and CastLike kernels.
#include "backends/cuda/elementwise/cast.h"

#include "backends/cuda/elementwise/elementwise_kernels.h"
#include "backends/cuda/elementwise/host_util.h"

namespace kiln::cuda {

namespace {

// Target dtype of a Cast/CastLike node; false when unknown or unsupported here.
bool target_of(const Node& node, DType like, DType* to) {
  if (node.op == OpKind::kCastLike) {
    *to = like;
    return like != DType::kUndefined;
  }
  if (!node.attrs.has("to")) return false;
  return dtype_from_int(node.attrs.get_int("to", 0), to);
}

// Attributes only narrow float8 targets use; anything else than the defaults goes to the CPU.
bool plain_options(const Node& node) {
  const std::string rm = node.attrs.get_string("round_mode", "up");
  return rm == "up" || rm == "down" || rm == "nearest";
}

}  // namespace

bool supports_cast(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!plain_options(node)) return false;
  const DType from = type_dtype(types, 0);
  if (from != DType::kUndefined && !cuda_cast_dtype(from)) return false;
  DType to = DType::kUndefined;
  if (node.op == OpKind::kCastLike) {
    to = type_dtype(types, 1);
    return to == DType::kUndefined || cuda_cast_dtype(to);
  }
  return target_of(node, DType::kUndefined, &to) && cuda_cast_dtype(to);
}

Status run_cast(CudaKernelContext& ctx) {
  const Node& node = ctx.node();
  if (node.op == OpKind::kCast && !ctx.attrs().has("to")) return ctx.error("attribute 'to' is required");
  DType to;
  if (!target_of(node, node.op == OpKind::kCastLike ? ctx.input_dtype(1) : DType::kUndefined, &to))
    return ctx.error("attribute 'to' is not a known data type: " + std::to_string(ctx.attrs().get_int("to", 0)));
  if (!plain_options(node))
    return ctx.error("attribute round_mode must be 'up', 'down' or 'nearest', got '" +
                     ctx.attrs().get_string("round_mode") + "'");
  const DType from = ctx.input_dtype(0);
  if (!cuda_cast_dtype(from) || !cuda_cast_dtype(to))
    return ctx.unsupported(std::string("Cast from ") + dtype_name(from) + " to " + dtype_name(to) + " on CUDA");
  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, to, x.dims));
  if (x.numel() == 0) return ok_status();
  if (from == to)
    return launch_status(ctx, cudaMemcpyAsync(y.data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream()),
                         "Cast copy");
  return launch_status(ctx, launch_cast(from, to, x.data, y.data, x.numel(), ctx.stream()), "Cast");
}

}  // namespace kiln::cuda
