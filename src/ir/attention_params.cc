// Typed parameters and shape rules of Attention (see attention_params.h).
#include "ir/attention_params.h"

#include <cmath>
#include <string>

namespace kiln {
namespace {

std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Result<bool> flag(const Attrs& a, const char* name) {
  const int64_t v = a.get_int(name, 0);
  if (v != 0 && v != 1) return invalid_argument(std::string(name) + " must be 0 or 1; got " + std::to_string(v));
  return v == 1;
}

// Input `index` (0 Q, 1 K, 2 V) of rank 3 or 4 as [batch, heads, seq, head_size].
Result<AttentionHeads> heads_of(const AttentionParams& p, const Dims& d, int index) {
  static const char* kNames[] = {"Q", "K", "V"};
  const char* name = kNames[index];
  const char* attr = index == 0 ? "q_num_heads" : "kv_num_heads";
  AttentionHeads h;
  h.batch = d[0];
  if (d.size() == 4) {
    h.heads = d[1];
    h.seq = d[2];
    h.head_size = d[3];
    return h;
  }
  const int64_t heads = index == 0 ? p.q_num_heads : p.kv_num_heads;
  if (heads <= 0) return invalid_argument(std::string("3-D input ") + name + " needs a positive " + attr);
  if (d[2] % heads != 0)
    return invalid_argument(std::string("hidden size of ") + name + " (" + std::to_string(d[2]) +
                            ") is not divisible by " + attr + " (" + std::to_string(heads) + ")");
  h.three_d = true;
  h.heads = heads;
  h.seq = d[1];
  h.head_size = d[2] / heads;
  h.row = d[2];
  return h;
}

// The checks between Q, K and V that hold for every input form.
Status check_agree(const AttentionShape& s) {
  if (s.k.batch != s.q.batch || s.v.batch != s.q.batch)
    return invalid_argument("Q, K and V must have the same batch size");
  if (s.k.heads != s.v.heads || s.k.seq != s.v.seq)
    return invalid_argument("K and V must have the same number of heads and sequence length");
  if (s.k.head_size != s.q.head_size)
    return invalid_argument("K head size (" + std::to_string(s.k.head_size) + ") must equal Q head size (" +
                            std::to_string(s.q.head_size) + ")");
  if (s.k.heads <= 0 || s.q.heads % s.k.heads != 0)
    return invalid_argument("q_num_heads (" + std::to_string(s.q.heads) + ") must be a multiple of kv_num_heads (" +
                            std::to_string(s.k.heads) + ")");
  return ok_status();
}

}  // namespace

double AttentionParams::scale_for(int64_t head_size) const {
  return has_scale ? static_cast<double>(scale) : 1.0 / std::sqrt(static_cast<double>(head_size));
}

Result<AttentionParams> attention_params(const Attrs& a) {
  AttentionParams p;
  p.q_num_heads = a.get_int("q_num_heads", 0);
  p.kv_num_heads = a.get_int("kv_num_heads", 0);
  if (p.q_num_heads < 0)
    return invalid_argument("q_num_heads must not be negative; got " + std::to_string(p.q_num_heads));
  if (p.kv_num_heads < 0)
    return invalid_argument("kv_num_heads must not be negative; got " + std::to_string(p.kv_num_heads));
  if (p.q_num_heads > 0 && p.kv_num_heads > 0 && p.q_num_heads % p.kv_num_heads != 0)
    return invalid_argument("q_num_heads (" + std::to_string(p.q_num_heads) + ") must be a multiple of kv_num_heads (" +
                            std::to_string(p.kv_num_heads) + ")");
  KILN_ASSIGN_OR_RETURN(p.is_causal, flag(a, "is_causal"));
  KILN_ASSIGN_OR_RETURN(p.packed_qkv, flag(a, "packed_qkv"));
  if (p.packed_qkv && (p.q_num_heads <= 0 || p.kv_num_heads <= 0))
    return invalid_argument("packed_qkv = 1 needs positive q_num_heads and kv_num_heads");
  p.has_scale = a.has("scale");
  p.scale = a.get_float("scale", 0.f);
  p.softcap = a.get_float("softcap", 0.f);
  const int64_t mode = a.get_int("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3)
    return invalid_argument("qk_matmul_output_mode must be in 0..3; got " + std::to_string(mode));
  p.qk_mode = static_cast<AttentionQkMode>(mode);
  if (a.has("softmax_precision")) {
    const int64_t v = a.get_int("softmax_precision", 0);
    DType t = DType::kUndefined;
    if (!dtype_from_int(v, &t) ||
        (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16 && t != DType::kBFloat16))
      return invalid_argument("softmax_precision " + std::to_string(v) +
                              " is not a floating-point type (float16, float, double or bfloat16)");
    p.has_softmax_precision = true;
    p.softmax_precision = t;
  }
  return p;
}

Dims AttentionShape::y_dims() const {
  if (q.three_d) return Dims{q.batch, q.seq, q.heads * v.head_size};
  return Dims{q.batch, q.heads, q.seq, v.head_size};
}

Result<AttentionShape> attention_shape(const AttentionParams& p, const Dims& q, const Dims& k, const Dims& v) {
  if (q.size() != 3 && q.size() != 4) return invalid_argument("Q must be 3-D or 4-D, got " + dims_str(q));
  if (k.size() != q.size() || v.size() != q.size())
    return invalid_argument("Q, K and V must have the same rank, got " + dims_str(q) + ", " + dims_str(k) + ", " +
                            dims_str(v));
  AttentionShape s;
  KILN_ASSIGN_OR_RETURN(s.q, heads_of(p, q, 0));
  KILN_ASSIGN_OR_RETURN(s.k, heads_of(p, k, 1));
  KILN_ASSIGN_OR_RETURN(s.v, heads_of(p, v, 2));
  KILN_RETURN_IF_ERROR(check_agree(s));
  return s;
}

Result<AttentionShape> attention_packed_shape(const AttentionParams& p, const Dims& x) {
  if (x.size() != 3) return invalid_argument("packed QKV input must be 3-D, got " + dims_str(x));
  const int64_t hq = p.q_num_heads, hkv = p.kv_num_heads;
  if (hq <= 0 || hkv <= 0 || x[2] % (hq + 2 * hkv) != 0)
    return invalid_argument("packed QKV width " + std::to_string(x[2]) +
                            " must be (q_num_heads + 2 * kv_num_heads) * head_size with positive head counts");
  const int64_t d = x[2] / (hq + 2 * hkv);
  AttentionShape s;
  s.packed = true;
  for (AttentionHeads* h : {&s.q, &s.k, &s.v}) {
    h->three_d = true;
    h->batch = x[0];
    h->heads = h == &s.q ? hq : hkv;
    h->seq = x[1];
    h->head_size = d;
    h->row = x[2];
  }
  s.k_col = hq * d;
  s.v_col = (hq + hkv) * d;
  KILN_RETURN_IF_ERROR(check_agree(s));
  return s;
}

Result<Dims> attention_mask_dims(const Dims& mask, const Dims& target) {
  if (mask.size() > 4) return invalid_argument("attn_mask must have rank <= 4, got " + dims_str(mask));
  Dims d4(4 - mask.size(), 1);
  d4.insert(d4.end(), mask.begin(), mask.end());
  for (size_t k = 0; k < 4; ++k) {
    const bool ok = k == 3 ? d4[k] <= target[3] : (d4[k] == 1 || d4[k] == target[k]);
    if (!ok)
      return invalid_argument("attn_mask shape " + dims_str(mask) + " does not broadcast to " + dims_str(target) +
                              " (the last dim may be shorter than the total sequence length)");
  }
  return d4;
}

}  // namespace kiln
