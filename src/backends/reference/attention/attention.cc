// Reference kernel for ONNX Attention (opset 23/24): scaled dot-product attention with GQA, masks, KV cache.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/reference/attention/float_io.h"
#include "backends/reference/attention/kernels.h"
#include "ir/attention_params.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int64_t kMaxElements = int64_t{1} << 31;  // cap on intermediate buffers of this reference kernel

// Q, K or V as [batch, heads, seq, head_size] (attention_shape's view) with its values.
struct HeadView : AttentionHeads {
  const Tensor* t = nullptr;
  std::vector<double> vals;

  HeadView(const Tensor& tensor, const AttentionHeads& h) : AttentionHeads(h), t(&tensor), vals(read_doubles(tensor)) {}
  int64_t offset(int64_t b, int64_t h, int64_t s, int64_t d) const {
    if (three_d) return ((b * seq + s) * heads + h) * head_size + d;
    return ((b * heads + h) * seq + s) * head_size + d;
  }
  double at(int64_t b, int64_t h, int64_t s, int64_t d) const { return vals[offset(b, h, s, d)]; }
};

// present = concat(past, new) along the sequence axis, in the new tensor's dtype, as [B, H, S_past + S, D].
Result<Tensor> concat_cache(const Tensor* past, const HeadView& cur) {
  const int64_t past_len = past ? past->dim(2) : 0;
  const int64_t total = past_len + cur.seq;
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(cur.t->dtype(), {cur.batch, cur.heads, total, cur.head_size}));
  const size_t es = dtype_size(cur.t->dtype());
  const auto* src_new = static_cast<const uint8_t*>(cur.t->raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t b = 0; b < cur.batch; ++b) {
    for (int64_t h = 0; h < cur.heads; ++h) {
      for (int64_t s = 0; s < total; ++s) {
        uint8_t* row = dst + (((b * cur.heads + h) * total + s) * cur.head_size) * es;
        if (s < past_len) {
          const auto* src = static_cast<const uint8_t*>(past->raw());
          std::memcpy(row, src + (((b * cur.heads + h) * past_len + s) * cur.head_size) * es, cur.head_size * es);
        } else {
          std::memcpy(row, src_new + cur.offset(b, h, s - past_len, 0) * es, cur.head_size * es);
        }
      }
    }
  }
  return out;
}

// Checks a past cache against the new K/V: [B, H, S_past, D] with the same dtype.
Status check_past(const KernelContext& ctx, const Tensor& past, const HeadView& cur, const char* name) {
  if (past.rank() != 4 || past.dim(0) != cur.batch || past.dim(1) != cur.heads || past.dim(3) != cur.head_size)
    return ctx.error(std::string(name) + " must have shape [" + std::to_string(cur.batch) + "," +
                     std::to_string(cur.heads) + ",past_seq," + std::to_string(cur.head_size) + "], got " +
                     dims_str(past.dims()));
  if (past.dtype() != cur.t->dtype())
    return ctx.error(std::string(name) + " dtype " + dtype_name(past.dtype()) + " differs from the new values' " +
                     dtype_name(cur.t->dtype()));
  return ok_status();
}

// The attention mask broadcast to [B, Hq, Sq, total]; its last dim may be shorter than total (rest masked).
struct MaskView {
  bool present = false;
  bool is_bool = false;
  std::vector<double> vals;
  Dims dims4;  // mask dims left-padded with 1 to rank 4
  std::vector<int64_t> strides4;

  double bias(int64_t b, int64_t h, int64_t i, int64_t j) const {
    if (!present) return 0.0;
    if (j >= dims4[3]) return kNegInf;
    int64_t idx[4] = {b, h, i, j};
    int64_t off = 0;
    for (int k = 0; k < 4; ++k) off += (dims4[k] == 1 ? 0 : idx[k]) * strides4[k];
    double v = vals[off];
    if (is_bool) return v != 0.0 ? 0.0 : kNegInf;
    return v;
  }
};

Status make_mask(const KernelContext& ctx, const Tensor& m, const Dims& target, MaskView* mv) {
  if (m.rank() > 4) return ctx.error("attn_mask must have rank <= 4, got " + dims_str(m.dims()));
  if (m.dtype() != DType::kBool && !is_compute_float(m.dtype()))
    return ctx.unsupported(std::string("attn_mask dtype ") + dtype_name(m.dtype()) + " is not supported");
  mv->present = true;
  mv->is_bool = m.dtype() == DType::kBool;
  auto d4 = attention_mask_dims(m.dims(), target);
  if (!d4.ok()) return ctx.error(d4.status().message());
  mv->dims4 = *d4;
  mv->strides4 = strides_of(mv->dims4);
  mv->vals = read_doubles(m);
  return ok_status();
}

