// MatMul, Gemm and FusedMatMul on cuBLASLt: row-major products mapped onto column-major C^T = B^T A^T.
#include <algorithm>
#include <optional>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/gemm/epilogue_host.h"
#include "backends/cuda/gemm/gemm_kernels.h"
#include "backends/cuda/gemm/lt_plan.h"
#include "ir/op_params.h"

namespace kiln::cuda {
namespace {

// One row-major product family Y[b] = op(A[ia(b)]) op(B[ib(b)]) with A [M,K] ([K,M] when trans_a), B [K,N]
// ([N,K] when trans_b), Y [M,N]. A strided batch (stride 0 shares an operand); for a general batch broadcast,
// one strided-batch call per entry of a_index/b_index (the operands' first matrix of each call).
struct RowGemm {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0;     // elements; Y's batch stride is m*n
  std::vector<int64_t> a_index, b_index;  // non-empty: one call of `batch` matrices per entry
};

// The operands of a call, device pointers; c (Y's shape, scaled by beta) and bias may be null.
struct GemmOperands {
  const void* a = nullptr;
  const void* b = nullptr;
  const void* c = nullptr;
  void* y = nullptr;
  const void* bias = nullptr;
  float alpha = 1.f, beta = 0.f;
  int fp8_a = 0, fp8_b = 0;  // float8 A / B (LtProblem's codes: 1 e4m3, 2 e5m2); Y, C and bias have the call's type
  bool fp8_d = false;        // ... except a float8 e4m3 Y, scaled by the device float at d_scale
  const void* d_scale = nullptr;
};

LtProblem lt_problem(const RowGemm& g, ElemType t, bool tf32, cublasLtEpilogue_t ep, int64_t batch, int64_t sa,
                     int64_t sb, const GemmOperands& o) {
  LtProblem p;
  p.type = t;
  p.tf32 = tf32;
  p.m = g.n;
  p.n = g.m;
  p.k = g.k;
  p.trans_a = g.trans_b;
  p.lda = g.trans_b ? g.k : g.n;
  p.trans_b = g.trans_a;
  p.ldb = g.trans_a ? g.m : g.k;
  p.ldc = g.n;
  p.batch = batch;
  p.stride_a = sb;
  p.stride_b = sa;
  p.stride_c = g.m * g.n;
  p.epilogue = ep;
  p.fp8_a = o.fp8_b;  // the column-major swap: cuBLASLt's A is our B
  p.fp8_b = o.fp8_a;
  p.fp8_d = o.fp8_d;
  const uint64_t es = elem_size(t);
  const uint64_t es_a = o.fp8_a ? 1 : es, es_b = o.fp8_b ? 1 : es;
  p.align_a = alignment_of({reinterpret_cast<uint64_t>(o.b), static_cast<uint64_t>(sb) * es_b});
  p.align_b = alignment_of({reinterpret_cast<uint64_t>(o.a), static_cast<uint64_t>(sa) * es_a});
  p.align_d = alignment_of({reinterpret_cast<uint64_t>(o.y), static_cast<uint64_t>(p.stride_c) * (o.fp8_d ? 1 : es)});
  p.align_c = o.c ? alignment_of({reinterpret_cast<uint64_t>(o.c), static_cast<uint64_t>(p.stride_c) * es}) : p.align_d;
  return p;
}

// The first problem a call runs (the one num_tactics reports on).
LtProblem first_problem(const RowGemm& g, ElemType t, bool tf32, cublasLtEpilogue_t ep, const GemmOperands& o) {
  if (g.a_index.empty()) return lt_problem(g, t, tf32, ep, g.batch, g.stride_a, g.stride_b, o);
  const int64_t es = static_cast<int64_t>(elem_size(t));
  GemmOperands first = o;
  first.a = static_cast<const char*>(o.a) + g.a_index[0] * g.m * g.k * es;
  first.b = static_cast<const char*>(o.b) + g.b_index[0] * g.k * g.n * es;
  return lt_problem(g, t, tf32, ep, g.batch, g.stride_a, g.stride_b, first);
}

Status run_row_gemm(CudaKernelContext& ctx, const RowGemm& g, ElemType t, cublasLtEpilogue_t ep,
                    const GemmOperands& o) {
  const bool tf32 = ctx.allow_tf32();
  if (g.a_index.empty()) {
    KILN_ASSIGN_OR_RETURN(const LtPlan* plan,
                          lt_plan_for(ctx, lt_problem(g, t, tf32, ep, g.batch, g.stride_a, g.stride_b, o)));
    // Column-major swap: cuBLASLt's A is our B and its B is our A (see lt_problem).
    return plan->run(ctx, ctx.tactic(), o.alpha, o.b, o.a, o.beta, o.c, o.y, o.bias, o.d_scale);
  }
  const int64_t es = static_cast<int64_t>(elem_size(t));
  for (size_t i = 0; i < g.a_index.size(); ++i) {
    GemmOperands one = o;
    one.a = static_cast<const char*>(o.a) + g.a_index[i] * g.m * g.k * es;
    one.b = static_cast<const char*>(o.b) + g.b_index[i] * g.k * g.n * es;
    const int64_t y_off = static_cast<int64_t>(i) * g.batch * g.m * g.n * es;
    one.y = static_cast<char*>(o.y) + y_off;
    if (o.c) one.c = static_cast<const char*>(o.c) + y_off;
    KILN_ASSIGN_OR_RETURN(const LtPlan* plan,
                          lt_plan_for(ctx, lt_problem(g, t, tf32, ep, g.batch, g.stride_a, g.stride_b, one)));
    KILN_RETURN_IF_ERROR(
        plan->run(ctx, ctx.tactic(), one.alpha, one.b, one.a, one.beta, one.c, one.y, one.bias, one.d_scale));
  }
  return ok_status();
}

// Row-major index of each output batch matrix into an operand whose batch dims `src` broadcast to `out`.
std::vector<int64_t> batch_index_map(const Dims& src, const Dims& out) {
  const int64_t total = numel_of(out);
  std::vector<int64_t> map(static_cast<size_t>(total));
  const size_t off = out.size() - src.size();
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, idx = 0, stride = 1;
    for (size_t d = out.size(); d-- > 0;) {
      const int64_t coord = rem % out[d];
      rem /= out[d];
      if (d >= off) {
        const int64_t sd = src[d - off];
        if (sd != 1) idx += coord * stride;
        stride *= sd;
      }
    }
    map[i] = idx;
  }
  return map;
}

// General batch broadcast ([2,1,..] x [1,3,..]): the longest suffix of batch dims over which each operand is
// either whole or broadcast runs as one strided batch; the remaining prefix is looped over.
void split_broadcast_batch(const Dims& a_bat, const Dims& b_bat, const Dims& bat, RowGemm* g) {
  const size_t r = bat.size();
  auto padded = [&](const Dims& d) {
    Dims p(r - d.size(), 1);
    p.insert(p.end(), d.begin(), d.end());
    return p;
  };
  const Dims pa = padded(a_bat), pb = padded(b_bat);
  auto whole = [&](const Dims& p, size_t from) {
    for (size_t d = from; d < r; ++d)
      if (p[d] != bat[d]) return false;
    return true;
  };
  auto shared = [&](const Dims& p, size_t from) {
    for (size_t d = from; d < r; ++d)
      if (p[d] != 1) return false;
    return true;
  };
  size_t s = r;
  for (size_t cand = 0; cand < r; ++cand) {
    if ((whole(pa, cand) || shared(pa, cand)) && (whole(pb, cand) || shared(pb, cand))) {
      s = cand;
      break;
    }
  }
  const Dims outer(bat.begin(), bat.begin() + s), inner(bat.begin() + s, bat.end());
  const bool a_whole = whole(pa, s), b_whole = whole(pb, s);
  const int64_t inner_n = numel_of(inner);
  g->batch = inner_n;
  g->stride_a = a_whole ? g->m * g->k : 0;
  g->stride_b = b_whole ? g->k * g->n : 0;
  g->a_index = batch_index_map(Dims(pa.begin(), pa.begin() + s), outer);
  g->b_index = batch_index_map(Dims(pb.begin(), pb.begin() + s), outer);
  for (int64_t& i : g->a_index) i *= a_whole ? inner_n : 1;
  for (int64_t& i : g->b_index) i *= b_whole ? inner_n : 1;
}

// Plans a numpy matmul (1-D promotion, batch broadcast) with optional transposes of the last two dims.
Status plan_matmul(const CudaKernelContext& ctx, const Dims& a_in, const Dims& b_in, bool trans_a, bool trans_b,
                   RowGemm* g, Dims* out_dims) {
  if (a_in.empty() || b_in.empty())
    return ctx.error("operands must have rank >= 1, got A " + dims_to_string(a_in) + " and B " + dims_to_string(b_in));
  // A transpose of a 1-D operand is a no-op (as in the reference FusedMatMul).
  if (a_in.size() < 2) trans_a = false;
  if (b_in.size() < 2) trans_b = false;
  Dims a = a_in, b = b_in;
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  const size_t ra = a.size(), rb = b.size();
  g->trans_a = trans_a;
  g->trans_b = trans_b;
  g->m = trans_a ? a[ra - 1] : a[ra - 2];
  g->k = trans_a ? a[ra - 2] : a[ra - 1];
  const int64_t kb = trans_b ? b[rb - 1] : b[rb - 2];
  g->n = trans_b ? b[rb - 2] : b[rb - 1];
  if (kb != g->k)
    return ctx.error("inner dimensions differ: A " + dims_to_string(a_in) + " gives K=" + std::to_string(g->k) +
                     " but B " + dims_to_string(b_in) + " gives K=" + std::to_string(kb));
  Dims a_bat(a.begin(), a.end() - 2), b_bat(b.begin(), b.end() - 2);
  const size_t r = std::max(a_bat.size(), b_bat.size());
  Dims bat(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i + a_bat.size() >= r ? a_bat[i + a_bat.size() - r] : 1;
    const int64_t db = i + b_bat.size() >= r ? b_bat[i + b_bat.size() - r] : 1;
    if (da != db && da != 1 && db != 1)
      return ctx.error("batch dimensions of A " + dims_to_string(a_in) + " and B " + dims_to_string(b_in) +
                       " cannot be broadcast");
    bat[i] = da == 1 ? db : da;
  }
  *out_dims = bat;
  if (!a_vec) out_dims->push_back(g->m);
  if (!b_vec) out_dims->push_back(g->n);
  const int64_t batches = numel_of(bat), na = numel_of(a_bat), nb = numel_of(b_bat);
  g->a_index.clear();
  g->b_index.clear();
  g->batch = batches;
  g->stride_a = g->m * g->k;
  g->stride_b = g->k * g->n;
  if (batches <= 1) {
    g->batch = 1;
  } else if (nb == 1 && !trans_a) {
    g->m *= batches;  // B is shared: fold A's batch into M (A and Y are contiguous over it)
    g->batch = 1;
  } else if (na == 1) {
    g->stride_a = 0;
  } else if (nb == 1) {
    g->stride_b = 0;
  } else if (na != batches || nb != batches) {
    split_broadcast_batch(a_bat, b_bat, bat, g);
  }
  return ok_status();
}

Result<ElemType> float_type(const CudaKernelContext& ctx, size_t i, const char* name) {
  auto t = elem_type_of(ctx.input_dtype(i));
  if (!t)
    return ctx.unsupported(std::string("input ") + name + " dtype " + dtype_name(ctx.input_dtype(i)) +
                           " (float32, float16, bfloat16 only)");
  return *t;
}

bool types_are_float(const std::vector<const TypeInfo*>& types, std::initializer_list<size_t> which) {
  for (size_t i : which)
    if (i < types.size() && types[i] && types[i]->dtype != DType::kUndefined && !is_float_dtype(types[i]->dtype))
      return false;
  return true;
}

// Everything one of the three ops needs: the plan, the operands and the epilogues.
struct GemmCall {
  RowGemm g;
  Dims out_dims;
  ElemType type = ElemType::kF32;
  cublasLtEpilogue_t lt_epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  GemmOperands ops;
  bool allocate = true;        // false while counting tactics: Y stays unallocated (assumed 256-byte aligned)
  DType y_dtype = DType::kUndefined;  // Y's dtype when it is not A's (a float8 product: the bias's)
  fused::Activation act;       // FusedMatMul's activation (kNone for the others)
  bool need_epilogue = false;  // the separate epilogue kernel runs after the matmul
  EpilogueParams ep;
};

Status allocate_y(CudaKernelContext& ctx, GemmCall* call) {
  if (!call->allocate) return ok_status();
  const DType yt = call->y_dtype != DType::kUndefined ? call->y_dtype : ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, yt, call->out_dims));
  call->ops.y = y.data;
  return ok_status();
}

