// Shape and type inference for Kiln's fused ops (FusedConv, FusedMatMul, FusedElementwise, FusedAddLayerNorm,
// LookupTable; docs/fused-ops.md).
// The geometry is delegated to the Conv and MatMul inference functions, so fused and plain ops agree exactly.
#include "ir/infer/fused_ops.h"
#include "ir/infer_helpers.h"
#include "ir/op_params.h"

namespace kiln {
namespace {

bool is_float_or_unknown(DType t) { return t == DType::kUndefined || is_float(t); }

// Checks that inputs `ins` share input 0's dtype (unknown dtypes pass) and that it is a float type.
Status check_float_dtypes(const InferContext& ctx, std::initializer_list<size_t> ins, const char* what) {
  const DType t0 = ctx.input_type(0).dtype;
  if (!is_float_or_unknown(t0)) return ctx.error(std::string(what) + " needs a float input; got " + dtype_name(t0));
  for (size_t i : ins) {
    if (!ctx.has_input(i)) continue;
    const DType t = ctx.input_type(i).dtype;
    if (t != DType::kUndefined && t0 != DType::kUndefined && t != t0)
      return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(t) + "; input 0 has " +
                       dtype_name(t0));
  }
  return ok_status();
}

// Runs the registered inference of `op` on `types` as if it were this node, returning output 0's type.
Status infer_as(const InferContext& ctx, OpKind op, std::vector<TypeInfo> types, TypeInfo* out) {
  InferFn fn = infer_registry().find(op);
  if (!fn) return internal_error("no inference function for the op a fused op builds on");
  std::vector<const Tensor*> values(types.size(), nullptr);
  InferContext inner(ctx.node(), std::move(types), std::move(values), nullptr);
  KILN_RETURN_IF_ERROR(fn(inner));
  *out = inner.output_types().empty() ? TypeInfo{} : inner.output_types()[0];
  return ok_status();
}

// Moves dim `from` of a known-rank shape to position `to`.
Shape move_dim(const Shape& s, size_t from, size_t to) {
  if (!s.rank_known || from >= s.rank() || to >= s.rank()) return s;
  Shape r = s;
  Dim d = r.dims[from];
  r.dims.erase(r.dims.begin() + from);
  r.dims.insert(r.dims.begin() + to, d);
  return r;
}

// True if `a` and `b` can be the same shape (equal ranks, no two known dims differ).
bool shapes_compatible(const Shape& a, const Shape& b) {
  if (!a.rank_known || !b.rank_known) return true;
  if (a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.rank(); ++i)
    if (a.dims[i].is_known() && b.dims[i].is_known() && a.dims[i].value != b.dims[i].value) return false;
  return true;
}

// B must be [M] where M is the output channel (or column) count `m`.
Status check_bias(const InferContext& ctx, size_t in, const Dim& m, const char* name) {
  if (!ctx.has_input(in)) return ok_status();
  const Shape& b = ctx.input_type(in).shape;
  if (!b.rank_known) return ok_status();
  if (b.rank() != 1 || (b.dims[0].is_known() && m.is_known() && b.dims[0].value != m.value))
    return ctx.error(std::string(name) + " must have shape [" + m.to_string() + "]; got " + b.to_string());
  return ok_status();
}

Status infer_fused_conv(InferContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("inputs X and W are required");
  if (ctx.num_inputs() > 4) return ctx.error("takes at most 4 inputs (X, W, B, Z)");
  KILN_RETURN_IF_ERROR(fused::parse_activation(ctx.node()).status());
  KILN_RETURN_IF_ERROR(check_float_dtypes(ctx, {1, 2, 3}, "FusedConv"));
  const std::string layout = ctx.attrs().get_string("layout", "NCHW");
  if (layout != "NCHW" && layout != "NHWC") return ctx.error("layout must be NCHW or NHWC; got '" + layout + "'");
  const bool nhwc = layout == "NHWC";
  TypeInfo x = ctx.input_type(0), w = ctx.input_type(1);
  if (nhwc) {
    // Channels-last X [N, spatial..., C] and W [M, k..., C/g] become the channels-first forms Conv expects.
    if (x.shape.rank_known) x.shape = move_dim(x.shape, x.shape.rank() - 1, 1);
    if (w.shape.rank_known) w.shape = move_dim(w.shape, w.shape.rank() - 1, 1);
  }
  TypeInfo y;
  KILN_RETURN_IF_ERROR(infer_as(ctx, OpKind::kConv, {x, w}, &y));
  const Dim m = y.shape.rank_known && y.shape.rank() >= 2 ? y.shape.dims[1] : Dim{};
  if (nhwc && y.shape.rank_known) y.shape = move_dim(y.shape, 1, y.shape.rank() - 1);
  KILN_RETURN_IF_ERROR(check_bias(ctx, 2, m, "B"));
  if (ctx.has_input(3) && !shapes_compatible(ctx.input_type(3).shape, y.shape))
    return ctx.error("Z must have the output's shape " + y.shape.to_string() + "; got " +
                     ctx.input_type(3).shape.to_string());
  ctx.set_output_type(0, y);
  return ok_status();
}

// FusedMatMul over float8 operands (the FP8 GEMM that fold_qdq makes, docs/fused-ops.md): A and B float8 of one
// family each (e4m3/e5m2 variants may pair), the bias required and of a wider float type, which Y and Z share.
Status check_float8_matmul_dtypes(const InferContext& ctx) {
  const DType tb = ctx.input_type(1).dtype;
  if (tb != DType::kUndefined && !is_float8(tb))
    return ctx.error("float8 A needs a float8 B; got " + std::string(dtype_name(tb)));
  if (!ctx.has_input(2)) return ctx.error("float8 A and B need the bias input (it gives Y's float type)");
  const DType ty = ctx.input_type(2).dtype;
  if (ty != DType::kFloat32 && ty != DType::kFloat16 && ty != DType::kBFloat16 && ty != DType::kUndefined)
    return ctx.error("the bias of a float8 product must be float32, float16 or bfloat16; got " +
                     std::string(dtype_name(ty)));
  if (ctx.has_input(3) && ctx.input_type(3).dtype != DType::kUndefined && ctx.input_type(3).dtype != ty)
    return ctx.error("Z has dtype " + std::string(dtype_name(ctx.input_type(3).dtype)) + "; the bias has " +
                     dtype_name(ty));
  return ok_status();
}

// Swaps the last two dims (transA / transB); rank-1 operands are left alone.
Shape transpose_last2(const Shape& s) {
  if (!s.rank_known || s.rank() < 2) return s;
  Shape r = s;
  std::swap(r.dims[r.rank() - 1], r.dims[r.rank() - 2]);
  return r;
}

Status infer_fused_matmul(InferContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("inputs A and B are required");
  const bool fp8 = is_float8(ctx.input_type(0).dtype);
  if (ctx.num_inputs() > (fp8 ? 5 : 4))
    return ctx.error(fp8 ? "takes at most 5 inputs (A, B, bias, Z, y_inv_scale)"
                         : "takes at most 4 inputs (A, B, bias, Z)");
  KILN_RETURN_IF_ERROR(fused::parse_activation(ctx.node()).status());
  if (fp8) {
    KILN_RETURN_IF_ERROR(check_float8_matmul_dtypes(ctx));
  } else {
    KILN_RETURN_IF_ERROR(check_float_dtypes(ctx, {1, 2, 3}, "FusedMatMul"));
  }
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  TypeInfo a = ctx.input_type(0), b = ctx.input_type(1);
  if (fp8) b.dtype = a.dtype;  // float8 formats may pair (e4m3 x e5m2); MatMul's inference wants one dtype
  if (gp->trans_a) a.shape = transpose_last2(a.shape);
  if (gp->trans_b) b.shape = transpose_last2(b.shape);
  TypeInfo y;
  KILN_RETURN_IF_ERROR(infer_as(ctx, OpKind::kMatMul, {a, b}, &y));
  if (fp8) y.dtype = ctx.input_type(2).dtype;  // float8 operands: Y has the bias's float type
  if (fp8 && ctx.has_input(4)) {               // ... or is float8e4m3fn with y_inv_scale
    const TypeInfo& s = ctx.input_type(4);
    if ((s.dtype != DType::kFloat32 && s.dtype != DType::kUndefined) ||
        (s.shape.rank_known && s.shape.fully_known() && s.shape.rank() > 1))
      return ctx.error("y_inv_scale must be a float32 scalar; got " + std::string(dtype_name(s.dtype)) +
                       s.shape.to_string());
    y.dtype = DType::kFloat8E4M3FN;
  }
  Dim n;
  if (b.shape.rank_known) n = b.shape.rank() >= 2 ? b.shape.dims[b.shape.rank() - 1] : Dim::known(1);
  KILN_RETURN_IF_ERROR(check_bias(ctx, 2, n, "bias"));
  if (ctx.has_input(3)) {
    Shape joined;
    const Shape& z = ctx.input_type(3).shape;
    Status st = broadcast_shapes(y.shape, z, &joined);
    if (!st.ok() || !shapes_compatible(joined, y.shape))
      return ctx.error("Z " + z.to_string() + " does not broadcast to the output shape " + y.shape.to_string());
  }
  ctx.set_output_type(0, y);
  return ok_status();
}

Status infer_fused_elementwise(InferContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.error("needs at least one input");
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is missing (no optional inputs)");
  KILN_RETURN_IF_ERROR(fused::parse_program(ctx.node()).status());
  const DType dt = ctx.input_type(0).dtype;
  Shape out = ctx.input_type(0).shape;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const DType t = ctx.input_type(i).dtype;
    if (!is_float_or_unknown(t))
      return ctx.error("input " + std::to_string(i) + " must be a float tensor; got " + dtype_name(t));
    if (i == 0) continue;
    Shape next;
    Status st = broadcast_shapes(out, ctx.input_type(i).shape, &next);
    if (!st.ok()) return ctx.error("inputs do not broadcast: " + st.message());
    out = next;
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, out));
  return ok_status();
}

