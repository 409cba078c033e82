// MatMul, Gemm and FusedMatMul on oneDNN's matmul primitive (float32, or bf16 operands with float32 output under
// use_bf16): numpy batch broadcasting, transposes as strides,
// alpha as an output scale, bias natively (or as a post-op when alpha != 1), residual Z and Gemm's beta*C as a
// sum post-op (Z the shape of Y) or a binary add (Z broadcast), then the fused activation.
#include <algorithm>
#include <cstring>
#include <memory>

#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"
#include "ir/op_params.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

struct MatMulParams {
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  int bias_input = -1, z_input = -1;  // Gemm's C is z_input (or bias when it is [N])
  fused::Activation act;
};

struct MatMulState {
  Dims a_dims, b_dims, z_dims;
  // A constant 2-D B whose rows are a multiple of 4 KiB apart (N = 1024, 3072, ...) is kept transposed (column-
  // major): oneDNN 2.6's AVX2 sgemm runs 1.7-1.9x faster on it there (cache-set aliasing; 128x768x3072: 17.9 ->
  // 9.7 ms). Reordered once while B stays the same bytes.
  bool b_transposed = false;
  memory b_packed;
  const void* b_packed_from = nullptr;
  bool has_bias = false;
  Dims y_dims;
  memory::desc a_md, b_md, y_md, bias_md, z_md;
  bool z_sum = false, z_binary = false, bias_native = false;
  dnnl::matmul prim;
  memory scratch;
  int z_arg = 0;
  std::vector<dnnl::eltwise_forward> act;  // the activation, run in place after the matmul (see build)
  std::unique_ptr<dnnl::binary> z_after;   // a broadcast Z added after the matmul, not as its post-op (see build)
  // use_bf16: A and B are rounded into bf16 copies (B once while a constant keeps its bytes, in oneDNN's packed
  // layout), the product accumulates and Y stays in float32.
  bool bf16 = false;
  memory a_bf16, b_bf16;
  const void* b_bf16_from = nullptr;
  // The attributes, parsed on the first run (they never change).
  bool params_ready = false;
  MatMulParams params;
  // Memory objects over the run's tensors and the primitives' argument maps, made once per build: each run only
  // points them at its tensors (set_data_handle). Creating them per run was a third of a batch-1 MLP head's time
  // (malloc and free under `perf`).
  bool args_ready = false;
  memory am, bm, ym, biasm, zm;
  std::unordered_map<int, memory> args, act_args, z_args;
};

Result<MatMulParams> params_of(const CpuKernelContext& ctx) {
  const Node& n = ctx.node();
  MatMulParams p;
  if (n.op == OpKind::kGemm || n.op == OpKind::kFusedMatMul) {
    auto gp = gemm_params(n.attrs);
    if (!gp.ok()) return ctx.error(gp.status().message());
    p.trans_a = gp->trans_a;
    p.trans_b = gp->trans_b;
    p.alpha = gp->alpha;
    if (n.op == OpKind::kGemm) p.beta = gp->beta;
  }
  if (n.op == OpKind::kGemm) {
    if (n.has_input(2)) p.z_input = 2;
  } else if (n.op == OpKind::kFusedMatMul) {
    if (n.has_input(2)) p.bias_input = 2;
    if (n.has_input(3)) p.z_input = 3;
    auto act = fused::parse_activation(n);
    if (!act.ok()) return act.status();
    p.act = *act;
  }
  return p;
}

// A rank-r row-major descriptor of `d` (padded with leading 1s), last two dims swapped when `trans`.
memory::desc operand_md(Dims d, size_t r, bool trans) {
  while (d.size() < r) d.insert(d.begin(), 1);
  memory::dims strides(r, 1);
  for (int i = static_cast<int>(r) - 2; i >= 0; --i) strides[i] = strides[i + 1] * std::max<int64_t>(d[i + 1], 1);
  if (trans) {
    std::swap(d[r - 1], d[r - 2]);
    std::swap(strides[r - 1], strides[r - 2]);
  }
  return memory::desc(to_dnnl(d), memory::data_type::f32, strides);
}

