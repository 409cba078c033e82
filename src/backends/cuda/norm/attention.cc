// Host side of ONNX Attention (opset 23): 3-D or 4-D Q/K/V, GQA, bool or additive mask broadcast to
// [B, Hq, Sq, Skv], is_causal, scale. KV cache inputs/outputs, qk_matmul_output, softcap and nonpad_kv_seqlen
// are not supported here (supports() false sends the node to the CPU). Tactics: 0 = cuDNN SDPA where it can run
// the node (else the own kernels), 1 = the own kernels (flash for fp16/bf16 head sizes 32..128, else the row kernel).
// packed_qkv = 1 (fuse_qkv_projection): input 0 is [B, S, (Hq + 2 Hkv) * D] with Q, K and V side by side; every
// kernel reads it in place through base pointers and a row stride of the packed width.
#include "backends/cuda/norm/attention.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/attention_cudnn.h"
#include "backends/cuda/norm/host_util.h"
#include "backends/cuda/norm/kernels.h"

namespace kiln::cuda::norm {
namespace {

struct HeadShape {
  bool three_d = false;
  int64_t batch = 0, heads = 0, seq = 0, head_dim = 0;
  int64_t row = 0;  // 3-D: elements between sequence positions; 0 = heads * head_dim (a dense tensor)
  HeadStrides strides() const {
    const int64_t r = row ? row : heads * head_dim;
    if (three_d) return HeadStrides{seq * r, head_dim, r};
    return HeadStrides{heads * seq * head_dim, seq * head_dim, head_dim};
  }
};

Status head_shape(const CudaKernelContext& ctx, const Dims& d, const char* name, int64_t num_heads, HeadShape* s) {
  s->batch = d[0];
  if (d.size() == 4) {
    s->heads = d[1];
    s->seq = d[2];
    s->head_dim = d[3];
    return ok_status();
  }
  s->three_d = true;
  if (num_heads <= 0)
    return ctx.error(std::string("3-D input ") + name + " needs a positive q_num_heads/kv_num_heads attribute");
  if (d[2] % num_heads != 0)
    return ctx.error(std::string("hidden size of ") + name + " (" + std::to_string(d[2]) +
                     ") is not divisible by its number of heads (" + std::to_string(num_heads) + ")");
  s->heads = num_heads;
  s->seq = d[1];
  s->head_dim = d[2] / num_heads;
  return ok_status();
}

bool mask_dtype_ok(DType t) { return t == DType::kBool || is_float_dtype(t); }

Status set_mask(CudaKernelContext& ctx, AttentionParams* p) {
  const Dims& md = ctx.input_dims(3);
  const DType mt = ctx.input_dtype(3);
  if (!mask_dtype_ok(mt))
    return ctx.unsupported(std::string("attn_mask dtype ") + dtype_name(mt) + " is not supported");
  if (md.size() > 4) return ctx.error("attn_mask must have rank <= 4, got " + dims_str(md));
  Dims d4(4 - md.size(), 1);
  d4.insert(d4.end(), md.begin(), md.end());
  const int64_t target[4] = {p->batch, p->q_heads, p->q_len, p->kv_len};
  for (int k = 0; k < 4; ++k) {
    const bool ok = k == 3 ? d4[k] <= target[3] : (d4[k] == 1 || d4[k] == target[k]);
    if (!ok)
      return ctx.error("attn_mask shape " + dims_str(md) + " does not broadcast to " +
                       dims_str(Dims(target, target + 4)) +
                       " (the last dim may be shorter than the total sequence length)");
  }
  p->mask_kind = mt == DType::kBool      ? MaskKind::kBool
                 : mt == DType::kFloat32 ? MaskKind::kFloat32
                 : mt == DType::kFloat16 ? MaskKind::kFloat16
                                         : MaskKind::kBFloat16;
  p->mask_len = d4[3];
  p->mask_sq = d4[2] == 1 ? 0 : d4[3];
  p->mask_sh = d4[1] == 1 ? 0 : d4[2] * d4[3];
  p->mask_sb = d4[0] == 1 ? 0 : d4[1] * d4[2] * d4[3];
  return ok_status();
}

// Where K and V start inside a packed QKV input, in elements from its base (0 when not packed).
struct PackedOffsets {
  bool packed = false;
  int64_t k = 0, v = 0;
};

// packed_qkv: Q, K and V views of input 0 [B, S, (Hq + 2 Hkv) * D], sequence positions the packed width apart.
Status packed_head_shapes(CudaKernelContext& ctx, HeadShape* qs, HeadShape* ks, HeadShape* vs, PackedOffsets* off) {
  if (ctx.has_input(1) || ctx.has_input(2)) return ctx.error("packed_qkv = 1 takes Q, K and V in input 0 only");
  const Dims& d = ctx.input_dims(0);
  const int64_t hq = ctx.attrs().get_int("q_num_heads", 0), hkv = ctx.attrs().get_int("kv_num_heads", 0);
  if (d.size() != 3) return ctx.error("packed QKV input must be 3-D, got " + dims_str(d));
  if (hq <= 0 || hkv <= 0 || d[2] % (hq + 2 * hkv) != 0)
    return ctx.error("packed QKV width " + std::to_string(d[2]) +
                     " must be (q_num_heads + 2 * kv_num_heads) * head_size with positive head counts");
  const int64_t hd = d[2] / (hq + 2 * hkv);
  for (HeadShape* s : {qs, ks, vs}) {
    s->three_d = true;
    s->batch = d[0];
    s->seq = d[1];
    s->head_dim = hd;
    s->row = d[2];
    s->heads = s == qs ? hq : hkv;
  }
  off->packed = true;
  off->k = hq * hd;
  off->v = (hq + hkv) * hd;
  return ok_status();
}

// Shapes, attributes and mask layout of the node (no data pointers); y_dims is the output's shape, `off` where K and
// V start in a packed input.
Status attention_params(CudaKernelContext& ctx, AttentionParams* out, Dims* y_dims, PackedOffsets* off) {
  AttentionParams& p = *out;
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const Attrs& a = ctx.attrs();
  HeadShape qs, ks, vs;
  *off = PackedOffsets{};
  if (a.get_int("packed_qkv", 0) != 0) {
    KILN_RETURN_IF_ERROR(packed_head_shapes(ctx, &qs, &ks, &vs, off));
  } else {
    if (ctx.input_dtype(1) != dt || ctx.input_dtype(2) != dt) return ctx.error("Q, K and V must share one dtype");
    const Dims &qd = ctx.input_dims(0), &kd = ctx.input_dims(1), &vd = ctx.input_dims(2);
    if (qd.size() != 3 && qd.size() != 4) return ctx.error("Q must be 3-D or 4-D, got " + dims_str(qd));
    if (kd.size() != qd.size() || vd.size() != qd.size())
      return ctx.error("Q, K and V must have the same rank, got " + dims_str(qd) + ", " + dims_str(kd) + ", " +
                       dims_str(vd));
    KILN_RETURN_IF_ERROR(head_shape(ctx, qd, "Q", a.get_int("q_num_heads", 0), &qs));
    KILN_RETURN_IF_ERROR(head_shape(ctx, kd, "K", a.get_int("kv_num_heads", 0), &ks));
    KILN_RETURN_IF_ERROR(head_shape(ctx, vd, "V", a.get_int("kv_num_heads", 0), &vs));
  }
  if (ks.batch != qs.batch || vs.batch != qs.batch) return ctx.error("Q, K and V must have the same batch size");
  if (ks.heads != vs.heads || ks.seq != vs.seq)
    return ctx.error("K and V must have the same number of heads and sequence length, got " +
                     dims_str(ctx.input_dims(1)) + " and " + dims_str(ctx.input_dims(2)));
  if (ks.head_dim != qs.head_dim)
    return ctx.error("K head size (" + std::to_string(ks.head_dim) + ") must equal Q head size (" +
                     std::to_string(qs.head_dim) + ")");
  if (ks.heads <= 0 || qs.heads % ks.heads != 0)
    return ctx.error("q_num_heads (" + std::to_string(qs.heads) + ") must be a multiple of kv_num_heads (" +
                     std::to_string(ks.heads) + ")");
  if (qs.head_dim > kSimpleMaxHeadDim || vs.head_dim > kSimpleMaxHeadDim)
    return ctx.unsupported("head sizes above " + std::to_string(kSimpleMaxHeadDim) + " are not supported");
  if (qs.batch > 65535 || qs.heads > 65535) return ctx.unsupported("batch or head count above 65535");

  p.dtype = dt;
  p.batch = qs.batch;
  p.q_heads = qs.heads;
  p.kv_heads = ks.heads;
  p.q_len = qs.seq;
  p.kv_len = ks.seq;
  p.head_dim = qs.head_dim;
  p.v_head_dim = vs.head_dim;
  p.qs = qs.strides();
  p.ks = ks.strides();
  p.vs = vs.strides();
  p.causal = a.get_int("is_causal", 0) != 0;
  p.scale =
      a.has("scale") ? a.get_float("scale") : static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.head_dim)));
  if (ctx.has_input(3)) KILN_RETURN_IF_ERROR(set_mask(ctx, &p));

  HeadShape ys = qs;
  ys.head_dim = vs.head_dim;
  ys.row = 0;  // Y is dense
  p.ys = ys.strides();
  *y_dims =
      qs.three_d ? Dims{p.batch, p.q_len, p.q_heads * p.v_head_dim} : Dims{p.batch, p.q_heads, p.q_len, p.v_head_dim};
  return ok_status();
}

