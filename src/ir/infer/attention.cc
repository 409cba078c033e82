// Shape and type inference for the attention family: Attention, RotaryEmbedding, RNN/GRU/LSTM and the
// training optimizers (the ai.onnx.ml ops live in attention_ml.cc).
#include <string>

#include "ir/attention_params.h"
#include "ir/infer_helpers.h"
#include "ir/rnn_params.h"

namespace kiln {

namespace attention_infer {
Status infer_label_encoder(InferContext& ctx);
Status infer_tree_ensemble(InferContext& ctx);
Status infer_tree_ensemble_regressor(InferContext& ctx);
Status infer_tree_ensemble_classifier(InferContext& ctx);
Status infer_binarizer(InferContext& ctx);
Status infer_array_feature_extractor(InferContext& ctx);
Status infer_float_same_shape(InferContext& ctx);
Status infer_linear_regressor(InferContext& ctx);
Status infer_linear_classifier(InferContext& ctx);
}  // namespace attention_infer

namespace {

// Dimension `i` of a tensor type, or an unknown Dim when the rank is unknown or too small.
Dim dim_at(const TypeInfo& t, size_t i) {
  if (!t.is_tensor() || !t.shape.rank_known || i >= t.shape.rank()) return Dim{};
  return t.shape.dims[i];
}

bool rank_is(const TypeInfo& t, size_t r) { return t.is_tensor() && t.shape.rank_known && t.shape.rank() == r; }

Dim add_dims(const Dim& a, const Dim& b) {
  if (a.is_known() && b.is_known()) return Dim::known(a.value + b.value);
  if (a.is_known() && a.value == 0) return b;
  if (b.is_known() && b.value == 0) return a;
  return Dim{};
}

Dim mul_dims(const Dim& a, const Dim& b) {
  if (a.is_known() && b.is_known()) return Dim::known(a.value * b.value);
  if (a.is_known() && a.value == 1) return b;
  if (b.is_known() && b.value == 1) return a;
  return Dim{};
}

// a / k for a known positive k; an error when a known a is not divisible.
Status div_dim(const InferContext& ctx, const Dim& a, int64_t k, const char* what, Dim* out) {
  if (k <= 0) return ctx.error(std::string(what) + ": the number of heads must be positive");
  if (!a.is_known()) {
    *out = k == 1 ? a : Dim{};
    return ok_status();
  }
  if (a.value % k != 0)
    return ctx.error(std::string(what) + " hidden size " + std::to_string(a.value) + " is not divisible by " +
                     std::to_string(k) + " heads");
  *out = Dim::known(a.value / k);
  return ok_status();
}

Status check_same(const InferContext& ctx, const Dim& a, const Dim& b, const std::string& what) {
  if (a.is_known() && b.is_known() && a.value != b.value)
    return ctx.error(what + " mismatch: " + std::to_string(a.value) + " vs " + std::to_string(b.value));
  return ok_status();
}

// packed_qkv = 1 (docs/fused-ops.md): input 0 is [B, S, (Hq + 2 Hkv) * D] holding Q, K and V side by side along the
// last axis; inputs 1 and 2 are empty. Self-attention: Sq = Skv = S, and V's head size is D. The head counts are
// positive and q_num_heads a multiple of kv_num_heads (attention_params checked them).
Status infer_attention_packed(InferContext& ctx, const AttentionParams& p) {
  const TypeInfo& x = ctx.input_type(0);
  const DType dt = x.dtype;
  for (size_t i = 0; i < 4; ++i) ctx.set_output_type(i, TypeInfo::tensor_unknown_shape(dt));
  if (ctx.has_input(1) || ctx.has_input(2)) return ctx.error("packed_qkv = 1 takes Q, K and V in input 0 only");
  const int64_t qh = p.q_num_heads, kvh = p.kv_num_heads;
  if (!x.is_tensor() || !x.shape.rank_known) return ok_status();
  if (x.shape.rank() != 3) return ctx.error("packed QKV input must be 3-D, got " + x.shape.to_string());
  const Dim B = dim_at(x, 0), S = dim_at(x, 1);
  Dim D;
  KILN_RETURN_IF_ERROR(div_dim(ctx, dim_at(x, 2), qh + 2 * kvh, "packed QKV", &D));
  Dim past = Dim::known(0);
  if (ctx.has_input(4)) past = dim_at(ctx.input_type(4), 2);
  const Dim total = add_dims(past, S);
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims({B, S, mul_dims(Dim::known(qh), D)})));
  ctx.set_output_type(1, TypeInfo::tensor(dt, Shape::of_dims({B, Dim::known(kvh), total, D})));
  ctx.set_output_type(2, TypeInfo::tensor(dt, Shape::of_dims({B, Dim::known(kvh), total, D})));
  ctx.set_output_type(3, TypeInfo::tensor(dt, Shape::of_dims({B, Dim::known(qh), S, total})));
  return ok_status();
}

