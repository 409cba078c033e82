// Shape and type inference for the Reduce* ops, Softmax/LogSoftmax/Hardmax and the two loss ops.
#include "ir/infer_helpers.h"
#include "ir/op_params.h"

namespace kiln::math_infer {

Status infer_reduce(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
  const bool noop = ctx.attrs().get_int("noop_with_empty_axes", 0) != 0;
  std::vector<int64_t> axes;
  bool axes_known = true;
  if (ctx.has_input(1)) {
    axes_known = constant_ints(ctx, 1, &axes);
    // A runtime axes input of static length 0 is known to be empty.
    const Shape& as = ctx.input_type(1).shape;
    if (!axes_known && as.rank_known && as.rank() == 1 && as.dims[0].is_known() && as.dims[0].value == 0) {
      axes.clear();
      axes_known = true;
    }
  } else {
    axes = ctx.attrs().get_ints("axes");
  }
  if (!x.shape.rank_known || !axes_known) {
    Shape s = Shape::unknown_rank();
    if (x.shape.rank_known && keepdims) {
      // Each dim is either kept or reduced to 1: a known 1 stays 1.
      s = Shape::of_dims(std::vector<Dim>(x.shape.rank(), Dim{}));
      for (size_t d = 0; d < x.shape.rank(); ++d)
        if (x.shape.dims[d].is_known() && x.shape.dims[d].value == 1) s.dims[d] = Dim::known(1);
    } else if (x.shape.rank_known) {
      // Without keepdims, a static axes count gives the output rank (axes may not repeat).
      const Shape& as = ctx.input_type(1).shape;
      if (as.rank_known && as.rank() == 1 && as.dims[0].is_known() && as.dims[0].value > 0 &&
          as.dims[0].value <= static_cast<int64_t>(x.shape.rank()))
        s = Shape::of_dims(std::vector<Dim>(x.shape.rank() - as.dims[0].value, Dim{}));
    }
    ctx.set_output_type(0, TypeInfo::tensor(x.dtype, s));
    return ok_status();
  }
  const int64_t rank = static_cast<int64_t>(x.shape.rank());
  std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty() && !noop);
  for (int64_t a : axes) {
    int64_t n;
    if (!normalize_axis(a, rank, &n))
      return ctx.error("axis " + std::to_string(a) + " is out of range for input of rank " + std::to_string(rank));
    reduced[n] = true;
  }
  std::vector<Dim> out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d])
      out.push_back(x.shape.dims[d]);
    else if (keepdims)
      out.push_back(Dim::known(1));
  }
  ctx.set_output_type(0, TypeInfo::tensor(x.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_softmax(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (x.shape.rank_known) KILN_RETURN_IF_ERROR(softmax_axis(ctx.node(), static_cast<int64_t>(x.shape.rank())).status());
  return infer_same_as_input(ctx);
}

namespace {

// Loss output 0: the target's shape for reduction "none", a scalar otherwise.
Status infer_loss_output(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const std::string reduction = ctx.attrs().get_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.error("reduction must be 'none', 'sum' or 'mean', got '" + reduction + "'");
  if (reduction != "none") {
    ctx.set_output_type(0, TypeInfo::tensor(x.dtype, Shape::of_dims({})));
    return ok_status();
  }
  Shape s = Shape::unknown_rank();
  if (x.shape.rank_known) {
    if (x.shape.rank() < 2) return ctx.error("input must have shape [N, C, ...], got " + x.shape.to_string());
    s = x.shape;
    s.dims.erase(s.dims.begin() + 1);
  } else if (ctx.input_type(1).shape.rank_known) {
    s = ctx.input_type(1).shape;
  }
  ctx.set_output_type(0, TypeInfo::tensor(x.dtype, s));
  return ok_status();
}

}  // namespace

Status infer_nll_loss(InferContext& ctx) { return infer_loss_output(ctx); }

Status infer_sce_loss(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(infer_loss_output(ctx));
  if (ctx.num_outputs() > 1) ctx.set_output_type(1, ctx.input_type(0));
  return ok_status();
}

}  // namespace kiln::math_infer
