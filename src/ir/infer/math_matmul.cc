// Shape and type inference for MatMul, MatMulInteger, QLinearMatMul, Gemm, Einsum and Det.
#include <map>

#include "ir/infer_helpers.h"
#include "ir/op_params.h"

namespace kiln::math_infer {
namespace {

// Two dims that must be equal: error if both known and different.
bool dims_conflict(const Dim& a, const Dim& b) { return a.is_known() && b.is_known() && a.value != b.value; }

// Prefers a known dim, then a named one.
Dim merge_dim(const Dim& a, const Dim& b) {
  if (a.is_known()) return a;
  if (b.is_known()) return b;
  return a.symbol.empty() ? b : a;
}

// numpy matmul shape rule over symbolic shapes.
Status matmul_shape(const InferContext& ctx, const Shape& a_in, const Shape& b_in, Shape* out) {
  if (!a_in.rank_known || !b_in.rank_known) {
    *out = Shape::unknown_rank();
    return ok_status();
  }
  if (a_in.rank() == 0 || b_in.rank() == 0) return ctx.error("MatMul operands must have rank >= 1");
  Shape a = a_in, b = b_in;
  const bool a_vec = a.rank() == 1, b_vec = b.rank() == 1;
  if (a_vec) a.dims.insert(a.dims.begin(), Dim::known(1));
  if (b_vec) b.dims.push_back(Dim::known(1));
  const Dim& ka = a.dims[a.rank() - 1];
  const Dim& kb = b.dims[b.rank() - 2];
  if (dims_conflict(ka, kb))
    return ctx.error("inner dimensions differ: A " + a_in.to_string() + ", B " + b_in.to_string());
  Shape ab = Shape::of_dims(std::vector<Dim>(a.dims.begin(), a.dims.end() - 2));
  Shape bb = Shape::of_dims(std::vector<Dim>(b.dims.begin(), b.dims.end() - 2));
  Shape batch;
  Status st = broadcast_shapes(ab, bb, &batch);
  if (!st.ok()) return ctx.error("batch dimensions: " + st.message());
  if (!a_vec) batch.dims.push_back(a.dims[a.rank() - 2]);
  if (!b_vec) batch.dims.push_back(b.dims[b.rank() - 1]);
  *out = batch;
  return ok_status();
}

}  // namespace

Status infer_matmul(InferContext& ctx) {
  Shape s;
  KILN_RETURN_IF_ERROR(matmul_shape(ctx, ctx.input_type(0).shape, ctx.input_type(1).shape, &s));
  DType a = ctx.input_type(0).dtype, b = ctx.input_type(1).dtype;
  if (a != DType::kUndefined && b != DType::kUndefined && a != b)
    return ctx.error(std::string("A and B must have the same dtype, got ") + dtype_name(a) + " and " + dtype_name(b));
  ctx.set_output_type(0, TypeInfo::tensor(a != DType::kUndefined ? a : b, s));
  return ok_status();
}

Status infer_matmul_integer(InferContext& ctx) {
  Shape s;
  KILN_RETURN_IF_ERROR(matmul_shape(ctx, ctx.input_type(0).shape, ctx.input_type(1).shape, &s));
  ctx.set_output_type(0, TypeInfo::tensor(DType::kInt32, s));
  return ok_status();
}

Status infer_qlinear_matmul(InferContext& ctx) {
  Shape s;
  KILN_RETURN_IF_ERROR(matmul_shape(ctx, ctx.input_type(0).shape, ctx.input_type(3).shape, &s));
  DType dt = ctx.has_input(7) ? ctx.input_type(7).dtype : DType::kUndefined;
  if (dt == DType::kUndefined) dt = ctx.input_type(0).dtype;
  ctx.set_output_type(0, TypeInfo::tensor(dt, s));
  return ok_status();
}

Status infer_gemm(InferContext& ctx) {
  const TypeInfo& a = ctx.input_type(0);
  const TypeInfo& b = ctx.input_type(1);
  DType dt = a.dtype != DType::kUndefined ? a.dtype : b.dtype;
  if (!a.shape.rank_known || !b.shape.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims({Dim{}, Dim{}})));
    return ok_status();
  }
  if (a.shape.rank() != 2 || b.shape.rank() != 2)
    return ctx.error("A and B must be 2-D, got A " + a.shape.to_string() + " and B " + b.shape.to_string());
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  const bool ta = gp->trans_a, tb = gp->trans_b;
  Dim m = a.shape.dims[ta ? 1 : 0], ka = a.shape.dims[ta ? 0 : 1];
  Dim kb = b.shape.dims[tb ? 1 : 0], n = b.shape.dims[tb ? 0 : 1];
  if (dims_conflict(ka, kb))
    return ctx.error("inner dimensions differ: A " + a.shape.to_string() + ", B " + b.shape.to_string());
  Shape out = Shape::of_dims({m, n});
  if (ctx.has_input(2)) {
    const Shape& c = ctx.input_type(2).shape;
    Shape bc;
    if (c.rank_known && (c.rank() > 2 || !broadcast_shapes(c, out, &bc).ok()))
      return ctx.error("C " + c.to_string() + " cannot be broadcast to " + out.to_string());
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, out));
  return ok_status();
}

