// ONNX Attention (opset 23+) on float32 without a KV cache: scaled dot-product attention with GQA, 3-D / 4-D /
// packed QKV inputs, additive or boolean masks (last dim may be shorter: the rest is masked) and is_causal.
// One (batch, head) per work item: Q.K^T and P.V are oneDNN sgemm calls (single-threaded inside the parallel
// region), the mask / causal bias and softmax are vectorized rows in between.
#include <oneapi/dnnl/dnnl.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/attention.h"
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/norm_rows.h"
#include "backends/cpu/kernels/vec_math.h"

namespace kiln::cpu::kern {
namespace {

// One of Q, K, V: element (b, h, s, d) at p[b * sb + h * sh + s * ss + d].
struct View {
  const float* p = nullptr;
  int64_t sb = 0, sh = 0, ss = 0;
  int64_t heads = 0, seq = 0, hs = 0;  // head count, sequence length, head size
  const float* row(int64_t b, int64_t h, int64_t s) const { return p + b * sb + h * sh + s * ss; }
};

Status view_of(const CpuKernelContext& ctx, const Tensor& t, int64_t heads_attr, const char* name, View* v) {
  if (t.dtype() != DType::kFloat32) return ctx.error(std::string(name) + " must be float32");
  v->p = t.data<float>();
  if (t.rank() == 4) {
    v->heads = t.dim(1);
    v->seq = t.dim(2);
    v->hs = t.dim(3);
    v->ss = v->hs;
    v->sh = v->seq * v->hs;
    v->sb = v->heads * v->sh;
    return ok_status();
  }
  if (t.rank() != 3) return ctx.error(std::string(name) + " must be 3-D or 4-D, got " + dims_to_string(t.dims()));
  if (heads_attr <= 0 || t.dim(2) % heads_attr != 0)
    return ctx.error(std::string("3-D ") + name + " needs q_num_heads/kv_num_heads dividing its hidden size");
  v->heads = heads_attr;
  v->seq = t.dim(1);
  v->hs = t.dim(2) / heads_attr;
  v->sh = v->hs;
  v->ss = t.dim(2);
  v->sb = v->seq * v->ss;
  return ok_status();
}

// The mask broadcast to [B, Hq, Sq, total] (last dim possibly shorter), as float bias or bool.
struct Mask {
  const float* f = nullptr;
  const uint8_t* b = nullptr;
  int64_t s[4] = {0, 0, 0, 0};
  int64_t last = 0;  // the mask's own last dim
};

Status mask_of(const CpuKernelContext& ctx, const Tensor& m, const int64_t target[4], Mask* mk) {
  if (m.rank() > 4) return ctx.error("attn_mask must have rank <= 4, got " + dims_to_string(m.dims()));
  if (m.dtype() == DType::kFloat32) mk->f = m.data<float>();
  else if (m.dtype() == DType::kBool) mk->b = m.data<uint8_t>();
  else return ctx.unsupported(std::string("attn_mask dtype ") + dtype_name(m.dtype()));
  Dims d4(4 - m.rank(), 1);
  for (int64_t d : m.dims()) d4.push_back(d);
  const auto st = strides(d4);
  for (int k = 0; k < 4; ++k) {
    const bool ok = k == 3 ? d4[3] <= target[3] : (d4[k] == 1 || d4[k] == target[k]);
    if (!ok)
      return ctx.error("attn_mask shape " + dims_to_string(m.dims()) + " does not broadcast to [" +
                       std::to_string(target[0]) + "," + std::to_string(target[1]) + "," + std::to_string(target[2]) +
                       "," + std::to_string(target[3]) + "]");
    mk->s[k] = d4[k] == 1 && k < 3 ? 0 : st[k];
  }
  mk->last = d4[3];
  return ok_status();
}

}  // namespace

NodeSupport attention_supports(const Graph& g, const Node& n) {
  for (size_t i = 4; i < n.inputs.size(); ++i)
    if (n.has_input(i)) return NodeSupport::no("past KV cache / nonpad_kv_seqlen inputs");
  for (size_t i = 1; i < n.outputs.size(); ++i)
    if (n.has_output(i)) return NodeSupport::no("present KV / qk_matmul outputs");
  if (n.attrs.get_float("softcap", 0.f) != 0.f) return NodeSupport::no("softcap");
  const bool packed = n.attrs.get_int("packed_qkv", 0) != 0;
  NodeSupport s = require_dtypes(g, n, packed ? std::vector<size_t>{0} : std::vector<size_t>{0, 1, 2}, {DType::kFloat32});
  if (!s.supported) return s;
  if (n.has_input(3)) return require_dtypes(g, n, {3}, {DType::kFloat32, DType::kBool});
  return NodeSupport::yes();
}

Status attention_run(CpuKernelContext& ctx) {
  const Attrs& a = ctx.attrs();
  const bool packed = a.get_int("packed_qkv", 0) != 0;
  const int64_t hq_attr = a.get_int("q_num_heads", 0), hkv_attr = a.get_int("kv_num_heads", 0);
  View q, k, v;
  if (packed) {
    if (ctx.has_input(1) || ctx.has_input(2)) return ctx.error("packed_qkv = 1 takes Q, K and V in input 0 only");
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kFloat32 || x.rank() != 3) return ctx.error("packed QKV input must be 3-D float32");
    if (hq_attr <= 0 || hkv_attr <= 0 || x.dim(2) % (hq_attr + 2 * hkv_attr) != 0)
      return ctx.error("packed QKV width must be (q_num_heads + 2 * kv_num_heads) * head_size");
    const int64_t d = x.dim(2) / (hq_attr + 2 * hkv_attr), w = x.dim(2);
    const float* base = x.data<float>();
    q = View{base, x.dim(1) * w, d, w, hq_attr, x.dim(1), d};
    k = View{base + hq_attr * d, x.dim(1) * w, d, w, hkv_attr, x.dim(1), d};
    v = View{base + (hq_attr + hkv_attr) * d, x.dim(1) * w, d, w, hkv_attr, x.dim(1), d};
  } else {
    for (size_t i = 0; i < 3; ++i)
      if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is required");
    if (ctx.input(1).rank() != ctx.input(0).rank() || ctx.input(2).rank() != ctx.input(0).rank())
      return ctx.error("Q, K and V must have the same rank");
    KILN_RETURN_IF_ERROR(view_of(ctx, ctx.input(0), hq_attr, "Q", &q));
    KILN_RETURN_IF_ERROR(view_of(ctx, ctx.input(1), hkv_attr, "K", &k));
    KILN_RETURN_IF_ERROR(view_of(ctx, ctx.input(2), hkv_attr, "V", &v));
  }
  const bool three_d = packed || ctx.input(0).rank() == 3;
  const int64_t B = packed ? ctx.input(0).dim(0) : ctx.input(0).dim(0);
  if (!packed && (ctx.input(1).dim(0) != B || ctx.input(2).dim(0) != B)) return ctx.error("Q, K and V batch sizes differ");
  if (k.heads != v.heads || k.seq != v.seq) return ctx.error("K and V must have the same heads and sequence length");
  if (k.hs != q.hs) return ctx.error("K head size must equal Q head size");
  if (k.heads <= 0 || q.heads % k.heads != 0) return ctx.error("q_num_heads must be a multiple of kv_num_heads");
  const int64_t Hq = q.heads, Sq = q.seq, D = q.hs, Dv = v.hs, T = k.seq, group = Hq / k.heads;
  const bool causal = a.get_int("is_causal", 0) != 0;
  const float scale = a.has("scale") ? a.get_float("scale") : 1.0f / std::sqrt(static_cast<float>(D));
  Mask mask;
  const bool has_mask = ctx.has_input(3);
  if (has_mask) {
    const int64_t target[4] = {B, Hq, Sq, T};
    KILN_RETURN_IF_ERROR(mask_of(ctx, ctx.input(3), target, &mask));
  }
  const Dims y_dims = three_d ? Dims{B, Sq, Hq * Dv} : Dims{B, Hq, Sq, Dv};
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, y_dims));
  float* yp = y->data<float>();
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t work = B * Hq * Sq * T * (D + Dv) / 4;
  const int64_t ldy = three_d ? Hq * Dv : Dv;
  // The per-(batch, head) products are small: each runs on one thread (the heads are what is split across threads).
  const GemmThreadsGuard restore_threads{ctx.num_threads()};
  set_gemm_threads(1);
  bool failed = false;
  parallel_range(threads_for(ctx, work), B * Hq, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> sc;
    sc.resize(static_cast<size_t>(Sq * T));
    for (int64_t it = begin; it < end; ++it) {
      const int64_t b = it / Hq, h = it % Hq, kh = h / group;
      float* y0 = three_d ? yp + (b * Sq * Hq + h) * Dv : yp + (b * Hq + h) * Sq * Dv;
      if (T == 0) {  // no keys: every output row is 0 (the reference's empty sum)
        for (int64_t i = 0; i < Sq; ++i)
          for (int64_t d = 0; d < Dv; ++d) y0[i * ldy + d] = 0.f;
        continue;
      }
      // scores = scale * Q . K^T  [Sq, T]
      if (dnnl_sgemm('N', 'T', Sq, T, D, scale, q.row(b, h, 0), q.ss, k.row(b, kh, 0), k.ss, 0.f, sc.data(), T) !=
          dnnl_success) {
        failed = true;
        return;
      }
      for (int64_t i = 0; i < Sq; ++i) {
        float* s = sc.data() + i * T;
        if (has_mask) {
          const int64_t off = b * mask.s[0] + h * mask.s[1] + i * mask.s[2];
          const int64_t lim = std::min(T, mask.last);
          if (mask.f) {
            for (int64_t j = 0; j < lim; ++j) s[j] += mask.f[off + j * mask.s[3]];
          } else {
            for (int64_t j = 0; j < lim; ++j) s[j] = mask.b[off + j * mask.s[3]] ? s[j] : ninf;
          }
          for (int64_t j = lim; j < T; ++j) s[j] = ninf;
        }
        if (causal)
          for (int64_t j = i + 1; j < T; ++j) s[j] = ninf;
        const float m = row_max(s, T);
        const float sum = row_exp_sum(s, s, T, m);
        row_scale(s, T, 1.0f / sum);
      }
      // Y = P . V  [Sq, Dv]
      if (dnnl_sgemm('N', 'N', Sq, Dv, T, 1.f, sc.data(), T, v.row(b, kh, 0), v.ss, 0.f, y0, ldy) != dnnl_success) {
        failed = true;
        return;
      }
    }
  });
  if (failed) return ctx.error("oneDNN sgemm failed");
  return ok_status();
}

}  // namespace kiln::cpu::kern
