// cuDNN SDPA tactic of ONNX Attention: one frontend `sdpa` graph per (context, node, shape, mask layout), Q/K/V/Y
// described by strides (3-D [B,S,H*D] and 4-D [B,H,S,D] alike), GQA through K/V's head count, top-left causal
// masking, and the mask as SDPA's additive bias ([B|1, H|1, Sq|1, Skv] in the I/O dtype).
#include "backends/cuda/norm/attention_cudnn.h"

#include <cudnn_frontend.h>

#include <cstring>
#include <exception>
#include <unordered_map>
#include <vector>

#include "backends/cuda/cudnn_fe/fe_util.h"

namespace kiln::cuda::norm {
namespace {

namespace fe = cudnn_frontend;

enum Uid : int64_t { kUidQ = 1, kUidK, kUidV, kUidO, kUidBias };

constexpr size_t kWorkspaceAlign = 256;

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

bool aligned_to(const void* ptr, uintptr_t a) { return reinterpret_cast<uintptr_t>(ptr) % a == 0; }

// How the mask reaches SDPA's bias input: the mask itself (I/O dtype, exactly Skv long, 16-byte aligned rows) or a
// copy converted into the workspace by launch_attention_mask_to_bias.
struct BiasLayout {
  bool present = false;
  bool direct = false;
  int64_t bb = 1, hb = 1, sqb = 1, ld = 0;  // dims [bb, hb, sqb, kv_len], row stride ld
  size_t bytes = 0;                         // workspace bytes of a converted copy
};

struct SdpaPlan {
  std::shared_ptr<fe::graph::Graph> graph;
  BiasLayout bias;
  int64_t workspace = 0;  // cuDNN's, after the converted bias
};

struct SdpaState {
  FeCache<SdpaPlan> plans;
};

MaskKind mask_kind_of(DType t) {
  return t == DType::kFloat16 ? MaskKind::kFloat16 : t == DType::kBFloat16 ? MaskKind::kBFloat16 : MaskKind::kNone;
}

bool mask_direct_ok(const AttentionParams& p) {
  return p.mask_kind == mask_kind_of(p.dtype) && p.mask_len == p.kv_len && p.kv_len % 8 == 0 &&
         (p.mask == nullptr || aligned_to(p.mask, 16));
}

// Bias layouts to try, best first: the mask's own broadcast shape, then (in case SDPA refuses a bias broadcast
// along the query rows) one row per query.
std::vector<BiasLayout> bias_candidates(const AttentionParams& p) {
  if (p.mask_kind == MaskKind::kNone) return {BiasLayout{}};
  BiasLayout b;
  b.present = true;
  b.bb = p.mask_sb ? p.batch : 1;
  b.hb = p.mask_sh ? p.q_heads : 1;
  b.sqb = p.mask_sq ? p.q_len : 1;
  b.direct = mask_direct_ok(p);
  std::vector<BiasLayout> out;
  auto add = [&](BiasLayout c) {
    c.ld = c.direct ? p.kv_len : static_cast<int64_t>(round_up(static_cast<size_t>(p.kv_len), 8));
    c.bytes = c.direct ? 0 : static_cast<size_t>(c.bb * c.hb * c.sqb * c.ld) * 2;
    out.push_back(c);
  };
  add(b);
  if (b.sqb == 1 && p.q_len > 1) {
    b.sqb = p.q_len;
    b.direct = false;
    add(b);
  }
  return out;
}

fe::DataType_t io_type(DType t) { return fe_data_type(t == DType::kFloat16 ? ElemType::kF16 : ElemType::kBF16); }

std::vector<int64_t> bhsd_strides(const HeadStrides& s) { return {s.b, s.h, s.s, 1}; }

Result<std::unique_ptr<SdpaPlan>> build_plan(CudaKernelContext& ctx, const AttentionParams& p, const BiasLayout& bl) {
  auto plan = std::make_unique<SdpaPlan>();
  plan->bias = bl;
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(io_type(p.dtype))
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  auto q = g->tensor(fe::graph::Tensor_attributes()
                         .set_name("Q")
                         .set_uid(kUidQ)
                         .set_dim({p.batch, p.q_heads, p.q_len, p.head_dim})
                         .set_stride(bhsd_strides(p.qs)));
  auto k = g->tensor(fe::graph::Tensor_attributes()
                         .set_name("K")
                         .set_uid(kUidK)
                         .set_dim({p.batch, p.kv_heads, p.kv_len, p.head_dim})
                         .set_stride(bhsd_strides(p.ks)));
  auto v = g->tensor(fe::graph::Tensor_attributes()
                         .set_name("V")
                         .set_uid(kUidV)
                         .set_dim({p.batch, p.kv_heads, p.kv_len, p.v_head_dim})
                         .set_stride(bhsd_strides(p.vs)));
  fe::graph::SDPA_attributes attrs;
  attrs.set_name("sdpa").set_generate_stats(false).set_attn_scale(p.scale);
  if (p.causal)  // ONNX is_causal: key j > query i is masked, aligned at the top left
    attrs.set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT).set_diagonal_band_right_bound(0);
  if (bl.present) {
    auto bias = g->tensor(fe::graph::Tensor_attributes()
                              .set_name("bias")
                              .set_uid(kUidBias)
                              .set_dim({bl.bb, bl.hb, bl.sqb, p.kv_len})
                              .set_stride({bl.hb * bl.sqb * bl.ld, bl.sqb * bl.ld, bl.ld, 1}));
    attrs.set_bias(bias);
  }
  auto outs = g->sdpa(q, k, v, attrs);
  outs[0]
      ->set_output(true)
      .set_uid(kUidO)
      .set_dim({p.batch, p.q_heads, p.q_len, p.v_head_dim})
      .set_stride(bhsd_strides(p.ys));
  cudnnHandle_t h = ctx.cudnn();
  KILN_RETURN_IF_ERROR(fe_status(ctx, g->validate(), "validate"));
  KILN_RETURN_IF_ERROR(fe_status(ctx, g->build_operation_graph(h), "build_operation_graph"));
  KILN_RETURN_IF_ERROR(
      fe_status(ctx, g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}), "heuristics"));
  KILN_RETURN_IF_ERROR(fe_status(ctx, g->check_support(), "check_support"));
  KILN_RETURN_IF_ERROR(fe_status(ctx, g->build_plans(fe::BuildPlanPolicy_t::HEURISTICS_CHOICE), "build_plans"));
  KILN_RETURN_IF_ERROR(fe_status(ctx, g->get_workspace_size(plan->workspace), "get_workspace_size"));
  plan->graph = std::move(g);
  return plan;
}

