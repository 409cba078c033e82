// Reshape, Flatten, Squeeze, Unsqueeze and Identity on the CPU: no copy, the output aliases the input's bytes
// (CpuKernelContext::alias_output) with dims computed by the shared shape rules.
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/data.h"
#include "ir/shape_rules.h"

namespace kiln::cpu::kern {
namespace {

// Axes from input 1 (opset >= 13) or the `axes` attribute (older opsets).
Status axes_of(const CpuKernelContext& ctx, std::vector<int64_t>* axes, bool* given) {
  *given = false;
  if (ctx.has_input(1)) {
    const Tensor& t = ctx.input(1);
    if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) return ctx.error("axes must be int64");
    *axes = read_ints(t);
    *given = true;
  } else if (ctx.attrs().has("axes")) {
    *axes = ctx.attrs().get_ints("axes");
    *given = true;
  }
  return ok_status();
}

}  // namespace

NodeSupport alias_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (d == DType::kUndefined || d == DType::kString) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  if (n.op == OpKind::kReshape && n.opset > 0 && n.opset < 5) return NodeSupport::no("opset < 5 (shape attribute)");
  return NodeSupport::yes();
}

Status reshape_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(1)) return ctx.error("shape (input 1) is required");
  const Tensor& s = ctx.input(1);
  if (s.dtype() != DType::kInt64) return ctx.error("shape must be int64");
  auto out = reshape_output_dims(x.dims(), read_ints(s), ctx.attrs().get_int("allowzero", 0) != 0);
  if (!out.ok()) return ctx.error(out.status().message());
  return ctx.alias_output(0, 0, *out);
}

Status flatten_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", 1)) + " is out of range for rank " + std::to_string(r));
  int64_t a = 1, b = 1;
  for (int64_t d = 0; d < r; ++d) (d < axis ? a : b) *= x.dim(d);
  return ctx.alias_output(0, 0, {a, b});
}

Status squeeze_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> axes;
  bool given = false;
  KILN_RETURN_IF_ERROR(axes_of(ctx, &axes, &given));
  std::vector<bool> drop(r, false);
  if (given) {
    for (int64_t a : axes) {
      int64_t n = 0;
      if (!norm_axis(a, r, &n)) return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
      if (x.dim(n) != 1) return ctx.error("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.dim(n)));
      drop[n] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) drop[i] = x.dim(i) == 1;
  }
  Dims out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(x.dim(i));
  return ctx.alias_output(0, 0, out);
}

Status unsqueeze_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes;
  bool given = false;
  KILN_RETURN_IF_ERROR(axes_of(ctx, &axes, &given));
  if (!given) return ctx.error("axes are required");
  const int64_t r = static_cast<int64_t>(x.rank() + axes.size());
  std::vector<bool> inserted(r, false);
  for (int64_t a : axes) {
    int64_t n = 0;
    if (!norm_axis(a, r, &n)) return ctx.error("axis " + std::to_string(a) + " is out of range for output rank " + std::to_string(r));
    if (inserted[n]) return ctx.error("axes contain a duplicate");
    inserted[n] = true;
  }
  Dims out;
  size_t k = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(inserted[i] ? 1 : x.dim(k++));
  return ctx.alias_output(0, 0, out);
}

Status identity_run(CpuKernelContext& ctx) { return ctx.alias_output(0, 0, ctx.input(0).dims()); }

NodeSupport shape_supports(const Graph& g, const Node& n) {
  return input_type(g, n, 0) ? NodeSupport::yes() : NodeSupport::no("input 0 is not a tensor");
}

Status shape_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  if (ctx.node().op == OpKind::kSize) {
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {}));
    y->data<int64_t>()[0] = x.numel();
    return ok_status();
  }
  // Shape (opset 15): [start, end) of the dims, negative values count from the end, clamped to [0, rank].
  int64_t b = ctx.attrs().get_int("start", 0), e = ctx.attrs().get_int("end", r);
  if (b < 0) b += r;
  if (e < 0) e += r;
  b = std::clamp<int64_t>(b, 0, r);
  e = std::clamp<int64_t>(e, 0, r);
  const int64_t n = std::max<int64_t>(0, e - b);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {n}));
  for (int64_t i = 0; i < n; ++i) y->data<int64_t>()[i] = x.dim(b + i);
  return ok_status();
}

}  // namespace kiln::cpu::kern
