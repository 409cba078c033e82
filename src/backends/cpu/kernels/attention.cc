// ONNX Attention (opset 23+) on float32 without a KV cache: scaled dot-product attention with GQA, 3-D / 4-D /
// packed QKV inputs, additive or boolean masks (last dim may be shorter: the rest is masked) and is_causal.
// One (batch, head) per work item: Q.K^T and P.V are oneDNN sgemm calls (single-threaded inside the parallel
// region), the mask / causal bias and softmax are vectorized rows in between. In bf16 engines on CPUs with native
// bf16 (use_bf16: AMX / AVX512-BF16) and heads of at least kBf16MinHeadWork multiply-adds, both products are oneDNN
// bf16 matmuls instead (Q, K, V and the probabilities rounded to bf16, float32 accumulation and softmax), as the
// engine's other matmuls are: Whisper's 1500-token attention was 70% of its bf16 run at float32 speed.
#include "backends/cpu/kernels/attention.h"

#include <oneapi/dnnl/dnnl.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/onednn/common.h"
#include "core/float_formats.h"
#include "backends/cpu/kernels/norm_rows.h"
#include "backends/cpu/kernels/vec_math.h"
#include "ir/attention_params.h"

namespace kiln::cpu::kern {
namespace {

// One of Q, K, V: element (b, h, s, d) at p[b * sb + h * sh + s * ss + d].
struct View {
  const float* p = nullptr;
  int64_t sb = 0, sh = 0, ss = 0;
  int64_t heads = 0, seq = 0, hs = 0;  // head count, sequence length, head size
  const float* row(int64_t b, int64_t h, int64_t s) const { return p + b * sb + h * sh + s * ss; }
};

// The strided view of `h` (attention_shape's) in a tensor starting at `p`.
View view_of(const float* p, const AttentionHeads& h) {
  View v{p, 0, 0, 0, h.heads, h.seq, h.head_size};
  if (h.three_d) {
    v.sh = h.head_size;
    v.ss = h.row;
    v.sb = h.seq * h.row;
  } else {
    v.ss = h.head_size;
    v.sh = h.seq * h.head_size;
    v.sb = h.heads * v.sh;
  }
  return v;
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
  auto dims4 = attention_mask_dims(m.dims(), Dims(target, target + 4));
  if (!dims4.ok()) return ctx.error(dims4.status().message());
  const Dims& d4 = *dims4;
  const auto st = strides(d4);
  for (int k = 0; k < 4; ++k) mk->s[k] = d4[k] == 1 && k < 3 ? 0 : st[k];
  mk->last = d4[3];
  return ok_status();
}

// Row i of (batch b, head h)'s scores [T]: the mask (additive, or boolean: false -> -inf; columns past its last dim
// -inf), the causal bias, then softmax in place.
void masked_softmax_row(float* s, int64_t T, const Mask* mask, bool causal, int64_t b, int64_t h, int64_t i) {
  const float ninf = -std::numeric_limits<float>::infinity();
  if (mask) {
    const int64_t off = b * mask->s[0] + h * mask->s[1] + i * mask->s[2];
    const int64_t lim = std::min(T, mask->last);
    if (mask->f) {
      for (int64_t j = 0; j < lim; ++j) s[j] += mask->f[off + j * mask->s[3]];
    } else {
      for (int64_t j = 0; j < lim; ++j) s[j] = mask->b[off + j * mask->s[3]] ? s[j] : ninf;
    }
    for (int64_t j = lim; j < T; ++j) s[j] = ninf;
  }
  if (causal)
    for (int64_t j = i + 1; j < T; ++j) s[j] = ninf;
  const float m = row_max(s, T);
  const float sum = row_exp_sum(s, s, T, m);
  row_scale(s, T, 1.0f / sum);
}


// The two bf16 matmuls of one block of `m` query rows of a head: S[m, T] = scale * Qb[m, D] . Kb[T, D]^T (f32 out)
// and Y[m, Dv] (row stride ldy) = Pb[m, T] . Vb[T, Dv]. Blocks of kQueryBlock rows keep the f32 scores and the bf16
// probabilities in L2 (all 1500 rows of Whisper's scores are 9 MB, and writing them was the matmul's bound).
constexpr int64_t kQueryBlock = 64;
// Multiply-adds of one head's Q.K^T below which the float32 sgemm path stays: converting Q, K, V and P to bf16 and
// running two oneDNN primitives per block cost more than AMX saved on BERT's 128 x 128 x 64 heads (DistilBERT bf16
// batch 1: 14.8 -> 15.9 ms) and on small models (a 4-head, 64-wide block: 0.037 -> 0.057 ms).
constexpr int64_t kBf16MinHeadWork = int64_t{256} * 256 * 64;
struct Bf16Block {
  int64_t m = -1;
  dnnl::matmul qk, pv;
  dnnl::memory::desc q_md, kt_md, s_md, p_md, v_md, y_md, qk_scratch, pv_scratch;
};
struct Bf16Products {
  int64_t sq = -1, t = -1, d = -1, dv = -1, ldy = -1;
  float scale = 0;
  Bf16Block full, tail;  // kQueryBlock rows, and the last block's Sq % kQueryBlock rows
};

void build_block(Bf16Block& st, int64_t m, int64_t t, int64_t d, int64_t dv, int64_t ldy, float scale) {
  using dnnl::memory;
  const auto bf16 = memory::data_type::bf16, f32 = memory::data_type::f32;
  st.m = m;
  if (m <= 0) return;
  st.q_md = memory::desc({m, d}, bf16, memory::dims{d, 1});
  st.kt_md = memory::desc({d, t}, bf16, memory::dims{1, d});  // K [T, D] read as K^T
  st.s_md = memory::desc({m, t}, f32, memory::dims{t, 1});
  st.p_md = memory::desc({m, t}, bf16, memory::dims{t, 1});
  st.v_md = memory::desc({t, dv}, bf16, memory::dims{dv, 1});
  st.y_md = memory::desc({m, dv}, f32, memory::dims{ldy, 1});
  dnnl::primitive_attr qa, pa;
  qa.set_output_scales(0, {scale});
  qa.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  pa.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc qk(dnnl::matmul::desc(st.q_md, st.kt_md, st.s_md), qa, onednn::engine());
  dnnl::matmul::primitive_desc pv(dnnl::matmul::desc(st.p_md, st.v_md, st.y_md), pa, onednn::engine());
  st.qk = dnnl::matmul(qk);
  st.pv = dnnl::matmul(pv);
  st.qk_scratch = qk.scratchpad_desc();
  st.pv_scratch = pv.scratchpad_desc();
}

void build_products(Bf16Products& st, int64_t sq, int64_t t, int64_t d, int64_t dv, int64_t ldy, float scale) {
  build_block(st.full, std::min(sq, kQueryBlock), t, d, dv, ldy, scale);
  build_block(st.tail, sq > kQueryBlock ? sq % kQueryBlock : 0, t, d, dv, ldy, scale);
  st.sq = sq, st.t = t, st.d = d, st.dv = dv, st.ldy = ldy, st.scale = scale;
}

}  // namespace

NodeSupport attention_supports(const Graph& g, const Node& n) {
  for (size_t i = 4; i < n.inputs.size(); ++i)
    if (n.has_input(i)) return NodeSupport::no("past KV cache / nonpad_kv_seqlen inputs");
  for (size_t i = 1; i < n.outputs.size(); ++i)
    if (n.has_output(i)) return NodeSupport::no("present KV / qk_matmul outputs");
  auto params = attention_params(n.attrs);
  if (!params.ok()) return NodeSupport::no(params.status().message());
  if (params->has_softcap()) return NodeSupport::no("softcap");
  const bool packed = params->packed_qkv;
  NodeSupport s = require_dtypes(g, n, packed ? std::vector<size_t>{0} : std::vector<size_t>{0, 1, 2}, {DType::kFloat32});
  if (!s.supported) return s;
  if (n.has_input(3)) return require_dtypes(g, n, {3}, {DType::kFloat32, DType::kBool});
  return NodeSupport::yes();
}

Status attention_run(CpuKernelContext& ctx) {
  auto params = attention_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const AttentionParams& a = *params;
  const bool packed = a.packed_qkv;
  if (packed && (ctx.has_input(1) || ctx.has_input(2)))
    return ctx.error("packed_qkv = 1 takes Q, K and V in input 0 only");
  for (size_t i = 0; i < (packed ? 1 : 3); ++i) {
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is required");
    if (ctx.input(i).dtype() != DType::kFloat32) return ctx.error("input " + std::to_string(i) + " must be float32");
  }
  auto shape = packed ? attention_packed_shape(a, ctx.input(0).dims())
                      : attention_shape(a, ctx.input(0).dims(), ctx.input(1).dims(), ctx.input(2).dims());
  if (!shape.ok()) return ctx.error(shape.status().message());
  const float* base = ctx.input(0).data<float>();
  const View q = view_of(base, shape->q);
  const View k = view_of(packed ? base + shape->k_col : ctx.input(1).data<float>(), shape->k);
  const View v = view_of(packed ? base + shape->v_col : ctx.input(2).data<float>(), shape->v);
  const bool three_d = shape->q.three_d;
  const int64_t B = shape->q.batch;
  const int64_t Hq = q.heads, Sq = q.seq, D = q.hs, Dv = v.hs, T = k.seq, group = shape->group();
  const bool causal = a.is_causal;
  const float scale = static_cast<float>(a.scale_for(D));
  Mask mask;
  const bool has_mask = ctx.has_input(3);
  if (has_mask) {
    const int64_t target[4] = {B, Hq, Sq, T};
    KILN_RETURN_IF_ERROR(mask_of(ctx, ctx.input(3), target, &mask));
  }
  const Dims y_dims = shape->y_dims();
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, y_dims));
  float* yp = y->data<float>();
  const int64_t work = B * Hq * Sq * T * (D + Dv) / 4;
  if (T > 0 && Sq * T * D >= kBf16MinHeadWork && onednn::use_bf16(ctx)) {
    auto& slot = ctx.node_state();
    if (!slot) slot = std::make_shared<Bf16Products>();
    auto& st = *static_cast<Bf16Products*>(slot.get());
    const int64_t ldy0 = three_d ? Hq * Dv : Dv;
    bool built = true;
    try {
      if (st.sq != Sq || st.t != T || st.d != D || st.dv != Dv || st.ldy != ldy0 || st.scale != scale)
        build_products(st, Sq, T, D, Dv, ldy0, scale);
    } catch (const dnnl::error&) {
      st.sq = -1;
      built = false;  // this oneDNN has no such bf16 matmul: the float32 path below
    }
    if (built) {
      bool failed = false;
      parallel_range(threads_for(ctx, work), B * Hq, [&](int64_t begin, int64_t end) {
        thread_local std::vector<uint16_t> qb, kb, vb, pb;
        thread_local std::vector<float> sc;
        thread_local std::vector<uint8_t> scratch;
        const int64_t mb = st.full.m;
        qb.resize(static_cast<size_t>(mb * D));
        kb.resize(static_cast<size_t>(T * D));
        vb.resize(static_cast<size_t>(T * Dv));
        pb.resize(static_cast<size_t>(mb * T));
        sc.resize(static_cast<size_t>(mb * T));
        size_t scratch_bytes = 0;
        for (const Bf16Block* blk : {&st.full, &st.tail})
          if (blk->m > 0) scratch_bytes = std::max({scratch_bytes, blk->qk_scratch.get_size(), blk->pv_scratch.get_size()});
        scratch.resize(scratch_bytes);
        try {
          const dnnl::engine& eng = onednn::engine();
          for (int64_t it = begin; it < end; ++it) {
            const int64_t b = it / Hq, h = it % Hq, kh = h / group;
            for (int64_t j = 0; j < T; ++j) {
              floats_to_bf16(k.row(b, kh, j), kb.data() + j * D, D);
              floats_to_bf16(v.row(b, kh, j), vb.data() + j * Dv, Dv);
            }
            float* y0 = three_d ? yp + (b * Sq * Hq + h) * Dv : yp + (b * Hq + h) * Sq * Dv;
            for (int64_t i0 = 0; i0 < Sq; i0 += mb) {
              const Bf16Block& blk = i0 + mb <= Sq ? st.full : st.tail;
              for (int64_t i = 0; i < blk.m; ++i) floats_to_bf16(q.row(b, h, i0 + i), qb.data() + i * D, D);
              blk.qk.execute(onednn::stream(),
                             {{DNNL_ARG_SRC, dnnl::memory(blk.q_md, eng, qb.data())},
                              {DNNL_ARG_WEIGHTS, dnnl::memory(blk.kt_md, eng, kb.data())},
                              {DNNL_ARG_DST, dnnl::memory(blk.s_md, eng, sc.data())},
                              {DNNL_ARG_SCRATCHPAD, dnnl::memory(blk.qk_scratch, eng, scratch.data())}});
              onednn::stream().wait();
              for (int64_t i = 0; i < blk.m; ++i) {
                masked_softmax_row(sc.data() + i * T, T, has_mask ? &mask : nullptr, causal, b, h, i0 + i);
                floats_to_bf16(sc.data() + i * T, pb.data() + i * T, T);
              }
              blk.pv.execute(onednn::stream(),
                             {{DNNL_ARG_SRC, dnnl::memory(blk.p_md, eng, pb.data())},
                              {DNNL_ARG_WEIGHTS, dnnl::memory(blk.v_md, eng, vb.data())},
                              {DNNL_ARG_DST, dnnl::memory(blk.y_md, eng, y0 + i0 * ldy0)},
                              {DNNL_ARG_SCRATCHPAD, dnnl::memory(blk.pv_scratch, eng, scratch.data())}});
              onednn::stream().wait();
            }
          }
        } catch (const dnnl::error&) {
          failed = true;
        }
      });
      if (failed) return ctx.error("oneDNN bf16 matmul failed");
      return ok_status();
    }
  }
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
      for (int64_t i = 0; i < Sq; ++i) masked_softmax_row(sc.data() + i * T, T, has_mask ? &mask : nullptr, causal, b, h, i);
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