Status prepare_matmul(CudaKernelContext& ctx, GemmCall* call) {
  KILN_ASSIGN_OR_RETURN(call->type, float_type(ctx, 0, "A"));
  if (ctx.input_dtype(1) != ctx.input_dtype(0)) return ctx.error("A and B must have the same dtype");
  KILN_RETURN_IF_ERROR(plan_matmul(ctx, ctx.input_dims(0), ctx.input_dims(1), false, false, &call->g, &call->out_dims));
  KILN_ASSIGN_OR_RETURN(DeviceTensor a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(1));
  call->ops.a = a.data;
  call->ops.b = b.data;
  KILN_RETURN_IF_ERROR(allocate_y(ctx, call));
  return ok_status();
}

Status prepare_gemm(CudaKernelContext& ctx, GemmCall* call) {
  KILN_ASSIGN_OR_RETURN(call->type, float_type(ctx, 0, "A"));
  if (ctx.input_dtype(1) != ctx.input_dtype(0)) return ctx.error("A and B must have the same dtype");
  const Dims& ad = ctx.input_dims(0);
  const Dims& bd = ctx.input_dims(1);
  if (ad.size() != 2 || bd.size() != 2)
    return ctx.error("A and B must be 2-D, got A " + dims_to_string(ad) + " and B " + dims_to_string(bd));
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  KILN_RETURN_IF_ERROR(plan_matmul(ctx, ad, bd, gp->trans_a, gp->trans_b, &call->g, &call->out_dims));
  call->ops.alpha = gp->alpha;
  const float beta = gp->beta;
  KILN_ASSIGN_OR_RETURN(DeviceTensor a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(1));
  call->ops.a = a.data;
  call->ops.b = b.data;
  KILN_RETURN_IF_ERROR(allocate_y(ctx, call));
  if (ctx.has_input(2) && beta != 0.f) {
    if (ctx.input_dtype(2) != ctx.input_dtype(0)) return ctx.error("C must have A's dtype");
    const Dims& cd = ctx.input_dims(2);
    if (cd.size() > 2) return ctx.error("C " + dims_to_string(cd) + " cannot be broadcast to [M,N]");
    KILN_ASSIGN_OR_RETURN(DeviceTensor c, ctx.input(2));
    const bool full = cd == call->out_dims || (cd.empty() && numel_of(call->out_dims) == 1) ||
                      (cd.size() == 1 && cd[0] == call->g.n && call->g.m == 1);
    if (full) {
      call->ops.c = c.data;  // full shape: cuBLASLt adds beta * C
      call->ops.beta = beta;
    } else if (beta == 1.f && numel_of(cd) == call->g.n && (cd.size() < 2 || cd[0] == 1)) {
      call->ops.bias = c.data;  // a row vector: the bias epilogue
      call->lt_epilogue = CUBLASLT_EPILOGUE_BIAS;
    } else {
      KILN_RETURN_IF_ERROR(set_epilogue_residual(ctx, c.data, cd, call->out_dims, &call->ep));
      call->ep.z_scale = beta;
      call->need_epilogue = true;
    }
  }
  return ok_status();
}