Status infer_attention(InferContext& ctx) {
  auto params = attention_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  if (params->packed_qkv) return infer_attention_packed(ctx, *params);
  const TypeInfo& q = ctx.input_type(0);
  const TypeInfo& k = ctx.input_type(1);
  const TypeInfo& v = ctx.input_type(2);
  const DType qdt = q.dtype, kdt = k.known() ? k.dtype : q.dtype, vdt = v.known() ? v.dtype : q.dtype;
  for (size_t i = 0; i < 4; ++i)
    ctx.set_output_type(i, TypeInfo::tensor_unknown_shape(i == 2 ? vdt : i == 1 ? kdt : qdt));
  const bool known =
      q.is_tensor() && k.is_tensor() && v.is_tensor() && q.shape.rank_known && k.shape.rank_known && v.shape.rank_known;
  if (!known) return ok_status();
  const size_t r = q.shape.rank();
  if (r != 3 && r != 4) return ctx.error("Q must be 3-D or 4-D, got " + q.shape.to_string());
  if (k.shape.rank() != r || v.shape.rank() != r) return ctx.error("Q, K and V must have the same rank");
  Dim B = dim_at(q, 0), Hq, Sq, D, Hkv, Skv, Dk, Dv;
  if (r == 4) {
    Hq = dim_at(q, 1), Sq = dim_at(q, 2), D = dim_at(q, 3);
    Hkv = dim_at(k, 1), Skv = dim_at(k, 2), Dk = dim_at(k, 3), Dv = dim_at(v, 3);
  } else {
    const int64_t qh = params->q_num_heads, kvh = params->kv_num_heads;
    if (qh <= 0 || kvh <= 0) return ctx.error("3-D inputs need positive q_num_heads and kv_num_heads");
    Hq = Dim::known(qh), Hkv = Dim::known(kvh), Sq = dim_at(q, 1), Skv = dim_at(k, 1);
    KILN_RETURN_IF_ERROR(div_dim(ctx, dim_at(q, 2), qh, "Q", &D));
    KILN_RETURN_IF_ERROR(div_dim(ctx, dim_at(k, 2), kvh, "K", &Dk));
    KILN_RETURN_IF_ERROR(div_dim(ctx, dim_at(v, 2), kvh, "V", &Dv));
  }
  KILN_RETURN_IF_ERROR(check_same(ctx, D, Dk, "Q/K head size"));
  KILN_RETURN_IF_ERROR(check_same(ctx, B, dim_at(k, 0), "Q/K batch"));
  KILN_RETURN_IF_ERROR(check_same(ctx, B, dim_at(v, 0), "Q/V batch"));
  if (Hq.is_known() && Hkv.is_known() && (Hkv.value == 0 || Hq.value % Hkv.value != 0))
    return ctx.error("q_num_heads must be a multiple of kv_num_heads");
  Dim past = Dim::known(0);
  if (ctx.has_input(4)) past = dim_at(ctx.input_type(4), 2);
  const Dim total = add_dims(past, Skv);
  if (r == 4) {
    ctx.set_output_type(0, TypeInfo::tensor(qdt, Shape::of_dims({B, Hq, Sq, Dv})));
  } else {
    ctx.set_output_type(0, TypeInfo::tensor(qdt, Shape::of_dims({B, Sq, mul_dims(Hq, Dv)})));
  }
  ctx.set_output_type(1, TypeInfo::tensor(kdt, Shape::of_dims({B, Hkv, total, Dk})));
  ctx.set_output_type(2, TypeInfo::tensor(vdt, Shape::of_dims({B, Hkv, total, Dv})));
  ctx.set_output_type(3, TypeInfo::tensor(qdt, Shape::of_dims({B, Hq, Sq, total})));
  return ok_status();
}

