// Reference kernels for ai.onnx.ml tree ensembles: TreeEnsemble (opset 5), TreeEnsembleRegressor and
// TreeEnsembleClassifier (opsets 1-3). Both attribute encodings are turned into one node/leaf table.
#include <cmath>
#include <map>
#include <set>

#include "backends/reference/attention/float_io.h"
#include "backends/reference/attention/kernels.h"
#include "backends/reference/attention/ml_common.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers
namespace {

enum Mode : int { kLeq = 0, kLt = 1, kGte = 2, kGt = 3, kEq = 4, kNeq = 5, kMember = 6 };

struct TreeNode {
  int mode = kLeq;
  int64_t feature = 0;
  double split = 0.0;
  bool missing_true = false;
  std::set<double> members;
  int64_t next[2] = {0, 0};  // [false, true] child index
  bool next_leaf[2] = {false, false};
};

struct Ensemble {
  std::vector<TreeNode> nodes;
  std::vector<std::vector<std::pair<int64_t, double>>> leaves;  // (target or class, weight)
  std::vector<std::pair<int64_t, bool>> roots;                  // (index, is a leaf)
  bool legacy_nan = false;                                      // opset 1-3: NaN follows missing_true without comparing
};

// Values of `name` (FLOATS) or of `name`_as_tensor (TENSOR), as doubles.
std::vector<double> floats_or_tensor(const Attrs& a, const std::string& name) {
  if (const Tensor* t = a.get_tensor(name + "_as_tensor")) return read_doubles(*t);
  std::vector<double> out;
  for (float f : a.get_floats(name)) out.push_back(f);
  return out;
}

bool branch_true(const TreeNode& n, double x, bool legacy_nan) {
  if (std::isnan(x)) {
    if (n.missing_true) return true;
    if (legacy_nan) return false;
  }
  switch (n.mode) {
    case kLeq:
      return x <= n.split;
    case kLt:
      return x < n.split;
    case kGte:
      return x >= n.split;
    case kGt:
      return x > n.split;
    case kEq:
      return x == n.split;
    case kNeq:
      return x != n.split;
    case kMember:
      return n.members.count(x) != 0;
  }
  return false;
}

// The leaf reached by each tree for one row of features.
Status find_leaves(const KernelContext& ctx, const Ensemble& e, const double* x, int64_t n_features,
                   std::vector<int64_t>* leaves) {
  leaves->clear();
  for (const auto& [root, root_leaf] : e.roots) {
    int64_t idx = root;
    bool is_leaf = root_leaf;
    size_t steps = 0;
    while (!is_leaf) {
      if (++steps > e.nodes.size()) return ctx.error("tree structure has a cycle");
      const TreeNode& n = e.nodes[idx];
      if (n.feature < 0 || n.feature >= n_features)
        return ctx.error("feature id " + std::to_string(n.feature) + " is out of range for " +
                         std::to_string(n_features) + " input features");
      const int side = branch_true(n, x[n.feature], e.legacy_nan) ? 1 : 0;
      is_leaf = n.next_leaf[side];
      idx = n.next[side];
    }
    leaves->push_back(idx);
  }
  return ok_status();
}

// Checks child and root indices once, so evaluation can index freely.
Status validate_ensemble(const KernelContext& ctx, const Ensemble& e) {
  auto check = [&](int64_t idx, bool leaf) {
    const size_t n = leaf ? e.leaves.size() : e.nodes.size();
    return idx >= 0 && static_cast<size_t>(idx) < n;
  };
  for (const auto& [idx, leaf] : e.roots) {
    if (!check(idx, leaf)) return ctx.error("tree root index " + std::to_string(idx) + " is out of range");
  }
  for (const TreeNode& n : e.nodes) {
    for (int s = 0; s < 2; ++s) {
      if (!check(n.next[s], n.next_leaf[s]))
        return ctx.error("node child index " + std::to_string(n.next[s]) + " is out of range");
    }
  }
  return ok_status();
}

// Builds the table from the opset 1-3 encoding: nodes keyed by (tree id, node id), LEAF nodes carry the
// entries of (`prefix`_treeids, `prefix`_nodeids, `prefix`_ids, `prefix`_weights).
Status build_legacy(const KernelContext& ctx, const std::string& prefix, Ensemble* e) {
  const auto& a = ctx.attrs();
  const auto tree_ids = a.get_ints("nodes_treeids");
  const auto node_ids = a.get_ints("nodes_nodeids");
  const auto feature_ids = a.get_ints("nodes_featureids");
  const auto modes = a.get_strings("nodes_modes");
  const auto values = floats_or_tensor(a, "nodes_values");
  const auto true_ids = a.get_ints("nodes_truenodeids");
  const auto false_ids = a.get_ints("nodes_falsenodeids");
  const auto missing = a.get_ints("nodes_missing_value_tracks_true");
  const size_t n = tree_ids.size();
  if (node_ids.size() != n || modes.size() != n || true_ids.size() != n || false_ids.size() != n ||
      feature_ids.size() != n || (!values.empty() && values.size() != n) || (!missing.empty() && missing.size() != n))
    return ctx.error("nodes_* attributes must all have the same length");
  e->legacy_nan = true;
  // Slot of each (tree, node): internal nodes and leaves are numbered separately.
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, bool>> slot;
  std::map<int64_t, int64_t> first_of_tree;
  for (size_t i = 0; i < n; ++i) {
    const bool leaf = modes[i] == "LEAF";
    const auto key = std::make_pair(tree_ids[i], node_ids[i]);
    if (slot.count(key))
      return ctx.error("duplicate node (tree " + std::to_string(key.first) + ", node " + std::to_string(key.second) +
                       ")");
    slot[key] = {leaf ? static_cast<int64_t>(e->leaves.size()) : static_cast<int64_t>(e->nodes.size()), leaf};
    if (!first_of_tree.count(tree_ids[i])) first_of_tree[tree_ids[i]] = static_cast<int64_t>(i);
    if (leaf) {
      e->leaves.emplace_back();
      continue;
    }
    TreeNode tn;
    static const std::map<std::string, int> kModes = {{"BRANCH_LEQ", kLeq}, {"BRANCH_LT", kLt}, {"BRANCH_GTE", kGte},
                                                      {"BRANCH_GT", kGt},   {"BRANCH_EQ", kEq}, {"BRANCH_NEQ", kNeq}};
    auto m = kModes.find(modes[i]);
    if (m == kModes.end()) return ctx.error("unknown node mode '" + modes[i] + "'");
    tn.mode = m->second;
    tn.feature = feature_ids[i];
    tn.split = values.empty() ? 0.0 : values[i];
    tn.missing_true = !missing.empty() && missing[i] != 0;
    e->nodes.push_back(tn);
  }
  // Resolve children now that every node has a slot.
  size_t internal = 0;
  for (size_t i = 0; i < n; ++i) {
    if (modes[i] == "LEAF") continue;
    TreeNode& tn = e->nodes[internal++];
    const int64_t child[2] = {false_ids[i], true_ids[i]};
    for (int s = 0; s < 2; ++s) {
      auto it = slot.find({tree_ids[i], child[s]});
      if (it == slot.end())
        return ctx.error("node " + std::to_string(node_ids[i]) + " of tree " + std::to_string(tree_ids[i]) +
                         " points to missing node " + std::to_string(child[s]));
      tn.next[s] = it->second.first;
      tn.next_leaf[s] = it->second.second;
    }
  }
  for (const auto& [tree, first] : first_of_tree) e->roots.push_back(slot[{tree, node_ids[first]}]);
  // Leaf entries.
  const auto t_tree = a.get_ints(prefix + "_treeids");
  const auto t_node = a.get_ints(prefix + "_nodeids");
  const auto t_id = a.get_ints(prefix + "_ids");
  const auto t_w = floats_or_tensor(a, prefix + "_weights");
  if (t_node.size() != t_tree.size() || t_id.size() != t_tree.size() || t_w.size() != t_tree.size())
    return ctx.error(prefix + "_* attributes must all have the same length");
  for (size_t k = 0; k < t_tree.size(); ++k) {
    auto it = slot.find({t_tree[k], t_node[k]});
    if (it == slot.end() || !it->second.second)
      return ctx.error(prefix + " entry " + std::to_string(k) + " does not name a LEAF node");
    e->leaves[it->second.first].push_back({t_id[k], t_w[k]});
  }
  return validate_ensemble(ctx, *e);
}

// Builds the table from the opset 5 encoding (separate node and leaf arrays, set-membership splits).
Status build_v5(const KernelContext& ctx, Ensemble* e) {
  const auto& a = ctx.attrs();
  const auto feature_ids = a.get_ints("nodes_featureids");
  const auto true_ids = a.get_ints("nodes_truenodeids");
  const auto false_ids = a.get_ints("nodes_falsenodeids");
  const auto true_leafs = a.get_ints("nodes_trueleafs");
  const auto false_leafs = a.get_ints("nodes_falseleafs");
  const auto missing = a.get_ints("nodes_missing_value_tracks_true");
  const Tensor* modes_t = a.get_tensor("nodes_modes");
  const Tensor* splits_t = a.get_tensor("nodes_splits");
  const Tensor* weights_t = a.get_tensor("leaf_weights");
  const Tensor* members_t = a.get_tensor("membership_values");
  const auto leaf_targets = a.get_ints("leaf_targetids");
  if (!modes_t || !splits_t || !weights_t) return ctx.error("nodes_modes, nodes_splits and leaf_weights are required");
  const size_t n = feature_ids.size();
  if (true_ids.size() != n || false_ids.size() != n || true_leafs.size() != n || false_leafs.size() != n ||
      static_cast<size_t>(modes_t->numel()) != n || static_cast<size_t>(splits_t->numel()) != n ||
      (!missing.empty() && missing.size() != n))
    return ctx.error("nodes_* attributes must all have the same length");
  if (static_cast<size_t>(weights_t->numel()) != leaf_targets.size())
    return ctx.error("leaf_weights and leaf_targetids must have the same length");
  const std::vector<double> splits = read_doubles(*splits_t);
  const std::vector<double> members = members_t ? read_doubles(*members_t) : std::vector<double>{};
  size_t member_pos = 0;
  for (size_t i = 0; i < n; ++i) {
    TreeNode tn;
    tn.mode = static_cast<int>(modes_t->as_int64(static_cast<int64_t>(i)));
    if (tn.mode < kLeq || tn.mode > kMember) return ctx.error("unknown node mode " + std::to_string(tn.mode));
    tn.feature = feature_ids[i];
    tn.split = splits[i];
    tn.missing_true = !missing.empty() && missing[i] != 0;
    if (tn.mode == kMember) {
      // Members are listed in node order, each set terminated by NaN.
      if (member_pos >= members.size()) return ctx.error("membership_values has too few sets");
      while (member_pos < members.size() && !std::isnan(members[member_pos])) tn.members.insert(members[member_pos++]);
      ++member_pos;
    }
    tn.next[0] = false_ids[i];
    tn.next[1] = true_ids[i];
    tn.next_leaf[0] = false_leafs[i] != 0;
    tn.next_leaf[1] = true_leafs[i] != 0;
    e->nodes.push_back(std::move(tn));
  }
  const std::vector<double> weights = read_doubles(*weights_t);
  for (size_t k = 0; k < weights.size(); ++k) e->leaves.push_back({{leaf_targets[k], weights[k]}});
  for (int64_t r : a.get_ints("tree_roots")) e->roots.push_back({r, false});
  return validate_ensemble(ctx, *e);
}

// Sums (or averages, mins, maxes) the leaf entries of every tree into `n_out` scores per row.
Status aggregate(const KernelContext& ctx, const Ensemble& e, const MlRows& x, int64_t n_out, int agg,
                 std::vector<double>* out) {
  out->assign(static_cast<size_t>(x.rows * n_out), 0.0);
  std::vector<int64_t> leaves;
  const double n_trees = static_cast<double>(e.roots.size());
  for (int64_t r = 0; r < x.rows; ++r) {
    KILN_RETURN_IF_ERROR(find_leaves(ctx, e, x.vals.data() + r * x.cols, x.cols, &leaves));
    double* row = out->data() + r * n_out;
    // MIN/MAX start from the first contribution; a target no leaf contributes to stays 0.
    std::vector<bool> hit(static_cast<size_t>(n_out), false);
    for (int64_t leaf : leaves) {
      for (const auto& [target, w] : e.leaves[leaf]) {
        if (target < 0 || target >= n_out)
          return ctx.error("target/class id " + std::to_string(target) + " is out of range [0, " +
                           std::to_string(n_out) + ")");
        if (agg == 0)
          row[target] += w / n_trees;
        else if (agg == 1)
          row[target] += w;
        else if (agg == 2)
          row[target] = hit[target] ? std::min(row[target], w) : w;
        else
          row[target] = hit[target] ? std::max(row[target], w) : w;
        hit[target] = true;
      }
    }
  }
  return ok_status();
}

// "AVERAGE"/"SUM"/"MIN"/"MAX" -> 0..3 (the opset 5 integer encoding).
bool parse_aggregate(const std::string& s, int* out) {
  static const std::map<std::string, int> k = {{"AVERAGE", 0}, {"SUM", 1}, {"MIN", 2}, {"MAX", 3}};
  auto it = k.find(s);
  if (it == k.end()) return false;
  *out = it->second;
  return true;
}

}  // namespace

