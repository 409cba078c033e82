// Einsum reference kernel: general Einstein summation (repeated labels, ellipsis broadcast, implicit output).
#include <map>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"

namespace kiln::math_ref {
namespace {

// One operand's subscripts: letters, with the ellipsis (if any) at position `ellipsis_at`.
struct Term {
  std::string letters;
  int ellipsis_at = -1;  // index into `letters` where "..." stands, -1 if absent
};

bool parse_term(const std::string& s, Term* t) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (t->ellipsis_at >= 0 || s.compare(i, 3, "...") != 0) return false;
      t->ellipsis_at = static_cast<int>(t->letters.size());
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      t->letters += c;
    } else {
      return false;
    }
  }
  return true;
}

template <typename V, typename Acc>
std::vector<V> run_einsum(const std::vector<std::vector<V>>& ins, const std::vector<std::vector<int64_t>>& strides,
                          const std::vector<int64_t>& out_strides, const std::vector<int64_t>& sizes, int64_t out_n) {
  std::vector<Acc> acc(static_cast<size_t>(out_n), Acc(0));
  const size_t nl = sizes.size();
  for (int64_t s : sizes)
    if (s == 0) return std::vector<V>(acc.begin(), acc.end());
  std::vector<int64_t> idx(nl, 0), off(ins.size(), 0);
  int64_t out_off = 0;
  while (true) {
    Acc prod = Acc(1);
    for (size_t i = 0; i < ins.size(); ++i) prod *= static_cast<Acc>(ins[i][off[i]]);
    acc[out_off] += prod;
    size_t d = nl;
    while (d > 0) {
      --d;
      if (++idx[d] < sizes[d]) {
        for (size_t i = 0; i < ins.size(); ++i) off[i] += strides[i][d];
        out_off += out_strides[d];
        break;
      }
      for (size_t i = 0; i < ins.size(); ++i) off[i] -= strides[i][d] * (sizes[d] - 1);
      out_off -= out_strides[d] * (sizes[d] - 1);
      idx[d] = 0;
      if (d == 0) return std::vector<V>(acc.begin(), acc.end());
    }
    if (nl == 0) return std::vector<V>(acc.begin(), acc.end());
  }
}

}  // namespace

