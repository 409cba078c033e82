// lower_einsum: two-operand Einsum contractions become Transpose -> Reshape -> MatMul -> Reshape -> Transpose, ops
// every backend runs at speed (Einsum itself only runs on the reference backend). Covers the batched products that
// exporters emit for attention and mixing layers ("bhid,bhjd->bhij", "bij,bjk->bik", "bchw,ck->bkhw", ...), with or
// without an ellipsis, explicit or implicit output. Left as Einsum (exact, slow): one or three+ operands, a label
// repeated within an operand (diagonals), a label summed away in one operand only, a label whose size the two
// operands disagree on, and unknown sizes of any non-batch label (Reshape needs them).
// Layout: batch labels (both operands and the output) lead in output order, then each operand's free labels in
// output order, contracted labels in the first operand's order; a product whose right operand ends in the
// contracted label arrives as a last-two-axes Transpose, which fuse_matmul_bias_activation reads as transB.
#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

// One operand's or the output's labels, with an ellipsis expanded to `ell` reserved labels (first unused chars).
struct Subscripts {
  std::string labels;
  bool ok = false;
};

// Parses one term ("bhid", "...id", "b...d") for a value of rank `rank` (-1: the output, whose ellipsis takes
// `ell_rank` dims). Ellipsis dims become the labels in `ell_labels`, right-aligned.
Subscripts expand(const std::string& term, int64_t rank, const std::string& ell_labels) {
  Subscripts s;
  const size_t dots = term.find("...");
  if (dots == std::string::npos) {
    s.labels = term;
  } else {
    if (term.find("...", dots + 3) != std::string::npos) return s;
    const std::string before = term.substr(0, dots), after = term.substr(dots + 3);
    const int64_t n = rank < 0 ? static_cast<int64_t>(ell_labels.size())
                               : rank - static_cast<int64_t>(before.size() + after.size());
    if (n < 0 || n > static_cast<int64_t>(ell_labels.size())) return s;
    s.labels = before + ell_labels.substr(ell_labels.size() - n) + after;
  }
  for (char c : s.labels)
    if (!std::isalpha(static_cast<unsigned char>(c))) return s;
  if (rank >= 0 && static_cast<int64_t>(s.labels.size()) != rank) return s;
  s.ok = true;
  return s;
}

bool unique_labels(const std::string& l) {
  std::string s = l;
  std::sort(s.begin(), s.end());
  return std::adjacent_find(s.begin(), s.end()) == s.end();
}

