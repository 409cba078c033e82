// Shape and type inference for the string, TfIdfVectorizer, random and ImageDecoder ops of the control family.
#include <algorithm>
#include <string>
#include <vector>

#include "ir/infer/control_types.h"

namespace kiln {

using control::element_type;
using control::join_types;

namespace {

Status require_dtype(const InferContext& ctx, size_t i, DType want) {
  const TypeInfo& t = ctx.input_type(i);
  if (t.is_tensor() && t.dtype != DType::kUndefined && t.dtype != want)
    return ctx.error("input " + std::to_string(i) + " must be " + dtype_name(want) + ", got " + t.to_string());
  return ok_status();
}

Status dtype_attr(const InferContext& ctx, DType def, DType* out) {
  *out = def;
  if (!ctx.attrs().has("dtype")) return ok_status();
  if (!dtype_from_int(ctx.attrs().get_int("dtype"), out) || *out == DType::kUndefined)
    return ctx.error("attribute 'dtype' = " + std::to_string(ctx.attrs().get_int("dtype")) +
                     " is not a valid element type");
  return ok_status();
}

}  // namespace

Status infer_string_concat(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_dtype(ctx, 0, DType::kString));
  KILN_RETURN_IF_ERROR(require_dtype(ctx, 1, DType::kString));
  Shape s;
  Status st = broadcast_shapes(ctx.input_type(0).shape, ctx.input_type(1).shape, &s);
  if (!st.ok()) return ctx.error(st.message());
  ctx.set_output_type(0, TypeInfo::tensor(DType::kString, s));
  return ok_status();
}

Status infer_string_normalizer(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_dtype(ctx, 0, DType::kString));
  const Shape& x = ctx.input_type(0).shape;
  Shape s = Shape::unknown_rank();
  if (x.rank_known) {
    if (x.rank() != 1 && x.rank() != 2) return ctx.error("input 0 must have shape [C] or [1, C], got " + x.to_string());
    if (x.rank() == 2 && x.dims[0].is_known() && x.dims[0].value != 1)
      return ctx.error("input 0 must have shape [C] or [1, C], got " + x.to_string());
    s = x.rank() == 1 ? Shape::of_dims({Dim{}}) : Shape::of_dims({Dim::known(1), Dim{}});
    // Without stopwords nothing is removed, so the element count is kept.
    if (ctx.attrs().get_strings("stopwords").empty()) s = x;
  }
  ctx.set_output_type(0, TypeInfo::tensor(DType::kString, s));
  return ok_status();
}

Status infer_string_split(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_dtype(ctx, 0, DType::kString));
  const Shape& x = ctx.input_type(0).shape;
  Shape y = x;
  if (y.rank_known) y.dims.push_back(Dim{});
  ctx.set_output_type(0, TypeInfo::tensor(DType::kString, y));
  ctx.set_output_type(1, TypeInfo::tensor(DType::kInt64, x));
  return ok_status();
}

Status infer_regex_full_match(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_dtype(ctx, 0, DType::kString));
  if (!ctx.attrs().has("pattern")) return ctx.error("attribute 'pattern' is required");
  ctx.set_output_type(0, TypeInfo::tensor(DType::kBool, ctx.input_type(0).shape));
  return ok_status();
}

Status infer_tfidf_vectorizer(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (x.is_tensor() && x.dtype != DType::kUndefined && x.dtype != DType::kString && x.dtype != DType::kInt32 &&
      x.dtype != DType::kInt64)
    return ctx.error("input 0 must be string, int32 or int64, got " + x.to_string());
  int64_t width = 0;
  for (int64_t i : ctx.attrs().get_ints("ngram_indexes")) width = std::max(width, i + 1);
  Shape s = Shape::unknown_rank();
  if (x.shape.rank_known) {
    if (x.shape.rank() == 1) s = Shape::of({width});
    else if (x.shape.rank() == 2) s = Shape::of_dims({x.shape.dims[0], Dim::known(width)});
    else return ctx.error("input 0 must be 1-D or 2-D, got " + x.to_string());
  }
  ctx.set_output_type(0, TypeInfo::tensor(DType::kFloat32, s));
  return ok_status();
}

Status infer_random_normal(InferContext& ctx) {
  DType dt;
  KILN_RETURN_IF_ERROR(dtype_attr(ctx, DType::kFloat32, &dt));
  if (!ctx.attrs().has("shape")) return ctx.error("attribute 'shape' is required");
  std::vector<int64_t> shape = ctx.attrs().get_ints("shape");
  for (int64_t d : shape)
    if (d < 0) return ctx.error("attribute 'shape' has a negative dimension");
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of(shape)));
  return ok_status();
}

Status infer_random_like(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  DType dt;
  KILN_RETURN_IF_ERROR(dtype_attr(ctx, x.dtype, &dt));
  ctx.set_output_type(0, TypeInfo::tensor(dt, x.shape));
  return ok_status();
}

Status infer_bernoulli(InferContext& ctx) { return infer_random_like(ctx); }

Status infer_multinomial(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  DType dt;
  KILN_RETURN_IF_ERROR(dtype_attr(ctx, DType::kInt32, &dt));
  if (dt != DType::kInt32 && dt != DType::kInt64) return ctx.error("attribute 'dtype' must be int32 or int64");
  Dim batch;
  if (x.shape.rank_known) {
    if (x.shape.rank() != 2) return ctx.error("input 0 must be 2-D [batch_size, class_size], got " + x.to_string());
    batch = x.shape.dims[0];
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims({batch, Dim::known(ctx.attrs().get_int("sample_size", 1))})));
  return ok_status();
}

Status infer_image_decoder(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_dtype(ctx, 0, DType::kUInt8));
  const std::string mode = ctx.attrs().get_string("pixel_format", "RGB");
  const int64_t channels = mode == "Grayscale" ? 1 : 3;
  ctx.set_output_type(0, TypeInfo::tensor(DType::kUInt8, Shape::of_dims({Dim{}, Dim{}, Dim::known(channels)})));
  return ok_status();
}

}  // namespace kiln