// FusedAddLayerNorm(X, R, Scale[, B]): LayerNormalization over the last axis of X + R, where R's shape is a suffix
// of X's (leading dims may be missing or 1) ending with X's last dim; R may be omitted (X alone). With the
// attribute fp8_scale, output 1 is Y quantized to float8e4m3fn (docs/fused-ops.md).
Status infer_fused_add_layer_norm(InferContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(2)) return ctx.error("inputs X and Scale are required");
  const bool fp8 = ctx.attrs().has("fp8_scale");
  if (ctx.num_outputs() > 2 || (ctx.num_outputs() == 2 && !fp8))
    return ctx.error("output 1 (Y as float8) needs the attribute fp8_scale");
  if (fp8 && !(ctx.attrs().get_float("fp8_scale", 0.f) > 0.f))
    return ctx.error("fp8_scale must be positive");
  if (ctx.num_inputs() > 4) return ctx.error("takes at most 4 inputs (X, R, Scale, B)");
  KILN_RETURN_IF_ERROR(check_float_dtypes(ctx, {1}, "FusedAddLayerNorm"));
  const int64_t axis = ctx.attrs().get_int("axis", -1);
  const Shape& x = ctx.input_type(0).shape;
  const Shape r = ctx.has_input(1) ? ctx.input_type(1).shape : Shape::unknown_rank();
  if (x.rank_known && axis != -1 && axis != static_cast<int64_t>(x.rank()) - 1)
    return ctx.error("axis must be the last one (-1); got " + std::to_string(axis));
  if (x.rank_known && r.rank_known) {
    if (r.rank() < 1 || r.rank() > x.rank())
      return ctx.error("R " + r.to_string() + " is not a suffix of X " + x.to_string());
    const size_t off = x.rank() - r.rank();
    bool leading = true;  // R's dims before its first dim > 1 may be 1
    for (size_t i = 0; i < r.rank(); ++i) {
      const Dim& rd = r.dims[i];
      const Dim& xd = x.dims[off + i];
      if (leading && rd.is_known() && rd.value == 1 && i + 1 < r.rank()) continue;
      leading = false;
      if (rd.is_known() && xd.is_known() && rd.value != xd.value)
        return ctx.error("R " + r.to_string() + " must match X " + x.to_string() + " on its trailing dims");
    }
  }
  TypeInfo y;
  std::vector<TypeInfo> ln = {ctx.input_type(0), ctx.input_type(2)};
  if (ctx.has_input(3)) ln.push_back(ctx.input_type(3));
  KILN_RETURN_IF_ERROR(infer_as(ctx, OpKind::kLayerNormalization, ln, &y));
  ctx.set_output_type(0, y);  // (unused when output 0 is omitted)
  if (ctx.num_outputs() == 2) {
    y.dtype = DType::kFloat8E4M3FN;
    ctx.set_output_type(1, y);
  }
  return ok_status();
}