int fp8_code(DType t) { return t == DType::kFloat8E4M3FN ? 1 : t == DType::kFloat8E5M2 ? 2 : 0; }

// Why the FP8 GEMM cannot run a FusedMatMul over float8 A and B ("" when it can): cuBLASLt's FP8 GEMM reads both
// operands K-major (transA 0, transB 1: fold_qdq_fp8's form), e4m3/e5m2 pairs other than e5m2 x e5m2, a 2-D B with
// K and N positive multiples of 16, and a float16/bfloat16/float32 bias (Y's type) with Z of that type. A float8 Y
// (input 4, y_inv_scale: `y_scale` its dtype) is written by the GEMM's epilogue alone: float16/bfloat16 bias,
// activation none/Relu/GeluTanh (a partial Z is refused at run time). Unknown dims pass.
std::string fp8_refusal(const Node& node, DType a, DType b, DType bias, DType z, const Dims* bdims,
                        DType y_scale = DType::kUndefined) {
  if (!fp8_code(a) || !fp8_code(b) || (fp8_code(a) == 2 && fp8_code(b) == 2))
    return std::string("float8 A ") + dtype_name(a) + " with B " + dtype_name(b) + " (e4m3fn/e5m2, not both e5m2)";
  auto gp = gemm_params(node.attrs);
  if (!gp.ok() || gp->trans_a || !gp->trans_b) return "an FP8 GEMM needs transA 0 and transB 1";
  if (!elem_type_of(bias)) return std::string("bias ") + dtype_name(bias) + " (float32, float16 or bfloat16)";
  if (z != DType::kUndefined && z != bias) return "Z of another dtype than the bias";
  if (bdims &&
      (bdims->size() != 2 || (*bdims)[0] % 16 != 0 || (*bdims)[1] % 16 != 0 || (*bdims)[0] == 0 || (*bdims)[1] == 0))
    return "B " + dims_to_string(*bdims) + " (an FP8 GEMM needs a 2-D B with dims that are positive multiples of 16)";
  if (y_scale != DType::kUndefined) {
    if (y_scale != DType::kFloat32) return std::string("y_inv_scale ") + dtype_name(y_scale) + " (float32 only)";
    if (bias != DType::kFloat16 && bias != DType::kBFloat16)
      return "a float8 Y with a " + std::string(dtype_name(bias)) + " bias (float16 or bfloat16 only)";
    auto act = fused::parse_activation(node);
    if (!act.ok() || (act->kind != fused::ActKind::kNone && act->kind != fused::ActKind::kRelu &&
                      act->kind != fused::ActKind::kGeluTanh))
      return "a float8 Y after an activation other than Relu or GeluTanh";
  }
  return "";
}