// packed_qkv = 1: input 0 holds Q, K and V side by side on the last axis (shape `s`) and inputs 1 and 2 are empty.
// Copies it out into the dense 3-D Q [B, S, Hq*D], K and V [B, S, Hkv*D] that the rest of the kernel reads.
Status split_packed(const KernelContext& ctx, AttentionShape* s, Tensor* q, Tensor* k, Tensor* v) {
  const Tensor& x = ctx.input(0);
  const int64_t rows = x.dim(0) * x.dim(1);
  const size_t es = dtype_size(x.dtype());
  int64_t col = 0;
  for (auto [t, h] : {std::pair{q, &s->q}, std::pair{k, &s->k}, std::pair{v, &s->v}}) {
    const int64_t width = h->heads * h->head_size;
    KILN_ASSIGN_OR_RETURN(*t, Tensor::allocate(x.dtype(), {x.dim(0), x.dim(1), width}));
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<uint8_t*>(t->raw()) + r * width * es,
                  static_cast<const uint8_t*>(x.raw()) + (r * x.dim(2) + col) * es, width * es);
    col += width;
    h->row = width;  // now dense
  }
  return ok_status();
}

}  // namespace

Status attention_kernel(KernelContext& ctx) {
  auto params = attention_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const AttentionParams& a = *params;
  const bool packed = a.packed_qkv;
  for (size_t i = 0; i < (packed ? 1 : 3); ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    const DType dt = ctx.input(i).dtype();
    if (!is_compute_float(dt))
      return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported for Q/K/V");
  }
  if (packed && (ctx.has_input(1) || ctx.has_input(2)))
    return ctx.error("packed_qkv = 1 takes Q, K and V in input 0 only");
  if (!packed && ctx.input(1).dtype() != ctx.input(0).dtype()) return ctx.error("K dtype must equal Q dtype");
  auto shape = packed ? attention_packed_shape(a, ctx.input(0).dims())
                      : attention_shape(a, ctx.input(0).dims(), ctx.input(1).dims(), ctx.input(2).dims());
  if (!shape.ok()) return ctx.error(shape.status().message());
  Tensor q_split, k_split, v_split;
  if (packed) KILN_RETURN_IF_ERROR(split_packed(ctx, &*shape, &q_split, &k_split, &v_split));
  const Tensor& q = packed ? q_split : ctx.input(0);
  const Tensor& k = packed ? k_split : ctx.input(1);
  const Tensor& v = packed ? v_split : ctx.input(2);
  const AttentionQkMode mode = a.qk_mode;
  const bool causal = a.is_causal;
  const double softcap = a.softcap;

  const HeadView qv(q, shape->q), kv(k, shape->k), vv(v, shape->v);

  const Tensor* past_k = ctx.has_input(4) ? &ctx.input(4) : nullptr;
  const Tensor* past_v = ctx.has_input(5) ? &ctx.input(5) : nullptr;
  if ((past_k == nullptr) != (past_v == nullptr)) return ctx.error("past_key and past_value must be given together");
  if (past_k) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(4));
    KILN_RETURN_IF_ERROR(ctx.require_tensor(5));
    KILN_RETURN_IF_ERROR(check_past(ctx, *past_k, kv, "past_key"));
    KILN_RETURN_IF_ERROR(check_past(ctx, *past_v, vv, "past_value"));
    if (past_k->dim(2) != past_v->dim(2)) return ctx.error("past_key and past_value sequence lengths differ");
  }
  const int64_t past_len = past_k ? past_k->dim(2) : 0;
  KILN_ASSIGN_OR_RETURN(Tensor present_k, concat_cache(past_k, kv));
  KILN_ASSIGN_OR_RETURN(Tensor present_v, concat_cache(past_v, vv));
  const int64_t total = past_len + kv.seq;
  const int64_t B = qv.batch, Hq = qv.heads, Sq = qv.seq, D = qv.head_size, Dv = vv.head_size;
  const int64_t group = Hq / kv.heads;

  MaskView mask;
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(3));
    KILN_RETURN_IF_ERROR(make_mask(ctx, ctx.input(3), {B, Hq, Sq, total}, &mask));
  }
  std::vector<int64_t> nonpad;
  if (ctx.has_input(6)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(6));
    const Tensor& np = ctx.input(6);
    if (!is_integer(np.dtype())) return ctx.error("nonpad_kv_seqlen must be an integer tensor");
    if (np.rank() != 1 || np.dim(0) != B)
      return ctx.error("nonpad_kv_seqlen must have shape [" + std::to_string(B) + "], got " + dims_str(np.dims()));
    nonpad = tensor_to_int64s(np);
  }

  const Dims y_dims = shape->y_dims();
  const int64_t y_numel = dims_numel(y_dims), qk_numel = dims_numel({B, Hq, Sq, total});
  if (y_numel < 0 || qk_numel < 0 || y_numel > kMaxElements || (ctx.wants_output(3) && qk_numel > kMaxElements))
    return ctx.error("output is too large");
  const std::vector<double> pk = read_doubles(present_k);
  const std::vector<double> pv = read_doubles(present_v);
  const double scale = a.scale_for(D);
  const double sqrt_scale = std::sqrt(scale);

  std::vector<double> y(static_cast<size_t>(B * Hq * Sq * Dv), 0.0);
  std::vector<double> qk_out(ctx.wants_output(3) ? static_cast<size_t>(B * Hq * Sq * total) : 0, 0.0);
  std::vector<double> scores(static_cast<size_t>(total));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kh = h / group;
      for (int64_t i = 0; i < Sq; ++i) {
        for (int64_t j = 0; j < total; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d)
            dot += (qv.at(b, h, i, d) * sqrt_scale) * (pk[((b * kv.heads + kh) * total + j) * D + d] * sqrt_scale);
          double bias = mask.bias(b, h, i, j);
          if (causal && j > i + past_len) bias += kNegInf;
          if (!nonpad.empty() && j >= nonpad[b]) bias += kNegInf;
          const double with_bias = dot + bias;
          // Softcap applies to the biased scores (as in the ONNX reference), but a masked-out score (-inf)
          // stays -inf rather than becoming -softcap, so masked keys keep zero weight.
          double capped = with_bias;
          if (softcap > 0.0 && with_bias != kNegInf) capped = softcap * std::tanh(with_bias / softcap);
          scores[j] = capped;
          if (!qk_out.empty()) {
            const double rec = mode == AttentionQkMode::kMatMul     ? dot
                               : mode == AttentionQkMode::kWithBias ? with_bias
                                                                    : capped;
            qk_out[((b * Hq + h) * Sq + i) * total + j] = rec;
          }
        }
        // Softmax over the key axis (an all -inf row gives NaN, as the ONNX reference does).
        double mx = kNegInf;
        for (int64_t j = 0; j < total; ++j) mx = std::isnan(scores[j]) || scores[j] > mx ? scores[j] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < total; ++j) {
          scores[j] = std::exp(scores[j] - mx);
          sum += scores[j];
        }
        for (int64_t j = 0; j < total; ++j) {
          scores[j] /= sum;
          if (mode == AttentionQkMode::kSoftmax && !qk_out.empty())
            qk_out[((b * Hq + h) * Sq + i) * total + j] = scores[j];
        }
        for (int64_t d = 0; d < Dv; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < total; ++j) acc += scores[j] * pv[((b * kv.heads + kh) * total + j) * Dv + d];
          // Y is [B, Hq, Sq, Dv] for 4-D inputs and [B, Sq, Hq * Dv] for 3-D ones.
          const int64_t off = qv.three_d ? ((b * Sq + i) * Hq + h) * Dv + d : ((b * Hq + h) * Sq + i) * Dv + d;
          y[off] = acc;
        }
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor y_t, make_tensor_from_doubles(q.dtype(), y_dims, y));
  ctx.set_output(0, std::move(y_t));
  if (ctx.wants_output(1)) ctx.set_output(1, present_k);
  if (ctx.wants_output(2)) ctx.set_output(2, present_v);
  if (ctx.wants_output(3)) {
    KILN_ASSIGN_OR_RETURN(Tensor qk_t, make_tensor_from_doubles(q.dtype(), {B, Hq, Sq, total}, qk_out));
    ctx.set_output(3, std::move(qk_t));
  }
  return ok_status();
}

}  // namespace kiln