// LookupTable(X, Table): Y[i] = Table[X[i]] (uint8 X) or Table[X[i] + 128] (int8 X); Y has X's shape and the
// Table's dtype. Table is a 1-D tensor of 256 values.
Status infer_lookup_table(InferContext& ctx) {
  if (ctx.num_inputs() != 2 || !ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("takes inputs X and Table");
  const DType x = ctx.input_type(0).dtype;
  if (x != DType::kUndefined && x != DType::kUInt8 && x != DType::kInt8)
    return ctx.error(std::string("X must be uint8 or int8; got ") + dtype_name(x));
  const Shape& t = ctx.input_type(1).shape;
  if (t.rank_known && (t.rank() != 1 || (t.dims[0].is_known() && t.dims[0].value != 256)))
    return ctx.error("Table must hold 256 values in one dimension; got " + t.to_string());
  ctx.set_output_type(0, TypeInfo::tensor(ctx.input_type(1).dtype, ctx.input_type(0).shape));
  return ok_status();
}

}  // namespace

void register_fused_infer(InferRegistry& r) {
  r.add(OpKind::kFusedAddLayerNorm, infer_fused_add_layer_norm);
  r.add(OpKind::kFusedConv, infer_fused_conv);
  r.add(OpKind::kFusedMatMul, infer_fused_matmul);
  r.add(OpKind::kFusedElementwise, infer_fused_elementwise);
  r.add(OpKind::kLookupTable, infer_lookup_table);
}

}  // namespace kiln
