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
#include "ir/attention_params.h"

namespace kiln::cuda::norm {
namespace {

// Element strides of one of Q, K, V (attention_shape's view): a 3-D input's sequence positions are `row` apart.
HeadStrides strides_of(const AttentionHeads& h) {
  if (h.three_d) return HeadStrides{h.seq * h.row, h.head_size, h.row};
  return HeadStrides{h.heads * h.seq * h.head_size, h.seq * h.head_size, h.head_size};
}

bool mask_dtype_ok(DType t) { return t == DType::kBool || is_float_dtype(t); }

Status set_mask(CudaKernelContext& ctx, AttentionParams* p) {
  const Dims& md = ctx.input_dims(3);
  const DType mt = ctx.input_dtype(3);
  if (!mask_dtype_ok(mt))
    return ctx.unsupported(std::string("attn_mask dtype ") + dtype_name(mt) + " is not supported");
  auto dims4 = attention_mask_dims(md, Dims{p->batch, p->q_heads, p->q_len, p->kv_len});
  if (!dims4.ok()) return ctx.error(dims4.status().message());
  const Dims& d4 = *dims4;
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

// Shapes, attributes and mask layout of the node (no data pointers); y_dims is the output's shape, `shape` the Q, K
// and V views (where K and V start in a packed input).
Status launch_params(CudaKernelContext& ctx, AttentionParams* out, Dims* y_dims, AttentionShape* shape) {
  AttentionParams& p = *out;
  const DType dt = ctx.input_dtype(0);
  if (!is_float_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  auto attrs = attention_params(ctx.attrs());
  if (!attrs.ok()) return ctx.error(attrs.status().message());
  const kiln::AttentionParams& a = *attrs;
  if (a.packed_qkv && (ctx.has_input(1) || ctx.has_input(2)))
    return ctx.error("packed_qkv = 1 takes Q, K and V in input 0 only");
  if (!a.packed_qkv && (ctx.input_dtype(1) != dt || ctx.input_dtype(2) != dt))
    return ctx.error("Q, K and V must share one dtype");
  auto s = a.packed_qkv ? attention_packed_shape(a, ctx.input_dims(0))
                        : attention_shape(a, ctx.input_dims(0), ctx.input_dims(1), ctx.input_dims(2));
  if (!s.ok()) return ctx.error(s.status().message());
  *shape = *s;
  const AttentionHeads &qs = shape->q, &ks = shape->k, &vs = shape->v;
  if (qs.head_size > kSimpleMaxHeadDim || vs.head_size > kSimpleMaxHeadDim)
    return ctx.unsupported("head sizes above " + std::to_string(kSimpleMaxHeadDim) + " are not supported");
  if (qs.batch > 65535 || qs.heads > 65535) return ctx.unsupported("batch or head count above 65535");

  p.dtype = dt;
  p.batch = qs.batch;
  p.q_heads = qs.heads;
  p.kv_heads = ks.heads;
  p.q_len = qs.seq;
  p.kv_len = ks.seq;
  p.head_dim = qs.head_size;
  p.v_head_dim = vs.head_size;
  p.qs = strides_of(qs);
  p.ks = strides_of(ks);
  p.vs = strides_of(vs);
  p.causal = a.is_causal;
  p.scale = static_cast<float>(a.scale_for(p.head_dim));
  if (ctx.has_input(3)) KILN_RETURN_IF_ERROR(set_mask(ctx, &p));

  *y_dims = shape->y_dims();
  AttentionHeads ys = qs;  // Y is dense, in Q's form with V's head size
  ys.head_size = vs.head_size;
  ys.row = ys.heads * ys.head_size;
  p.ys = strides_of(ys);
  return ok_status();
}

// Input data pointers (Q, K, V and the mask); K and V point into a packed input 0 when `shape` says so.
Status attention_inputs(CudaKernelContext& ctx, const AttentionShape& shape, AttentionParams* p) {
  KILN_ASSIGN_OR_RETURN(DeviceTensor q, ctx.input(0));
  p->q = q.data;
  if (shape.packed) {
    const auto* base = static_cast<const unsigned char*>(q.data);
    const size_t es = dtype_size(p->dtype);
    p->k = base + shape.k_col * es;
    p->v = base + shape.v_col * es;
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
  AttentionShape shape;
  KILN_RETURN_IF_ERROR(launch_params(ctx, &p, &y_dims, &shape));
  KILN_RETURN_IF_ERROR(attention_inputs(ctx, shape, &p));
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
  AttentionShape shape;
  if (!launch_params(ctx, &p, &y_dims, &shape).ok() || !attention_inputs(ctx, shape, &p).ok()) return 1;
  if (numel_of(y_dims) == 0 || p.kv_len == 0 || !sdpa_eligible(p)) return 1;
  return prepare_attention_sdpa(ctx, p).ok() ? 2 : 1;
}

bool supports_attention(const Node& node, const std::vector<const TypeInfo*>& types) {
  for (size_t i = 4; i <= 6; ++i)
    if (node.has_input(i)) return false;  // past_key, past_value, nonpad_kv_seqlen
  for (size_t o = 1; o <= 3; ++o)
    if (node.has_output(o)) return false;  // present_key, present_value, qk_matmul_output
  auto attrs = attention_params(node.attrs);
  if (!attrs.ok() || attrs->has_softcap() || attrs->qk_mode != AttentionQkMode::kMatMul) return false;
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