Tensor int64_vector(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

class Lowering {
 public:
  Lowering(Graph& g, const Node& n) : g_(g), n_(n) {}

  // The replacement nodes (last one writes the Einsum's output), or empty when this Einsum stays.
  std::vector<Node> build() {
    if (n_.inputs.size() != 2 || n_.outputs.size() != 1 || n_.inputs[0].empty() || n_.inputs[1].empty()) return {};
    const TypeInfo* ta = g_.type_of(n_.inputs[0]);
    const TypeInfo* tb = g_.type_of(n_.inputs[1]);
    if (!ta || !tb || ta->dtype != tb->dtype || !is_float(ta->dtype)) return {};
    auto da = known_dims(g_, n_.inputs[0]), db = known_dims(g_, n_.inputs[1]);
    if (!da || !db) return {};
    if (!parse(static_cast<int64_t>(da->size()), static_cast<int64_t>(db->size()))) return {};
    // Label sizes (-1 unknown); the operands must agree where both know them.
    for (size_t i = 0; i < a_.size(); ++i) size_[a_[i]] = (*da)[i];
    for (size_t i = 0; i < b_.size(); ++i) {
      auto it = size_.find(b_[i]);
      if (it != size_.end() && it->second >= 0 && (*db)[i] >= 0 && it->second != (*db)[i]) return {};
      if (it == size_.end() || it->second < 0) size_[b_[i]] = (*db)[i];
    }
    std::string batch, a_free, b_free, contracted;
    for (char c : out_) {
      const bool in_a = a_.find(c) != std::string::npos, in_b = b_.find(c) != std::string::npos;
      if (in_a && in_b)
        batch += c;
      else if (in_a)
        a_free += c;
      else if (in_b)
        b_free += c;
      else
        return {};  // an output label in neither operand
    }
    for (char c : a_) {
      if (out_.find(c) != std::string::npos) continue;
      if (b_.find(c) == std::string::npos) return {};  // summed in A alone
      contracted += c;
    }
    for (char c : b_)
      if (out_.find(c) == std::string::npos && a_.find(c) == std::string::npos) return {};  // summed in B alone
    // A batch label of size 1 in one operand and more in the other would be a broadcast: not an Einsum rule.
    for (char c : batch) {
      const int64_t sa = (*da)[a_.find(c)], sb = (*db)[b_.find(c)];
      if (sa >= 0 && sb >= 0 && sa != sb) return {};
    }
    // Label groups that a Reshape merges into one dim need known sizes (batch labels are copied with 0).
    auto known = [&](const std::string& s) {
      return std::all_of(s.begin(), s.end(), [&](char c) { return size_[c] >= 0; });
    };
    const bool merge_a = a_free.size() != 1 || contracted.size() != 1;
    const bool merge_b = contracted.size() != 1 || b_free.size() != 1;
    const bool merge_y = a_free.size() != 1 || b_free.size() != 1;
    if ((merge_a && !known(a_free + contracted)) || (merge_b && !known(contracted + b_free)) ||
        (merge_y && !known(a_free + b_free)))
      return {};
    const int64_t nb = static_cast<int64_t>(batch.size());
    // A: [batch, a_free, contracted] -> [batch, M, K];  B: [batch, contracted, b_free] -> [batch, K, N].
    std::string a = operand(n_.inputs[0], a_, batch + a_free + contracted, nb, a_free, contracted);
    std::string b = operand(n_.inputs[1], b_, batch + contracted + b_free, nb, contracted, b_free);
    const std::string product = g_.fresh_name(n_.name + "_product");
    nodes_.push_back(make_node(g_, OpKind::kMatMul, n_.name + "_matmul", {a, b}, {product}));
    // [batch, M, N] -> [batch, a_free, b_free] -> output order.
    const std::string natural = batch + a_free + b_free;
    std::string y = product;
    if (a_free.size() != 1 || b_free.size() != 1) {
      std::vector<int64_t> shape(nb, 0);
      for (char c : a_free + b_free) shape.push_back(size_[c]);
      y = reshape(y, shape, natural == out_ ? n_.outputs[0] : "");
    }
    if (natural != out_) {
      y = transpose(y, permutation(natural, out_), n_.outputs[0]);
    } else if (y != n_.outputs[0]) {
      nodes_.back().outputs[0] = n_.outputs[0];
    }
    return std::move(nodes_);
  }

 private:
  // Splits the equation and expands ellipses. Fills a_, b_, out_.
  bool parse(int64_t rank_a, int64_t rank_b) {
    std::string eq;
    for (char c : n_.attrs.get_string("equation", ""))
      if (c != ' ') eq += c;
    const size_t arrow = eq.find("->");
    const std::string lhs = eq.substr(0, arrow);
    const size_t comma = lhs.find(',');
    if (comma == std::string::npos || lhs.find(',', comma + 1) != std::string::npos) return false;
    const std::string ta = lhs.substr(0, comma), tb = lhs.substr(comma + 1);
    // Ellipsis labels: chars no term uses, as many as the larger operand's ellipsis rank.
    auto ell_rank = [](const std::string& t, int64_t rank) {
      const size_t dots = t.find("...");
      return dots == std::string::npos ? int64_t{0} : rank - static_cast<int64_t>(t.size() - 3);
    };
    const int64_t ne = std::max(ell_rank(ta, rank_a), ell_rank(tb, rank_b));
    std::string ell;
    for (char c = 'A'; c <= 'Z' && static_cast<int64_t>(ell.size()) < ne; ++c)
      if (eq.find(c) == std::string::npos) ell += c;
    if (static_cast<int64_t>(ell.size()) < ne) return false;
    // Operands with fewer ellipsis dims than another broadcast them: not handled (shapes would need Expand).
    if (ta.find("...") != std::string::npos && ell_rank(ta, rank_a) != ne) return false;
    if (tb.find("...") != std::string::npos && ell_rank(tb, rank_b) != ne) return false;
    Subscripts sa = expand(ta, rank_a, ell), sb = expand(tb, rank_b, ell);
    if (!sa.ok || !sb.ok || !unique_labels(sa.labels) || !unique_labels(sb.labels)) return false;
    a_ = sa.labels;
    b_ = sb.labels;
    if (arrow == std::string::npos) {
      // Implicit output: the ellipsis dims, then the labels written once, in ASCII order (numpy's rule).
      std::string once;
      for (int c = 'A'; c <= 'z'; ++c)
        if (std::isalpha(c) && std::count(ta.begin(), ta.end(), c) + std::count(tb.begin(), tb.end(), c) == 1)
          once += static_cast<char>(c);
      out_ = ell + once;
    } else {
      Subscripts so = expand(eq.substr(arrow + 2), -1, ell);
      if (!so.ok || !unique_labels(so.labels)) return false;
      out_ = so.labels;
    }
    return true;
  }

  // Lays out operand `v` (labels `have`) as `want` and merges its last two label groups into one dim each.
  std::string operand(const std::string& v, const std::string& have, const std::string& want, int64_t nb,
                      const std::string& rows, const std::string& cols) {
    std::string x = v;
    if (have != want) x = transpose(x, permutation(have, want), "");
    if (rows.size() == 1 && cols.size() == 1) return x;
    int64_t r = 1, c = 1;
    for (char l : rows) r *= size_[l];
    for (char l : cols) c *= size_[l];
    std::vector<int64_t> shape(nb, 0);
    shape.push_back(r);
    shape.push_back(c);
    return reshape(x, shape, "");
  }

  // perm with out dim i = in dim perm[i], for labels `from` rearranged as `to`.
  static std::vector<int64_t> permutation(const std::string& from, const std::string& to) {
    std::vector<int64_t> p;
    for (char c : to) p.push_back(static_cast<int64_t>(from.find(c)));
    return p;
  }

  std::string transpose(const std::string& x, const std::vector<int64_t>& perm, const std::string& out) {
    const std::string y = out.empty() ? g_.fresh_name(n_.name + "_t") : out;
    Node t = make_node(g_, OpKind::kTranspose, n_.name + "_transpose", {x}, {y});
    t.attrs.set("perm", perm);
    nodes_.push_back(std::move(t));
    return y;
  }

  std::string reshape(const std::string& x, const std::vector<int64_t>& shape, const std::string& out) {
    const std::string y = out.empty() ? g_.fresh_name(n_.name + "_r") : out;
    const std::string s = g_.add_constant(n_.name + "_shape", int64_vector(shape));
    nodes_.push_back(make_node(g_, OpKind::kReshape, n_.name + "_reshape", {x, s}, {y}));
    return y;
  }

  Graph& g_;
  const Node& n_;
  std::string a_, b_, out_;
  std::map<char, int64_t> size_;
  std::vector<Node> nodes_;
};

class LowerEinsum : public Pass {
 public:
  std::string name() const override { return "lower_einsum"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      if (g.nodes[k].op != OpKind::kEinsum) continue;
      const Node einsum = g.nodes[k];
      std::vector<Node> nodes = Lowering(g, einsum).build();
      if (nodes.empty()) continue;
      const size_t count = nodes.size();
      g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(k));
      g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(k), nodes.begin(), nodes.end());
      k += count - 1;
      changed = true;
    }
    if (!changed) return false;
    KILN_RETURN_IF_ERROR(reinfer_types(g));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_lower_einsum_pass() { return std::make_unique<LowerEinsum>(); }

}  // namespace kiln