Status infer_einsum(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  std::string eq;
  for (char c : ctx.attrs().get_string("equation"))
    if (c != ' ') eq += c;
  auto unknown = [&] {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(dt));
    return ok_status();
  };
  const size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ctx.num_inputs())
    return ctx.error("equation '" + eq + "' has " + std::to_string(terms.size()) + " operands but the node has " +
                     std::to_string(ctx.num_inputs()) + " inputs");
  std::map<char, Dim> letter_dim;
  std::map<char, int> count;
  Shape ell = Shape::of_dims({});
  for (size_t i = 0; i < terms.size(); ++i) {
    const Shape& s = ctx.input_type(i).shape;
    const std::string& t = terms[i];
    size_t dots = t.find("...");
    std::string letters = t;
    if (dots != std::string::npos) letters.erase(dots, 3);
    for (char c : letters) count[c]++;
    if (!s.rank_known) return unknown();
    int64_t er = static_cast<int64_t>(s.rank()) - static_cast<int64_t>(letters.size());
    if (dots == std::string::npos ? er != 0 : er < 0)
      return ctx.error("operand " + std::to_string(i) + " of shape " + s.to_string() + " does not match subscripts '" +
                       t + "'");
    size_t axis = 0;
    for (size_t p = 0; p <= letters.size(); ++p) {
      if (dots != std::string::npos && p == dots) {
        Shape part = Shape::of_dims(std::vector<Dim>(s.dims.begin() + axis, s.dims.begin() + axis + er));
        Status st = broadcast_shapes(ell, part, &ell);
        if (!st.ok()) return ctx.error("ellipsis dimensions: " + st.message());
        axis += er;
      }
      if (p == letters.size()) break;
      const Dim& d = s.dims[axis++];
      auto it = letter_dim.find(letters[p]);
      if (it == letter_dim.end())
        letter_dim[letters[p]] = d;
      else if (dims_conflict(it->second, d))
        return ctx.error(std::string("label '") + letters[p] + "' has sizes " + it->second.to_string() + " and " +
                         d.to_string());
      else
        it->second = merge_dim(it->second, d);
    }
  }
  std::vector<Dim> out;
  if (arrow != std::string::npos) {
    std::string rhs = eq.substr(arrow + 2);
    size_t dots = rhs.find("...");
    for (size_t p = 0; p <= rhs.size(); ++p) {
      if (dots != std::string::npos && p == dots) {
        out.insert(out.end(), ell.dims.begin(), ell.dims.end());
        p += 2;
        continue;
      }
      if (p == rhs.size()) break;
      auto it = letter_dim.find(rhs[p]);
      if (it == letter_dim.end())
        return ctx.error(std::string("output label '") + rhs[p] + "' does not appear in the inputs");
      out.push_back(it->second);
    }
  } else {
    out = ell.dims;
    for (const auto& [c, n] : count)
      if (n == 1) out.push_back(letter_dim[c]);
  }
  ctx.set_output_type(0, TypeInfo::tensor(dt, Shape::of_dims(out)));
  return ok_status();
}

Status infer_det(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!x.shape.rank_known) {
    ctx.set_output_type(0, TypeInfo::tensor_unknown_shape(x.dtype));
    return ok_status();
  }
  if (x.shape.rank() < 2 || dims_conflict(x.shape.dims[x.shape.rank() - 1], x.shape.dims[x.shape.rank() - 2]))
    return ctx.error("input must have shape [*, M, M], got " + x.shape.to_string());
  ctx.set_output_type(
      0, TypeInfo::tensor(x.dtype, Shape::of_dims(std::vector<Dim>(x.shape.dims.begin(), x.shape.dims.end() - 2))));
  return ok_status();
}

}  // namespace kiln::math_infer
