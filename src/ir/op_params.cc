// Typed parameters of ops (see op_params.h).
#include "ir/op_params.h"

#include <string>

namespace kiln {

namespace {

bool softmax_is_legacy(const Node& node) { return node.opset > 0 && node.opset < 13; }

}  // namespace

Result<int64_t> softmax_axis(const Node& node, int64_t rank) {
  const int64_t attr = node.attrs.get_int("axis", softmax_is_legacy(node) ? 1 : -1);
  const int64_t axis = attr < 0 ? attr + rank : attr;
  if (rank == 0 || axis < 0 || axis >= rank)
    return invalid_argument(node.describe() + ": axis " + std::to_string(attr) + " is out of range for input of rank " +
                            std::to_string(rank));
  return axis;
}

Result<SoftmaxShape> softmax_shape(const Node& node, const Dims& dims) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  SoftmaxShape s;
  KILN_ASSIGN_OR_RETURN(s.axis, softmax_axis(node, rank));
  s.coerced_2d = softmax_is_legacy(node);
  for (int64_t d = 0; d < rank; ++d) {
    if (d < s.axis)
      s.outer *= dims[d];
    else if (d == s.axis || s.coerced_2d)
      s.len *= dims[d];
    else
      s.inner *= dims[d];
  }
  return s;
}

Result<GemmParams> gemm_params(const Attrs& attrs) {
  GemmParams p;
  for (auto [name, flag] : {std::pair<const char*, bool*>{"transA", &p.trans_a}, {"transB", &p.trans_b}}) {
    const int64_t v = attrs.get_int(name, 0);
    if (v != 0 && v != 1) return invalid_argument(std::string(name) + " must be 0 or 1; got " + std::to_string(v));
    *flag = v == 1;
  }
  p.alpha = attrs.get_float("alpha", 1.f);
  p.beta = attrs.get_float("beta", 1.f);
  return p;
}

Result<std::vector<int64_t>> transpose_perm(const Attrs& attrs, int64_t rank) {
  std::vector<int64_t> perm;
  if (attrs.has("perm")) {
    perm = attrs.get_ints("perm");
  } else {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  auto show = [&perm] {
    std::string s = "[";
    for (size_t i = 0; i < perm.size(); ++i) s += (i ? "," : "") + std::to_string(perm[i]);
    return s + "]";
  };
  if (static_cast<int64_t>(perm.size()) != rank)
    return invalid_argument("perm " + show() + " has " + std::to_string(perm.size()) +
                            " entries but the input has rank " + std::to_string(rank));
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  const std::string given = show();
  for (int64_t& p : perm) {
    if (p < -rank || p >= rank || seen[p < 0 ? p + rank : p])
      return invalid_argument("perm " + given + " is not a permutation of the input's " + std::to_string(rank) +
                              " axes");
    if (p < 0) p += rank;
    seen[p] = true;
  }
  return perm;
}

}  // namespace kiln
