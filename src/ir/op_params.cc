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

Result<PixelShuffle> pixel_shuffle(OpKind op, const Attrs& attrs, const Dims& x) {
  if (x.size() != 4) return invalid_argument("input must be 4-D (N, C, H, W), got " + dims_to_string(x));
  const int64_t b = attrs.get_int("blocksize", 0);
  if (b <= 0) return invalid_argument("blocksize must be positive, got " + std::to_string(b));
  const int64_t n = x[0], c = x[1], h = x[2], w = x[3];
  if (op == OpKind::kSpaceToDepth) {
    if (h % b != 0 || w % b != 0)
      return invalid_argument("spatial dims " + dims_to_string(x) + " must be divisible by blocksize " +
                              std::to_string(b));
    // [n, c, h', b, w', b] -> [n, b, b, c, h', w'].
    return PixelShuffle{{n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4}, {n, c * b * b, h / b, w / b}};
  }
  const std::string mode = attrs.get_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return invalid_argument("mode must be DCR or CRD, got '" + mode + "'");
  if (c % (b * b) != 0)
    return invalid_argument("channels (" + std::to_string(c) + ") must be divisible by blocksize^2 (" +
                            std::to_string(b * b) + ")");
  const int64_t oc = c / (b * b);
  // DCR: [n, b, b, c', h, w] -> [n, c', h, b, w, b]; CRD: [n, c', b, b, h, w] -> the same.
  if (mode == "DCR") return PixelShuffle{{n, b, b, oc, h, w}, {0, 3, 4, 1, 5, 2}, {n, oc, h * b, w * b}};
  return PixelShuffle{{n, oc, b, b, h, w}, {0, 1, 4, 2, 5, 3}, {n, oc, h * b, w * b}};
}

namespace {

Result<int64_t> normalized_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace

Result<int64_t> concat_axis(const Attrs& attrs, int64_t rank) {
  if (!attrs.has("axis")) return invalid_argument("attribute axis is required");
  return normalized_axis(attrs.get_int("axis", 0), rank);
}

Result<int64_t> gather_axis(const Attrs& attrs, int64_t rank) {
  return normalized_axis(attrs.get_int("axis", 0), rank);
}

}  // namespace kiln