// The epilogue kernel applies Z (when given: already set in call->ep) and the activation after the GEMM.
void epilogue_kernel_finishes(GemmCall* call, const fused::Activation& act, bool has_z) {
  if (!has_z) call->ep.z = nullptr;
  call->ep.act = ep_act_of(act.kind);
  call->ep.act_alpha = act.alpha;
  call->ep.act_beta = act.beta;
  call->need_epilogue = true;
}

Status prepare_fused_matmul(CudaKernelContext& ctx, GemmCall* call) {
  const bool fp8 = fp8_code(ctx.input_dtype(0)) != 0;
  if (fp8) {
    const bool fp8_y = ctx.has_input(4);
    const std::string why = fp8_refusal(ctx.node(), ctx.input_dtype(0), ctx.input_dtype(1),
                                        ctx.has_input(2) ? ctx.input_dtype(2) : DType::kUndefined,
                                        ctx.has_input(3) ? ctx.input_dtype(3) : DType::kUndefined, &ctx.input_dims(1),
                                        fp8_y ? ctx.input_dtype(4) : DType::kUndefined);
    if (!why.empty()) return ctx.unsupported("FusedMatMul on CUDA does not take " + why);
    call->type = *elem_type_of(ctx.input_dtype(2));
    call->y_dtype = fp8_y ? DType::kFloat8E4M3FN : ctx.input_dtype(2);
    call->ops.fp8_a = fp8_code(ctx.input_dtype(0));
    call->ops.fp8_b = fp8_code(ctx.input_dtype(1));
    if (fp8_y) {
      if (numel_of(ctx.input_dims(4)) != 1) return ctx.error("y_inv_scale must be a scalar");
      KILN_ASSIGN_OR_RETURN(DeviceTensor s, ctx.input(4));
      call->ops.fp8_d = true;
      call->ops.d_scale = s.data;
    }
  } else {
    KILN_ASSIGN_OR_RETURN(call->type, float_type(ctx, 0, "A"));
    if (ctx.input_dtype(1) != ctx.input_dtype(0)) return ctx.error("A and B must have the same dtype");
  }
  const DType yt = fp8 ? ctx.input_dtype(2) : ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(call->act, fused::parse_activation(ctx.node()));
  const fused::Activation& act = call->act;
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  KILN_RETURN_IF_ERROR(
      plan_matmul(ctx, ctx.input_dims(0), ctx.input_dims(1), gp->trans_a, gp->trans_b, &call->g, &call->out_dims));
  call->ops.alpha = gp->alpha;
  KILN_ASSIGN_OR_RETURN(DeviceTensor a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(1));
  call->ops.a = a.data;
  call->ops.b = b.data;
  KILN_RETURN_IF_ERROR(allocate_y(ctx, call));
  const bool has_bias = ctx.has_input(2), has_z = ctx.has_input(3);
  if (has_bias) {
    if (ctx.input_dtype(2) != yt) return ctx.error("bias must have A's dtype");
    if (ctx.input_dims(2) != Dims{call->g.n})
      return ctx.error("bias must have shape [" + std::to_string(call->g.n) + "], got " +
                       dims_to_string(ctx.input_dims(2)));
    KILN_ASSIGN_OR_RETURN(DeviceTensor bias, ctx.input(2));
    call->ops.bias = bias.data;
  }
  bool z_full = false;
  DeviceTensor z;
  if (has_z) {
    if (ctx.input_dtype(3) != yt) return ctx.error("Z must have A's dtype");
    KILN_ASSIGN_OR_RETURN(z, ctx.input(3));
    KILN_RETURN_IF_ERROR(set_epilogue_residual(ctx, z.data, ctx.input_dims(3), call->out_dims, &call->ep));
    z_full = numel_of(ctx.input_dims(3)) == numel_of(call->out_dims);
  }
  // cuBLASLt applies its activation after adding C and bias; its GELU is the tanh form. A float32 FP8 product takes
  // only a bfloat16 bias there, so its bias, Z and activation go to the epilogue kernel.
  const bool lt_act =
      act.kind == fused::ActKind::kNone || act.kind == fused::ActKind::kRelu || act.kind == fused::ActKind::kGeluTanh;
  if (fp8 && call->type == ElemType::kF32) {
    if (has_bias) {
      call->ep.bias = call->ops.bias;
      call->ep.bias_inner = 1;
      call->ep.bias_channels = call->g.n;
      call->ops.bias = nullptr;
    }
    epilogue_kernel_finishes(call, act, has_z);
    return ok_status();
  }
  if (lt_act && (!has_z || z_full)) {
    if (has_z) {
      call->ops.c = z.data;
      call->ops.beta = 1.f;
    }
    if (act.kind == fused::ActKind::kRelu)
      call->lt_epilogue = has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    else if (act.kind == fused::ActKind::kGeluTanh)
      call->lt_epilogue = has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    else
      call->lt_epilogue = has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    call->ep = EpilogueParams{};
    return ok_status();
  }
  // Otherwise: bias in cuBLASLt, then Z and the activation in the epilogue kernel (not for a float8 Y).
  if (call->ops.fp8_d) return ctx.unsupported("FusedMatMul on CUDA does not take a float8 Y with a partial Z");
  if (has_bias) call->lt_epilogue = CUBLASLT_EPILOGUE_BIAS;
  epilogue_kernel_finishes(call, act, has_z);
  return ok_status();
}

