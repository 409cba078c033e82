// Shape and type inference for DFT, STFT, the window functions and MelWeightMatrix.
#include "ir/infer_helpers.h"

namespace kiln::math_infer {
namespace {

// A constant scalar integer input, if known.
bool const_scalar(const InferContext& ctx, size_t in, int64_t* v) {
  std::vector<int64_t> vals;
  if (!ctx.has_input(in) || !constant_ints(ctx, in, &vals) || vals.size() != 1) return false;
  *v = vals[0];
  return true;
}

}  // namespace

Status infer_dft(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!x.shape.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(x.dtype));
    return ok_status();
  }
  const int64_t rank = static_cast<int64_t>(x.shape.rank());
  if (rank < 2) return ctx.error("input must have shape [..., signal, 1 or 2], got " + x.shape.to_string());
  const Dim& last = x.shape.dims[rank - 1];
  if (last.is_known() && last.value != 1 && last.value != 2)
    return ctx.error("the last dimension must be 1 (real) or 2 (complex), got " + x.shape.to_string());
  Shape out = x.shape;
  out.dims[rank - 1] = Dim::known(2);
  int64_t axis = ctx.attrs().get_int("axis", -2);
  const bool onesided = ctx.attrs().get_int("onesided", 0) != 0;
  if (ctx.has_input(2) && !const_scalar(ctx, 2, &axis)) {
    if (!ctx.has_input(1) && !onesided) {  // the transformed axis keeps its length, whichever it is
      ctx.set_output_type(0, TypeInfo::tensor(x.dtype, out));
      return ok_status();
    }
    for (int64_t d = 0; d < rank - 1; ++d) out.dims[d] = Dim{};  // which axis changes is unknown
    ctx.set_output_type(0, TypeInfo::tensor(x.dtype, out));
    return ok_status();
  }
  int64_t ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax > rank - 2)
    return ctx.error("axis " + std::to_string(axis) + " is out of range for input " + x.shape.to_string());
  int64_t len = -1;
  if (ctx.has_input(1)) {
    if (!const_scalar(ctx, 1, &len)) len = -1;
  } else if (x.shape.dims[ax].is_known()) {
    len = x.shape.dims[ax].value;
  } else if (!onesided) {
    len = -2;  // unchanged symbolic dim
  }
  if (len >= 0)
    out.dims[ax] = Dim::known(onesided ? len / 2 + 1 : len);
  else if (len == -1)
    out.dims[ax] = Dim{};
  ctx.set_output_type(0, TypeInfo::tensor(x.dtype, out));
  return ok_status();
}

Status infer_stft(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  std::vector<Dim> out(4, Dim{});
  out[3] = Dim::known(2);
  if (x.shape.rank_known) {
    if (x.shape.rank() != 3)
      return ctx.error("signal must have shape [batch, length, 1 or 2], got " + x.shape.to_string());
    out[0] = x.shape.dims[0];
    int64_t step = -1, frame_len = -1;
    const_scalar(ctx, 1, &step);
    if (ctx.has_input(2) && ctx.input_type(2).shape.rank_known && ctx.input_type(2).shape.rank() == 1 &&
        ctx.input_type(2).shape.dims[0].is_known())
      frame_len = ctx.input_type(2).shape.dims[0].value;
    if (ctx.has_input(3))
      const_scalar(ctx, 3, &frame_len);
    else if (!ctx.has_input(2) && x.shape.dims[1].is_known())
      frame_len = x.shape.dims[1].value;
    const Dim& len = x.shape.dims[1];
    if (step > 0 && frame_len > 0 && len.is_known() && len.value >= frame_len)
      out[1] = Dim::known(1 + (len.value - frame_len) / step);
    const bool onesided = ctx.attrs().get_int("onesided", 1) != 0;
    if (frame_len > 0) out[2] = Dim::known(onesided ? frame_len / 2 + 1 : frame_len);
  }
  ctx.set_output_type(0, TypeInfo::tensor(x.dtype, Shape::of_dims(out)));
  return ok_status();
}

Status infer_window(InferContext& ctx) {
  DType dt;
  const int64_t code = ctx.attrs().get_int("output_datatype", 1);
  if (!dtype_from_int(code, &dt)) return ctx.error("output_datatype " + std::to_string(code) + " is not a tensor type");
  int64_t size;
  Dim d = const_scalar(ctx, 0, &size) && size >= 0 ? Dim::known(size) : Dim{};
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims({d})));
  return ok_status();
}

Status infer_mel_weight_matrix(InferContext& ctx) {
  DType dt;
  const int64_t code = ctx.attrs().get_int("output_datatype", 1);
  if (!dtype_from_int(code, &dt)) return ctx.error("output_datatype " + std::to_string(code) + " is not a tensor type");
  int64_t bins, dft_len;
  Dim rows = const_scalar(ctx, 1, &dft_len) && dft_len > 0 ? Dim::known(dft_len / 2 + 1) : Dim{};
  Dim cols = const_scalar(ctx, 0, &bins) && bins > 0 ? Dim::known(bins) : Dim{};
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims({rows, cols})));
  return ok_status();
}

}  // namespace kiln::math_infer