Status ml_tree_ensemble_kernel(KernelContext& ctx) {
  MlRows x;
  KILN_RETURN_IF_ERROR(read_ml_rows(ctx, 0, &x));
  const DType dt = ctx.input(0).dtype();
  if (!is_compute_float(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
  const auto& a = ctx.attrs();
  Ensemble e;
  KILN_RETURN_IF_ERROR(build_v5(ctx, &e));
  const int agg = static_cast<int>(a.get_int("aggregate_function", 1));
  const int64_t pt_i = a.get_int("post_transform", 0);
  const int64_t n_targets = a.get_int("n_targets", 0);
  if (agg < 0 || agg > 3) return ctx.error("aggregate_function must be 0..3, got " + std::to_string(agg));
  if (pt_i < 0 || pt_i > 4) return ctx.error("post_transform must be 0..4, got " + std::to_string(pt_i));
  if (n_targets <= 0) return ctx.error("n_targets must be positive");
  std::vector<double> out;
  KILN_RETURN_IF_ERROR(aggregate(ctx, e, x, n_targets, agg, &out));
  const MlPostTransform pts[] = {MlPostTransform::kNone, MlPostTransform::kSoftmax, MlPostTransform::kLogistic,
                                 MlPostTransform::kSoftmaxZero, MlPostTransform::kProbit};
  for (int64_t r = 0; r < x.rows; ++r) apply_post_transform(pts[pt_i], out.data() + r * n_targets, n_targets);
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(dt, {x.rows, n_targets}, out));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_tree_ensemble_regressor_kernel(KernelContext& ctx) {
  MlRows x;
  KILN_RETURN_IF_ERROR(read_ml_rows(ctx, 0, &x));
  const auto& a = ctx.attrs();
  Ensemble e;
  KILN_RETURN_IF_ERROR(build_legacy(ctx, "target", &e));
  int agg;
  if (!parse_aggregate(a.get_string("aggregate_function", "SUM"), &agg))
    return ctx.error("unknown aggregate_function '" + a.get_string("aggregate_function") + "'");
  MlPostTransform pt;
  if (!parse_post_transform(a.get_string("post_transform", "NONE"), &pt))
    return ctx.error("unknown post_transform '" + a.get_string("post_transform") + "'");
  const int64_t n_targets = a.get_int("n_targets", 1);
  if (n_targets <= 0) return ctx.error("n_targets must be positive");
  const std::vector<double> base = floats_or_tensor(a, "base_values");
  if (!base.empty() && static_cast<int64_t>(base.size()) != n_targets)
    return ctx.error("base_values must have n_targets values");
  std::vector<double> out;
  KILN_RETURN_IF_ERROR(aggregate(ctx, e, x, n_targets, agg, &out));
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t t = 0; t < n_targets && !base.empty(); ++t) out[r * n_targets + t] += base[t];
    apply_post_transform(pt, out.data() + r * n_targets, n_targets);
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(DType::kFloat32, {x.rows, n_targets}, out));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_tree_ensemble_classifier_kernel(KernelContext& ctx) {
  MlRows x;
  KILN_RETURN_IF_ERROR(read_ml_rows(ctx, 0, &x));
  const auto& a = ctx.attrs();
  Ensemble e;
  KILN_RETURN_IF_ERROR(build_legacy(ctx, "class", &e));
  MlPostTransform pt;
  if (!parse_post_transform(a.get_string("post_transform", "NONE"), &pt))
    return ctx.error("unknown post_transform '" + a.get_string("post_transform") + "'");
  const auto labels_i = a.get_ints("classlabels_int64s");
  const auto labels_s = a.get_strings("classlabels_strings");
  const bool string_labels = !labels_s.empty();
  const int64_t n_classes = static_cast<int64_t>(string_labels ? labels_s.size() : labels_i.size());
  if (n_classes == 0) return ctx.error("classlabels_int64s or classlabels_strings is required");
  const std::vector<double> base = floats_or_tensor(a, "base_values");
  if (!base.empty() && static_cast<int64_t>(base.size()) != n_classes)
    return ctx.error("base_values must have one value per class");
  std::vector<double> sums;
  KILN_RETURN_IF_ERROR(aggregate(ctx, e, x, n_classes, 1, &sums));
  // Binary case: every leaf votes for one class id; its score becomes class 1, class 0 its complement.
  const auto class_ids = a.get_ints("class_ids");
  const bool binary = !class_ids.empty() && std::set<int64_t>(class_ids.begin(), class_ids.end()).size() == 1;
  const int64_t K = binary && n_classes == 1 ? 2 : n_classes;
  std::vector<double> scores(static_cast<size_t>(x.rows * K), 0.0);
  std::vector<int64_t> out_i;
  std::vector<std::string> out_s;
  for (int64_t r = 0; r < x.rows; ++r) {
    double* row = scores.data() + r * K;
    for (int64_t c = 0; c < n_classes; ++c) row[c] = sums[r * n_classes + c] + (base.empty() ? 0.0 : base[c]);
    if (binary) {
      row[1] = row[0];
      row[0] = (pt == MlPostTransform::kNone || pt == MlPostTransform::kProbit) ? 1.0 - row[1] : -row[1];
    }
    apply_post_transform(pt, row, K);
    int64_t best = 0;
    for (int64_t c = 1; c < K; ++c) best = row[c] > row[best] ? c : best;
    if (string_labels) {
      out_s.push_back(best < n_classes ? labels_s[best] : labels_s[0]);
    } else if (n_classes == 1) {
      out_i.push_back(best == 1 ? labels_i[0] : 0);
    } else {
      out_i.push_back(labels_i[best]);
    }
  }
  if (string_labels) {
    Tensor t(DType::kString, {x.rows});
    for (int64_t r = 0; r < x.rows; ++r) t.strings()[r] = out_s[r];
    ctx.set_output(0, std::move(t));
  } else {
    ctx.set_output(0, Tensor::from_vector<int64_t>(DType::kInt64, {x.rows}, out_i));
  }
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor z, make_tensor_from_doubles(DType::kFloat32, {x.rows, K}, scores));
    ctx.set_output(1, std::move(z));
  }
  return ok_status();
}

}  // namespace kiln