// Input data pointers (Q, K, V and the mask); K and V point into a packed input 0 when `off` says so.
Status attention_inputs(CudaKernelContext& ctx, const PackedOffsets& off, AttentionParams* p) {
  KILN_ASSIGN_OR_RETURN(DeviceTensor q, ctx.input(0));
  p->q = q.data;
  if (off.packed) {
    const auto* base = static_cast<const unsigned char*>(q.data);
    const size_t es = dtype_size(p->dtype);
    p->k = base + off.k * es;
    p->v = base + off.v * es;
  } else {
    KILN_ASSIGN_OR_RETURN(DeviceTensor k, ctx.input(1));
    KILN_ASSIGN_OR_RETURN(DeviceTensor v, ctx.input(2));
    p->k = k.data;
    p->v = v.data;
  }
  if (p->mask_kind != MaskKind::kNone) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor m, ctx.input(3));
    p->mask = m.data;
  }
  return ok_status();
}

// Test hook: KILN_CUDA_ATTENTION_TACTIC pins the tactic so that the GPU tests check each one: "sdpa" (cuDNN where
// it can run the node, else the own kernels), "sdpa-only" (an error where cuDNN cannot) or "own".
enum class ForcedTactic { kNone, kSdpa, kSdpaOnly, kOwn };
ForcedTactic forced_tactic() {
  const char* v = std::getenv("KILN_CUDA_ATTENTION_TACTIC");
  if (!v) return ForcedTactic::kNone;
  const std::string s(v);
  if (s == "sdpa") return ForcedTactic::kSdpa;
  if (s == "sdpa-only") return ForcedTactic::kSdpaOnly;
  if (s == "own") return ForcedTactic::kOwn;
  return ForcedTactic::kNone;
}