Status infer_rotary_embedding(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (x.is_tensor() && x.shape.rank_known && x.shape.rank() != 3 && x.shape.rank() != 4)
    return ctx.error("input must be 3-D or 4-D, got " + x.shape.to_string());
  return infer_same_as_input(ctx, 0, 0);
}

// RNN/GRU/LSTM: Y [S, D, B, H] (layout 0) or [B, S, D, H]; Y_h, Y_c [D, B, H] or [B, D, H].
Status infer_recurrent(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const DType dt = x.dtype;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) ctx.set_output_type(i, TypeInfo::tensor_unknown_shape(dt));
  auto params = rnn_params(ctx.node());
  if (!params.ok()) return ctx.error(params.status().message());
  const int64_t dirs = params->num_directions;
  const bool batch_first = params->batch_first;
  if (x.is_tensor() && x.shape.rank_known && x.shape.rank() != 3)
    return ctx.error("X must be 3-D, got " + x.shape.to_string());
  Dim H = dim_at(ctx.input_type(2), 2);
  if (params->hidden_size >= 0) {
    const Dim attr = Dim::known(params->hidden_size);
    KILN_RETURN_IF_ERROR(check_same(ctx, attr, H, "hidden_size/R"));
    H = attr;
  }
  KILN_RETURN_IF_ERROR(check_same(ctx, Dim::known(dirs), dim_at(ctx.input_type(1), 0), "num_directions/W"));
  const Dim S = dim_at(x, batch_first ? 1 : 0), B = dim_at(x, batch_first ? 0 : 1), D = Dim::known(dirs);
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(batch_first ? std::vector<Dim>{B, S, D, H}
                                                                         : std::vector<Dim>{S, D, B, H})));
  for (size_t i = 1; i < ctx.num_outputs() && i < 3; ++i)
    ctx.set_output_type(
        i, TypeInfo::tensor(dt, Shape::of_dims(batch_first ? std::vector<Dim>{B, D, H} : std::vector<Dim>{D, B, H})));
  return ok_status();
}

// Optimizers: inputs R, T, then `groups` lists of n tensors; output j of list g has the type of that list's
// input (X for the first list, then the state lists after the gradients).
template <int kGroups>
Status infer_optimizer(InferContext& ctx) {
  const size_t rest = ctx.num_inputs() >= 2 ? ctx.num_inputs() - 2 : 0;
  if (rest == 0 || rest % kGroups != 0)
    return ctx.error("expected " + std::to_string(kGroups) + "*n inputs after R and T, got " + std::to_string(rest));
  const size_t n = rest / kGroups;
  for (size_t o = 0; o < ctx.num_outputs(); ++o) {
    const size_t list = o / n, item = o % n;
    const size_t input_list = list == 0 ? 0 : list + 1;  // skip the gradients
    if (input_list >= static_cast<size_t>(kGroups)) return ctx.error("too many outputs");
    ctx.set_output_type(o, ctx.input_type(2 + input_list * n + item));
  }
  return ok_status();
}

}  // namespace

void register_attention_infer(InferRegistry& r) {
  using namespace attention_infer;  // NOLINT
  r.add(OpKind::kAttention, infer_attention);
  r.add(OpKind::kRotaryEmbedding, infer_rotary_embedding);
  for (OpKind op : {OpKind::kRNN, OpKind::kGRU, OpKind::kLSTM}) r.add(op, infer_recurrent);
  r.add(OpKind::kTrainAdagrad, infer_optimizer<3>);
  r.add(OpKind::kTrainAdam, infer_optimizer<4>);
  r.add(OpKind::kTrainMomentum, infer_optimizer<3>);
  r.add(OpKind::kMlLabelEncoder, infer_label_encoder);
  r.add(OpKind::kMlTreeEnsemble, infer_tree_ensemble);
  r.add(OpKind::kMlTreeEnsembleRegressor, infer_tree_ensemble_regressor);
  r.add(OpKind::kMlTreeEnsembleClassifier, infer_tree_ensemble_classifier);
  r.add(OpKind::kMlBinarizer, infer_binarizer);
  r.add(OpKind::kMlArrayFeatureExtractor, infer_array_feature_extractor);
  r.add(OpKind::kMlNormalizer, infer_float_same_shape);
  r.add(OpKind::kMlScaler, infer_float_same_shape);
  r.add(OpKind::kMlLinearRegressor, infer_linear_regressor);
  r.add(OpKind::kMlLinearClassifier, infer_linear_classifier);
}

}  // namespace kiln