Status build(CpuKernelContext& ctx, MatMulState& s, const MatMulParams& p, const Tensor& a, const Tensor& b,
             const Tensor* bias, const Tensor* z) {
  if (a.rank() < 1 || b.rank() < 1) return ctx.unsupported("scalar operands");
  if ((p.trans_a && a.rank() < 2) || (p.trans_b && b.rank() < 2)) return ctx.unsupported("transposed vector");
  Dims ad = a.dims(), bd = b.dims();
  // A [..., M, K] times a 2-D B is one [rows, K] x [K, N] product (oneDNN would otherwise run `rows/M` tiny
  // batched products: ViT's sequence-first [197, 1, 768] x [768, 2304] took 24 ms instead of 6).
  Dims fold_out;
  int64_t n_cols = p.trans_b ? (b.rank() >= 2 ? b.dim(b.rank() - 2) : 0) : b.dim(b.rank() - 1);
  if (!p.trans_a && a.rank() > 2 && b.rank() == 2) {
    Dims full(a.dims().begin(), a.dims().end() - 1);
    full.push_back(n_cols);
    if (!z || z->dims() == full || z->numel() == n_cols) {
      fold_out = full;
      int64_t rows = 1;
      for (size_t i = 0; i + 1 < a.rank(); ++i) rows *= a.dim(i);
      ad = {rows, a.dim(a.rank() - 1)};
    }
  }
  // A transposed A whose batch dims are all 1 ([1, K, M] read as [1, M, K]) times a 2-D B is a 2-D product too, so a
  // constant B gets oneDNN's packed layout (a batched product kept it plain: PP-OCR's CTC head [1, 40, 120] x
  // [120, 18710] ran at 25 GMAC/s).
  if (fold_out.empty() && p.trans_a && a.rank() > 2 && b.rank() == 2 &&
      std::all_of(a.dims().begin(), a.dims().end() - 2, [](int64_t d) { return d == 1; })) {
    Dims full(a.dims().begin(), a.dims().end() - 2);
    full.push_back(a.dim(a.rank() - 1));
    full.push_back(n_cols);
    if (!z || z->dims() == full || z->numel() == n_cols) {
      fold_out = full;
      ad = {a.dim(a.rank() - 2), a.dim(a.rank() - 1)};
    }
  }
  // Equal batch dims (no broadcast) of rank > 3 collapse into one, so oneDNN sees a plain 3-D batched product (the
  // same bytes; a Z of Y's shape or a row vector keeps its meaning). Broadcast batches keep their rank.
  if (fold_out.empty() && a.rank() > 3 && a.rank() == b.rank() &&
      std::equal(a.dims().begin(), a.dims().end() - 2, b.dims().begin())) {
    Dims full(a.dims().begin(), a.dims().end() - 2);
    full.push_back(p.trans_a ? a.dim(a.rank() - 1) : a.dim(a.rank() - 2));
    full.push_back(n_cols);
    if (!z || z->dims() == full || z->numel() == n_cols) {
      int64_t batch = 1;
      for (size_t i = 0; i + 2 < a.rank(); ++i) batch *= a.dim(i);
      fold_out = full;
      ad = {batch, a.dim(a.rank() - 2), a.dim(a.rank() - 1)};
      bd = {batch, b.dim(b.rank() - 2), b.dim(b.rank() - 1)};
    }
  }
  bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  size_t r = std::max(ad.size(), bd.size());
  memory::desc amd = operand_md(ad, r, p.trans_a), bmd = operand_md(bd, r, p.trans_b);
  s.b_transposed = false;
  s.bf16 = use_bf16(ctx);
  s.b_bf16_from = nullptr;
  memory::desc b_use = bmd, a_use = amd;
  if (s.bf16) {
    const memory::dims al_dims = amd.dims(), bl_dims = bmd.dims();  // (dims() returns a copy)
    a_use = plain_md(Dims(al_dims.begin(), al_dims.end()), memory::data_type::bf16);
    const Dims bl(bl_dims.begin(), bl_dims.end());
    b_use = ctx.input_is_constant(1) ? memory::desc(to_dnnl(bl), memory::data_type::bf16, memory::format_tag::any)
                                     : plain_md(bl, memory::data_type::bf16);
  } else if (ctx.input_is_constant(1) && prefer_blocked16() && !std::getenv("KILN_CPU_MATMUL_PLAIN_B")) {
    // AVX-512: a constant B in oneDNN's own packed layout, reordered once (brgemm reads it at cache speed; plain B
    // ran [1, 1024] x [1024, 1024] at 25 GB/s).
    const memory::dims bl_dims = bmd.dims();
    b_use = memory::desc(bl_dims, memory::data_type::f32, memory::format_tag::any);
    s.b_transposed = true;  // (the packed-B path of run_matmul; b_packed is allocated once the layout is known)
    s.b_packed_from = nullptr;
  } else if (ctx.input_is_constant(1) && b.rank() == 2 && !p.trans_b && (b.dim(1) * 4) % 4096 == 0) {
    memory::dims bd2 = bmd.dims(), st(r, 0);
    st[r - 2] = 1;
    st[r - 1] = bd2[r - 2];
    for (int i = static_cast<int>(r) - 3; i >= 0; --i) st[i] = bd2[r - 2] * bd2[r - 1];
    b_use = memory::desc(bd2, memory::data_type::f32, st);
    s.b_transposed = true;
    s.b_packed = memory(b_use, engine());
    s.b_packed_from = nullptr;
  }
  memory::dims A = amd.dims(), B = bmd.dims();
  if (A[r - 1] != B[r - 2]) return ctx.error("inner dimensions differ: " + dims_to_string(a.dims()) + " and " + dims_to_string(b.dims()));
  Dims y(r);
  for (size_t i = 0; i + 2 < r; ++i) {
    if (A[i] != B[i] && A[i] != 1 && B[i] != 1) return ctx.error("batch dims do not broadcast");
    y[i] = std::max(A[i], B[i]);
    if (A[i] == 0 || B[i] == 0) y[i] = 0;
  }
  y[r - 2] = A[r - 2];
  y[r - 1] = B[r - 1];
  if (dims_numel(y) <= 0 || A[r - 1] <= 0) return ctx.unsupported("empty tensors");
  memory::desc ymd = plain_md(y);
  int64_t n = y[r - 1];
  dnnl::post_ops ops;
  dnnl::primitive_attr attr;
  s.bias_native = false;
  s.z_sum = s.z_binary = false;
  memory::desc bias_md;
  if (bias) {
    if (bias->numel() != n) return ctx.unsupported("bias is not [N]");
    Dims bdims(r, 1);
    bdims[r - 1] = n;
    bias_md = plain_md(bdims);
    if (p.alpha == 1.f) s.bias_native = true;
    else ops.append_binary(dnnl::algorithm::binary_add, bias_md);
  }
  if (z) {
    Dims zdims = z->dims();
    if (!fold_out.empty()) zdims = zdims == fold_out ? y : Dims{1, n};
    if (!a_vec && !b_vec && zdims == y) {
      s.z_sum = true;
      ops.append_sum(p.beta);
    } else {
      if (p.beta != 1.f) return ctx.unsupported("beta with a broadcast C");
      Dims zd = zdims;
      if (zd.size() > r) return ctx.unsupported("Z rank");
      while (zd.size() < r) zd.insert(zd.begin(), 1);
      for (size_t i = 0; i < r; ++i)
        if (zd[i] != 1 && zd[i] != y[i]) return ctx.unsupported("Z does not broadcast to Y");
      s.z_md = plain_md(zd);
      s.z_binary = true;
      s.z_arg = ops.len();
      ops.append_binary(dnnl::algorithm::binary_add, s.z_md);
    }
  }
  if (p.alpha != 1.f) attr.set_output_scales(0, {p.alpha});
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::desc desc =
      s.bias_native ? dnnl::matmul::desc(a_use, b_use, bias_md, ymd) : dnnl::matmul::desc(a_use, b_use, ymd);
  // oneDNN 2.6's gemm-based matmul (AVX2) applies eltwise post-ops with scalar code (GELU on 128x3072: 7 ms of
  // 15); there a separate jit eltwise pass over Y is several times faster. Other activations stay post-ops.
  s.act.clear();
  // (dnnl::post_ops copies share one object; set_post_ops copies it deeply into an attr.)
  dnnl::primitive_attr attr_plain;
  if (p.alpha != 1.f) attr_plain.set_output_scales(0, {p.alpha});
  attr_plain.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr_plain.set_post_ops(ops);
  if (!append_activation(ops, p.act)) return ctx.unsupported("activation");
  attr.set_post_ops(ops);
  dnnl::matmul::primitive_desc pd(desc, attr, engine());
  bool cheap = p.act.kind == fused::ActKind::kNone || p.act.kind == fused::ActKind::kRelu;
  if (!cheap && std::string(pd.impl_info_str()).find("gemm") != std::string::npos) {
    dnnl::matmul::primitive_desc plain_pd(desc, attr_plain, engine());
    if (make_eltwise_chain(p.act, ymd, &s.act)) pd = plain_pd;
  }
  // A broadcast Z post-op can push oneDNN onto its reference matmul (MaxViT's [1, 64, 2, 49, 49] scores plus a
  // [2, 49, 49] relative-position bias: 290 ms instead of 2). Then the product runs with the bias alone, and Z and
  // the activation follow as primitives of their own.
  s.z_after.reset();
  if (s.z_binary && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
    dnnl::post_ops bias_only;
    if (bias && !s.bias_native) bias_only.append_binary(dnnl::algorithm::binary_add, bias_md);
    dnnl::primitive_attr attr_z;
    if (p.alpha != 1.f) attr_z.set_output_scales(0, {p.alpha});
    attr_z.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr_z.set_post_ops(bias_only);
    std::vector<dnnl::eltwise_forward> act;
    if (p.act.kind == fused::ActKind::kNone || make_eltwise_chain(p.act, ymd, &act)) {
      pd = dnnl::matmul::primitive_desc(desc, attr_z, engine());
      s.z_after = std::make_unique<dnnl::binary>(dnnl::binary::primitive_desc(
          dnnl::binary::desc(dnnl::algorithm::binary_add, ymd, s.z_md, ymd), engine()));
      s.z_binary = false;
      s.act = std::move(act);
    }
  }
  s.prim = dnnl::matmul(pd);
  s.scratch = memory(pd.scratchpad_desc(), engine());
  if (s.b_transposed && b_use.data.format_kind == dnnl_format_kind_any) s.b_packed = memory(pd.weights_desc(), engine());
  if (s.bf16) {
    s.a_bf16 = memory(pd.src_desc(), engine());
    s.b_bf16 = memory(pd.weights_desc(), engine());
  }
  s.a_md = amd;
  s.b_md = bmd;
  s.y_md = ymd;
  s.bias_md = bias_md;
  // The ONNX output drops the dims a vector operand added.
  Dims out = y;
  if (b_vec) out.erase(out.end() - 1);
  if (a_vec) out.erase(out.end() - (b_vec ? 1 : 2));
  s.y_dims = fold_out.empty() ? out : fold_out;
  s.a_dims = a.dims();
  s.b_dims = b.dims();
  s.z_dims = z ? z->dims() : Dims{-1};
  s.has_bias = bias != nullptr;
  return ok_status();
}