// Test hook: KILN_CUDA_FLASH_WARPS=1|2|4|8 pins the flash kernel's warps (16 query rows each) per block, so that the
// GPU tests check every block size on the same shapes; unset, the kernel chooses by shape (attention_flash.cu).
int forced_flash_warps() {
  const char* v = std::getenv("KILN_CUDA_FLASH_WARPS");
  return v ? std::atoi(v) : 0;
}

constexpr int64_t kTacticSdpa = 0;

Status run_attention(CudaKernelContext& ctx) {
  AttentionParams p;
  Dims y_dims;
  PackedOffsets off;
  KILN_RETURN_IF_ERROR(attention_params(ctx, &p, &y_dims, &off));
  KILN_RETURN_IF_ERROR(attention_inputs(ctx, off, &p));
  p.flash_warps = forced_flash_warps();
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, p.dtype, y_dims));
  p.y = y.data;
  if (y.numel() == 0) return ok_status();
  if (p.kv_len == 0) {  // no keys: the reference's weighted sum is empty, Y = 0
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.data, 0, y.nbytes(), ctx.stream()));
    return ok_status();
  }
  const ForcedTactic forced = forced_tactic();
  const bool want_sdpa = forced == ForcedTactic::kSdpa || forced == ForcedTactic::kSdpaOnly ||
                         (forced == ForcedTactic::kNone && ctx.tactic() == kTacticSdpa);
  if (want_sdpa) {
    Status st = sdpa_eligible(p) ? run_attention_sdpa(ctx, p)
                                 : ctx.unsupported("cuDNN SDPA: dtype, head size or strides not supported");
    if (st.ok() || st.code() != StatusCode::kUnimplemented || forced == ForcedTactic::kSdpaOnly) return st;
  }
  if (flash_attention_supported(p.dtype, p.head_dim, p.v_head_dim)) {
    KILN_CUDA_RETURN_IF_ERROR(launch_attention_flash(p, ctx.stream()));
  } else {
    KILN_CUDA_RETURN_IF_ERROR(launch_attention_simple(p, ctx.stream()));
  }
  return ok_status();
}