using PrepareFn = Status (*)(CudaKernelContext&, GemmCall*);

Status run_call(CudaKernelContext& ctx, PrepareFn prepare) {
  GemmCall call;
  KILN_RETURN_IF_ERROR(prepare(ctx, &call));
  const int64_t total = numel_of(call.out_dims);
  if (total == 0) return ok_status();
  if (call.g.k == 0) {
    // Empty reduction: op(A) op(B) is zero, so Y = act(bias + beta * C or Z) through the epilogue kernel alone.
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(call.ops.y, 0, total * elem_size(call.type), ctx.stream()));
    EpilogueParams ep = call.ep;
    if (call.ops.c) {
      ep.z = call.ops.c;
      ep.z_full = true;
      ep.z_scale = call.ops.beta;
    }
    if (call.ops.bias) {
      ep.bias = call.ops.bias;
      ep.bias_inner = 1;
      ep.bias_channels = call.g.n;
    }
    ep.act = ep_act_of(call.act.kind);
    ep.act_alpha = call.act.alpha;
    ep.act_beta = call.act.beta;
    ep.y = call.ops.y;
    ep.type = call.type;
    ep.n = total;
    return run_epilogue(ctx, ep);
  }
  KILN_RETURN_IF_ERROR(run_row_gemm(ctx, call.g, call.type, call.lt_epilogue, call.ops));
  if (call.need_epilogue) {
    call.ep.y = call.ops.y;
    call.ep.type = call.type;
    call.ep.n = total;
    KILN_RETURN_IF_ERROR(run_epilogue(ctx, call.ep));
  }
  return ok_status();
}