Status run_matmul(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(materialize_inputs(ctx));
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<MatMulState>();
  auto& s = *static_cast<MatMulState*>(slot.get());
  if (!s.params_ready) {
    auto parsed = params_of(ctx);
    if (!parsed.ok()) return parsed.status();
    s.params = *parsed;
    s.params_ready = true;
  }
  const MatMulParams* p = &s.params;
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* bias = p->bias_input >= 0 ? &ctx.input(p->bias_input) : nullptr;
  const Tensor* z = p->z_input >= 0 && p->beta != 0.f ? &ctx.input(p->z_input) : nullptr;
  for (const Tensor* t : {&a, &b, bias, z})
    if (t && t->dtype() != DType::kFloat32) return ctx.unsupported("only float32");
  try {
    if (s.a_dims != a.dims() || s.b_dims != b.dims() || s.has_bias != (bias != nullptr) ||
        s.z_dims != (z ? z->dims() : Dims{-1}) || s.bf16 != use_bf16(ctx)) {
      s.args_ready = false;
      KILN_RETURN_IF_ERROR(build(ctx, s, *p, a, b, bias, z));
    }
    auto out = ctx.allocate_output(0, DType::kFloat32, s.y_dims);
    if (!out.ok()) return out.status();
    if (s.z_sum) std::memcpy((*out)->raw(), z->raw(), z->nbytes());
    if (!s.args_ready) {
      s.am = memory(s.a_md, engine(), nullptr);
      s.bm = memory(s.b_md, engine(), nullptr);
      s.ym = memory(s.y_md, engine(), nullptr);
      s.args = {{DNNL_ARG_SRC, s.bf16 ? s.a_bf16 : s.am},
                {DNNL_ARG_WEIGHTS, s.bf16 ? s.b_bf16 : (s.b_transposed ? s.b_packed : s.bm)},
                {DNNL_ARG_DST, s.ym},
                {DNNL_ARG_SCRATCHPAD, s.scratch}};
      if (bias) {
        s.biasm = memory(s.bias_md, engine(), nullptr);
        s.args.emplace(s.bias_native ? DNNL_ARG_BIAS : (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1), s.biasm);
      }
      if (s.z_binary || s.z_after) s.zm = memory(s.z_md, engine(), nullptr);
      if (s.z_binary) s.args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(s.z_arg) | DNNL_ARG_SRC_1, s.zm);
      s.z_args = {{DNNL_ARG_SRC_0, s.ym}, {DNNL_ARG_SRC_1, s.zm}, {DNNL_ARG_DST, s.ym}};
      s.act_args = {{DNNL_ARG_SRC, s.ym}, {DNNL_ARG_DST, s.ym}};
      s.args_ready = true;
    }
    s.am.set_data_handle(const_cast<void*>(a.raw()));
    s.bm.set_data_handle(const_cast<void*>(b.raw()));
    s.ym.set_data_handle((*out)->raw());
    if (bias) s.biasm.set_data_handle(const_cast<void*>(bias->raw()));
    if (s.z_binary || s.z_after) s.zm.set_data_handle(const_cast<void*>(z->raw()));
    if (s.b_transposed && s.b_packed_from != b.raw()) {
      reorder(s.bm, s.b_packed);
      s.b_packed_from = b.raw();
    }
    if (s.bf16) {
      reorder(s.am, s.a_bf16);
      if (!ctx.input_is_constant(1) || s.b_bf16_from != b.raw()) {
        reorder(s.bm, s.b_bf16);
        s.b_bf16_from = b.raw();
      }
    }
    s.prim.execute(stream(), s.args);
    if (s.z_after) s.z_after->execute(stream(), s.z_args);
    for (auto& e : s.act) e.execute(stream(), s.act_args);
    stream().wait();
  } catch (const dnnl::error& e) {
    s.a_dims.clear();
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

NodeSupport supports_matmul(const Graph& g, const Node& n) {
  if (!is_f32(g, n, 0) || !is_f32(g, n, 1)) return NodeSupport::no("onednn_matmul: float32 operands only");
  int ra = rank_of(g, n, 0), rb = rank_of(g, n, 1);
  if (ra < 1 || rb < 1 || ra > 6 || rb > 6) return NodeSupport::no("onednn_matmul: ranks 1..6 only");
  if (n.op == OpKind::kGemm && (ra != 2 || rb != 2)) return NodeSupport::no("onednn_matmul: Gemm needs 2-D A and B");
  for (size_t i = 2; i < n.inputs.size(); ++i)
    if (n.has_input(i) && !is_f32(g, n, i)) return NodeSupport::no("onednn_matmul: float32 bias/C only");
  if (n.op == OpKind::kFusedMatMul && !fused::parse_activation(n).ok()) return NodeSupport::no("onednn_matmul: activation");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_matmul(CpuKernelRegistry& r) {
  for (OpKind op : {OpKind::kMatMul, OpKind::kGemm, OpKind::kFusedMatMul})
    r.add(op, {"onednn_matmul", supports_matmul, run_matmul, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