// Plans are keyed by everything the graph depends on: shape, strides, dtype, scale, causal and the mask's layout.
std::string plan_key(const AttentionParams& p) {
  uint32_t scale_bits = 0;
  std::memcpy(&scale_bits, &p.scale, sizeof scale_bits);
  std::string k = std::to_string(static_cast<int>(p.dtype));
  for (int64_t x : {p.batch,
                    p.q_heads,
                    p.kv_heads,
                    p.q_len,
                    p.kv_len,
                    p.head_dim,
                    p.v_head_dim,
                    p.qs.b,
                    p.qs.h,
                    p.qs.s,
                    p.ks.b,
                    p.ks.h,
                    p.ks.s,
                    p.vs.b,
                    p.vs.h,
                    p.vs.s,
                    p.ys.b,
                    p.ys.h,
                    p.ys.s,
                    static_cast<int64_t>(p.mask_kind),
                    p.mask_sb,
                    p.mask_sh,
                    p.mask_sq,
                    p.mask_len,
                    static_cast<int64_t>(p.causal),
                    static_cast<int64_t>(scale_bits),
                    static_cast<int64_t>(p.mask_kind != MaskKind::kNone && mask_direct_ok(p))})
    k += "," + std::to_string(x);
  return k;
}

Result<SdpaPlan*> get_plan(CudaKernelContext& ctx, const AttentionParams& p) {
  if (!sdpa_eligible(p)) return ctx.unsupported("cuDNN SDPA: dtype, head size or strides not supported");
  SdpaState& state = node_state_as<SdpaState>(ctx);
  return state.plans.get(plan_key(p), [&]() -> Result<std::unique_ptr<SdpaPlan>> {
    Status last = ctx.unsupported("cuDNN SDPA: no plan");
    for (const BiasLayout& bl : bias_candidates(p)) {
      try {  // the frontend reports through error_t, but nothing it might throw may escape a kernel
        auto plan = build_plan(ctx, p, bl);
        if (plan.ok()) return plan;
        last = plan.status();
      } catch (const std::exception& e) {
        last = ctx.unsupported(std::string("cuDNN SDPA: ") + e.what());
      }
    }
    return last;
  });
}

}  // namespace