int tactics_of(CudaKernelContext& ctx, PrepareFn prepare) {
  GemmCall call;
  call.allocate = false;
  if (!prepare(ctx, &call).ok() || numel_of(call.out_dims) == 0 || call.g.k == 0) return 1;
  auto plan = lt_plan_for(ctx, first_problem(call.g, call.type, ctx.allow_tf32(), call.lt_epilogue, call.ops));
  return plan.ok() ? std::max(1, (*plan)->num_algos()) : 1;
}

Status matmul_run(CudaKernelContext& ctx) { return run_call(ctx, prepare_matmul); }
Status gemm_run(CudaKernelContext& ctx) { return run_call(ctx, prepare_gemm); }
Status fused_matmul_run(CudaKernelContext& ctx) { return run_call(ctx, prepare_fused_matmul); }
int matmul_tactics(CudaKernelContext& ctx) { return tactics_of(ctx, prepare_matmul); }
int gemm_tactics(CudaKernelContext& ctx) { return tactics_of(ctx, prepare_gemm); }
int fused_matmul_tactics(CudaKernelContext& ctx) { return tactics_of(ctx, prepare_fused_matmul); }

bool matmul_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  return types_are_float(types, {0, 1});
}
bool gemm_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  return types_are_float(types, {0, 1, 2});
}
bool fused_matmul_supports(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!fused::parse_activation(node).ok()) return false;
  auto dt = [&](size_t i) { return i < types.size() && types[i] ? types[i]->dtype : DType::kUndefined; };
  if (fp8_code(dt(0))) {
    const TypeInfo* b = types.size() > 1 ? types[1] : nullptr;
    std::optional<Dims> bd;
    if (b && b->shape.rank_known && b->shape.fully_known()) bd = b->shape.concrete();
    return fp8_refusal(node, dt(0), dt(1), dt(2), dt(3), bd ? &*bd : nullptr,
                       node.has_input(4) ? (dt(4) == DType::kUndefined ? DType::kFloat32 : dt(4)) : DType::kUndefined)
        .empty();
  }
  return types_are_float(types, {0, 1, 2, 3});
}
std::string lt_tactic_name(const Node& node, int64_t tactic) { return "cublasLt algorithm #" + std::to_string(tactic); }

}  // namespace

CudaKernel matmul_kernel() { return {matmul_run, matmul_supports, matmul_tactics, lt_tactic_name, true}; }
CudaKernel gemm_kernel() { return {gemm_run, gemm_supports, gemm_tactics, lt_tactic_name, true}; }
CudaKernel fused_matmul_kernel() {
  return {fused_matmul_run, fused_matmul_supports, fused_matmul_tactics, lt_tactic_name, true};
}

}  // namespace kiln::cuda
