// Shape and type inference for the attention family's ai.onnx.ml ops (registered in attention.cc).
#include <set>
#include <string>

#include "ir/infer_helpers.h"

namespace kiln {
namespace attention_infer {
namespace {

// The batch dim of an ML input: dim 0 of [N, C], 1 for [C].
Dim batch_dim(const TypeInfo& x) {
  if (!x.is_tensor() || !x.shape.rank_known) return Dim{};
  if (x.shape.rank() == 2) return x.shape.dims[0];
  return Dim::known(1);
}

Status check_ml_rank(const InferContext& ctx, const TypeInfo& x) {
  if (x.is_tensor() && x.shape.rank_known && x.shape.rank() > 2)
    return ctx.error("X must be 1-D or 2-D, got " + x.shape.to_string());
  return ok_status();
}

// Output `i` gets the input's shape with dtype `dt`.
void same_shape(InferContext& ctx, size_t i, DType dt) {
  const TypeInfo& x = ctx.input_type(0);
  ctx.set_output_type(i, TypeInfo::tensor(dt, x.is_tensor() ? x.shape : Shape::unknown_rank()));
}

DType dtype_of_values(const Attrs& a, const std::string& prefix, DType fallback) {
  if (a.has(prefix + "_strings")) return DType::kString;
  if (a.has(prefix + "_int64s")) return DType::kInt64;
  if (a.has(prefix + "_floats")) return DType::kFloat32;
  if (const Tensor* t = a.get_tensor(prefix + "_tensor")) return t->dtype();
  return fallback;
}

}  // namespace

Status infer_label_encoder(InferContext& ctx) {
  const auto& a = ctx.attrs();
  const TypeInfo& x = ctx.input_type(0);
  DType out = dtype_of_values(a, "values", DType::kUndefined);
  if (a.has("classes_strings")) {
    // Opset 1: string -> int64 index, int64 -> class string.
    out = x.dtype == DType::kString ? DType::kInt64 : (x.dtype == DType::kUndefined ? x.dtype : DType::kString);
  }
  same_shape(ctx, 0, out);
  return ok_status();
}

Status infer_tree_ensemble(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  KILN_RETURN_IF_ERROR(check_ml_rank(ctx, x));
  const int64_t n = ctx.attrs().get_int("n_targets", 0);
  if (n <= 0) return ctx.error("n_targets must be positive");
  ctx.set_output_type(0, TypeInfo::tensor(x.dtype, Shape::of_dims({batch_dim(x), Dim::known(n)})));
  return ok_status();
}

Status infer_tree_ensemble_regressor(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  KILN_RETURN_IF_ERROR(check_ml_rank(ctx, x));
  const int64_t n = ctx.attrs().get_int("n_targets", 1);
  ctx.set_output_type(0, TypeInfo::tensor(DType::kFloat32, Shape::of_dims({batch_dim(x), Dim::known(n)})));
  return ok_status();
}

Status infer_tree_ensemble_classifier(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  KILN_RETURN_IF_ERROR(check_ml_rank(ctx, x));
  const auto& a = ctx.attrs();
  const bool strings = a.has("classlabels_strings");
  int64_t k = static_cast<int64_t>(strings ? a.get_strings("classlabels_strings").size()
                                           : a.get_ints("classlabels_int64s").size());
  const auto ids = a.get_ints("class_ids");
  if (k == 1 && !ids.empty() && std::set<int64_t>(ids.begin(), ids.end()).size() == 1) k = 2;
  const Dim n = batch_dim(x);
  ctx.set_output_type(0, TypeInfo::tensor(strings ? DType::kString : DType::kInt64, Shape::of_dims({n})));
  ctx.set_output_type(1, TypeInfo::tensor(DType::kFloat32, Shape::of_dims({n, Dim::known(k)})));
  return ok_status();
}

Status infer_binarizer(InferContext& ctx) { return infer_same_as_input(ctx, 0, 0); }

Status infer_float_same_shape(InferContext& ctx) {
  same_shape(ctx, 0, DType::kFloat32);
  return ok_status();
}

Status infer_array_feature_extractor(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& idx = ctx.input_type(1);
  if (!x.is_tensor() || !x.shape.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(x.dtype));
    return ok_status();
  }
  if (x.shape.rank() == 0) return ctx.error("X must have rank >= 1");
  Dim n{};
  if (idx.is_tensor() && idx.shape.fully_known()) {
    int64_t count = 1;
    for (const Dim& d : idx.shape.dims) count *= d.value;
    n = Dim::known(count);
  }
  std::vector<Dim> dims = x.shape.rank() == 1 ? std::vector<Dim>{Dim::known(1)}
                                              : std::vector<Dim>(x.shape.dims.begin(), x.shape.dims.end() - 1);
  dims.push_back(n);
  ctx.set_output_type(0, TypeInfo::tensor(x.dtype, Shape::of_dims(dims)));
  return ok_status();
}

Status infer_linear_regressor(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  KILN_RETURN_IF_ERROR(check_ml_rank(ctx, x));
  const int64_t t = ctx.attrs().get_int("targets", 1);
  ctx.set_output_type(0, TypeInfo::tensor(DType::kFloat32, Shape::of_dims({batch_dim(x), Dim::known(t)})));
  return ok_status();
}

Status infer_linear_classifier(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  KILN_RETURN_IF_ERROR(check_ml_rank(ctx, x));
  const auto& a = ctx.attrs();
  const bool strings = a.has("classlabels_strings");
  const int64_t n_classes = static_cast<int64_t>(strings ? a.get_strings("classlabels_strings").size()
                                                         : a.get_ints("classlabels_ints").size());
  Dim k{};
  const Dim c = x.is_tensor() && x.shape.rank_known && x.shape.rank() >= 1 ? x.shape.dims.back() : Dim{};
  const int64_t n_coef = static_cast<int64_t>(a.get_floats("coefficients").size());
  if (c.is_known() && c.value > 0) {
    const int64_t rows = n_coef / c.value;
    k = Dim::known(rows == 1 && n_classes == 2 ? 2 : rows);
  }
  const Dim n = batch_dim(x);
  ctx.set_output_type(0, TypeInfo::tensor(strings ? DType::kString : DType::kInt64, Shape::of_dims({n})));
  ctx.set_output_type(1, TypeInfo::tensor(DType::kFloat32, Shape::of_dims({n, k})));
  return ok_status();
}

}  // namespace attention_infer
}  // namespace kiln