bool sdpa_eligible(const AttentionParams& p) {
  if (p.dtype != DType::kFloat16 && p.dtype != DType::kBFloat16) return false;
  for (int64_t d : {p.head_dim, p.v_head_dim})
    if (d <= 0 || d > 128 || d % 8 != 0) return false;
  if (p.batch <= 0 || p.q_len <= 0 || p.kv_len <= 0 || p.kv_heads <= 0 || p.q_heads % p.kv_heads != 0) return false;
  for (const HeadStrides& s : {p.qs, p.ks, p.vs, p.ys})
    if (s.b % 8 != 0 || s.h % 8 != 0 || s.s % 8 != 0) return false;
  for (const void* ptr : {p.q, p.k, p.v, static_cast<const void*>(p.y)})
    if (ptr && !aligned_to(ptr, 16)) return false;
  return true;
}

Status prepare_attention_sdpa(CudaKernelContext& ctx, const AttentionParams& p) { return get_plan(ctx, p).status(); }

Status run_attention_sdpa(CudaKernelContext& ctx, const AttentionParams& p) {
  KILN_ASSIGN_OR_RETURN(SdpaPlan * plan, get_plan(ctx, p));
  const BiasLayout& bl = plan->bias;
  const size_t bias_bytes = round_up(bl.bytes, kWorkspaceAlign);
  const size_t total = bias_bytes + static_cast<size_t>(plan->workspace);
  unsigned char* ws = nullptr;
  if (total > 0) {
    KILN_ASSIGN_OR_RETURN(void* w, ctx.workspace(total));
    ws = static_cast<unsigned char*>(w);
  }
  std::unordered_map<int64_t, void*> pack = {
      {kUidQ, const_cast<void*>(p.q)}, {kUidK, const_cast<void*>(p.k)}, {kUidV, const_cast<void*>(p.v)}, {kUidO, p.y}};
  if (bl.present) {
    if (bl.direct) {
      pack[kUidBias] = const_cast<void*>(p.mask);
    } else {
      const cudaError_t e = launch_attention_mask_to_bias(p, bl.bb, bl.hb, bl.sqb, bl.ld, ws, ctx.stream());
      if (e != cudaSuccess)
        return internal_error(ctx.node().describe() + ": attention mask conversion: " + cudaGetErrorString(e));
      pack[kUidBias] = ws;
    }
  }
  KILN_RETURN_IF_ERROR(fe_bind_stream(ctx));
  void* cudnn_ws = plan->workspace > 0 ? ws + bias_bytes : nullptr;
  auto err = plan->graph->execute(ctx.cudnn(), pack, cudnn_ws);
  if (!err.is_good()) return internal_error(ctx.node().describe() + ": cuDNN SDPA execute: " + err.get_message());
  return ok_status();
}

}  // namespace kiln::cuda::norm