Status einsum(KernelContext& ctx) {
  std::string eq;
  for (char c : ctx.attrs().get_string("equation"))
    if (c != ' ') eq += c;
  if (eq.empty()) return ctx.error("attribute 'equation' is missing or empty");
  std::string lhs = eq, rhs;
  const bool explicit_out = eq.find("->") != std::string::npos;
  if (explicit_out) {
    lhs = eq.substr(0, eq.find("->"));
    rhs = eq.substr(eq.find("->") + 2);
  }
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    Term t;
    if (!parse_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), &t))
      return ctx.error("bad subscripts in equation '" + eq + "'");
    terms.push_back(t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ctx.num_inputs())
    return ctx.error("equation '" + eq + "' has " + std::to_string(terms.size()) + " operands but the node has " +
                     std::to_string(ctx.num_inputs()) + " inputs");
  DType dt = DType::kUndefined;
  for (size_t i = 0; i < terms.size(); ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    if (i == 0)
      dt = ctx.input(0).dtype();
    else if (ctx.input(i).dtype() != dt)
      return ctx.error("all inputs must have the same dtype, input " + std::to_string(i) + " is " +
                       dtype_name(ctx.input(i).dtype()) + ", input 0 is " + dtype_name(dt));
  }
  if (!is_float(dt) && !is_plain_integer(dt))
    return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  // Ellipsis dims: broadcast over all operands, right-aligned.
  Dims ell;
  std::vector<int64_t> ell_rank(terms.size(), 0);
  for (size_t i = 0; i < terms.size(); ++i) {
    const Tensor& x = ctx.input(i);
    int64_t r = static_cast<int64_t>(x.rank()) - static_cast<int64_t>(terms[i].letters.size());
    if (terms[i].ellipsis_at < 0 ? r != 0 : r < 0)
      return ctx.error("operand " + std::to_string(i) + " has shape " + shape_str(x.dims()) + " but its subscripts '" +
                       (terms[i].ellipsis_at >= 0 ? terms[i].letters + " with ..." : terms[i].letters) +
                       "' name a different rank");
    ell_rank[i] = r;
    if (r > 0) {
      int64_t e0 = terms[i].ellipsis_at;
      Dims part(x.dims().begin() + e0, x.dims().begin() + e0 + r), merged;
      if (!broadcast_dims(ell, part, &merged))
        return ctx.error("ellipsis dimensions of operand " + std::to_string(i) + " " + shape_str(part) +
                         " do not broadcast with " + shape_str(ell));
      ell = merged;
    }
  }
  const int64_t n_ell = static_cast<int64_t>(ell.size());
  // Labels: ids [0, n_ell) are the ellipsis dims, then one per letter.
  std::map<char, int64_t> letter_id;
  std::map<char, int> letter_count;
  std::vector<int64_t> sizes(ell.begin(), ell.end());
  for (size_t i = 0; i < terms.size(); ++i) {
    const Tensor& x = ctx.input(i);
    for (size_t p = 0; p < terms[i].letters.size(); ++p) {
      char c = terms[i].letters[p];
      int64_t axis = static_cast<int64_t>(p) +
                     (terms[i].ellipsis_at >= 0 && static_cast<int>(p) >= terms[i].ellipsis_at ? ell_rank[i] : 0);
      int64_t size = x.dim(axis);
      letter_count[c]++;
      auto it = letter_id.find(c);
      if (it == letter_id.end()) {
        letter_id[c] = static_cast<int64_t>(sizes.size());
        sizes.push_back(size);
      } else if (sizes[it->second] != size) {
        return ctx.error(std::string("label '") + c + "' has size " + std::to_string(sizes[it->second]) +
                         " in one place and " + std::to_string(size) + " in operand " + std::to_string(i));
      }
    }
  }
  // Output labels.
  std::vector<int64_t> out_labels;
  if (explicit_out) {
    Term ot;
    if (!parse_term(rhs, &ot)) return ctx.error("bad output subscripts in equation '" + eq + "'");
    for (size_t p = 0; p <= ot.letters.size(); ++p) {
      if (static_cast<int>(p) == ot.ellipsis_at)
        for (int64_t e = 0; e < n_ell; ++e) out_labels.push_back(e);
      if (p == ot.letters.size()) break;
      char c = ot.letters[p];
      auto it = letter_id.find(c);
      if (it == letter_id.end())
        return ctx.error(std::string("output label '") + c + "' does not appear in the inputs");
      for (int64_t l : out_labels)
        if (l == it->second) return ctx.error(std::string("output label '") + c + "' appears twice");
      out_labels.push_back(it->second);
    }
  } else {
    for (int64_t e = 0; e < n_ell; ++e) out_labels.push_back(e);
    for (const auto& [c, n] : letter_count)
      if (n == 1) out_labels.push_back(letter_id[c]);
  }
  Dims out_dims;
  for (int64_t l : out_labels) out_dims.push_back(sizes[l]);
  KILN_RETURN_IF_ERROR(check_output_size(ctx, out_dims));
  // Strides of each operand and of the output along every label.
  const size_t nl = sizes.size();
  std::vector<std::vector<int64_t>> strides(terms.size(), std::vector<int64_t>(nl, 0));
  for (size_t i = 0; i < terms.size(); ++i) {
    const Tensor& x = ctx.input(i);
    auto s = strides_of(x.dims());
    for (int64_t axis = 0; axis < static_cast<int64_t>(x.rank()); ++axis) {
      int64_t label;
      int64_t e0 = terms[i].ellipsis_at;
      if (e0 >= 0 && axis >= e0 && axis < e0 + ell_rank[i]) {
        label = n_ell - ell_rank[i] + (axis - e0);
        if (x.dim(axis) == 1 && sizes[label] != 1) continue;  // broadcast
      } else {
        int64_t p = (e0 >= 0 && axis >= e0 + ell_rank[i]) ? axis - ell_rank[i] : axis;
        label = letter_id[terms[i].letters[p]];
      }
      strides[i][label] += s[axis];
    }
  }
  std::vector<int64_t> out_strides(nl, 0);
  auto os = strides_of(out_dims);
  for (size_t p = 0; p < out_labels.size(); ++p) out_strides[out_labels[p]] = os[p];
  const int64_t out_n = dims_numel(out_dims);
  if (is_float(dt)) {
    std::vector<std::vector<double>> ins;
    for (size_t i = 0; i < terms.size(); ++i) ins.push_back(read_doubles(ctx.input(i)));
    auto y = run_einsum<double, double>(ins, strides, out_strides, sizes, out_n);
    ctx.set_output(0, tensor_from_doubles(dt, out_dims, y));
  } else {
    std::vector<std::vector<int64_t>> ins;
    for (size_t i = 0; i < terms.size(); ++i) ins.push_back(read_int64s(ctx.input(i)));
    auto y = run_einsum<int64_t, uint64_t>(ins, strides, out_strides, sizes, out_n);
    ctx.set_output(0, tensor_from_int64s(dt, out_dims, y));
  }
  return ok_status();
}

}  // namespace kiln::math_ref