// Two tactics when cuDNN SDPA can run the node at this (the profile's opt) shape, else one (the own kernels, which
// tactic 0 then falls back to). Errors here are left for run() to report.
int attention_num_tactics(CudaKernelContext& ctx) {
  if (forced_tactic() != ForcedTactic::kNone) return 1;
  AttentionParams p;
  Dims y_dims;
  PackedOffsets off;
  if (!attention_params(ctx, &p, &y_dims, &off).ok() || !attention_inputs(ctx, off, &p).ok()) return 1;
  if (numel_of(y_dims) == 0 || p.kv_len == 0 || !sdpa_eligible(p)) return 1;
  return prepare_attention_sdpa(ctx, p).ok() ? 2 : 1;
}

bool supports_attention(const Node& node, const std::vector<const TypeInfo*>& types) {
  for (size_t i = 4; i <= 6; ++i)
    if (node.has_input(i)) return false;  // past_key, past_value, nonpad_kv_seqlen
  for (size_t o = 1; o <= 3; ++o)
    if (node.has_output(o)) return false;  // present_key, present_value, qk_matmul_output
  if (node.attrs.get_float("softcap", 0.f) != 0.f || node.attrs.get_int("qk_matmul_output_mode", 0) != 0) return false;
  for (size_t i = 0; i < 3; ++i)
    if (!input_is_float_or_unknown(types, i)) return false;
  return input_dtype_ok(types, 3, &mask_dtype_ok);
}

std::string attention_tactic_name(const Node& /*node*/, int64_t tactic) {
  const std::string own = "own kernel (flash mma.sync for fp16/bf16 head_dim 32/64/80/96/128, else row kernel)";
  if (tactic == kTacticSdpa) return "cuDNN SDPA where it supports the shape, else " + own;
  return own;
}

}  // namespace

CudaKernel attention_kernel() {
  return CudaKernel{&run_attention, &supports_attention, &attention_num_tactics, &attention_tactic_name};
}

}  // namespace kiln::cuda::norm
