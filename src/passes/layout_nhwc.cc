// layout_nhwc: rewrites regions of 4-D convolution work to channels-last (NHWC), the layout GPU convolution
// kernels are fastest in. Transposes are inserted where NCHW values enter a region and where region values leave.
// Float regions start at Conv/FusedConv, 8-bit ones at QLinearConv; per-tensor Q/DQ, LookupTable, QLinearAdd/Mul,
// pools, Concat, Split, Slice (known axes), Resize and elementwise ops join them (the axis-taking ones renumbered).
#include <cstring>
#include <memory>
#include <set>

#include "ir/infer_helpers.h"
#include "ir/op_params.h"
#include "ir/resize_params.h"
#include "passes/layout_stem.h"
#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

const std::vector<int64_t> kToNhwc{0, 2, 3, 1};
const std::vector<int64_t> kToNchw{0, 3, 1, 2};
// NCHW axis a is NHWC axis kPositionOf[a].
constexpr int64_t kPositionOf[4] = {0, 3, 1, 2};

// Elementwise ops whose result does not depend on the layout as long as every operand is permuted alike.
bool is_elementwise(OpKind op) {
  switch (op) {
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kClip:
    case OpKind::kElu:
    case OpKind::kSelu:
    case OpKind::kCelu:
    case OpKind::kThresholdedRelu:
    case OpKind::kHardSigmoid:
    case OpKind::kHardSwish:
    case OpKind::kSoftplus:
    case OpKind::kMish:
    case OpKind::kNeg:
    case OpKind::kAbs:
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kSqrt:
    case OpKind::kReciprocal:
    case OpKind::kErf:
    case OpKind::kGelu:
    case OpKind::kFloor:
    case OpKind::kCeil:
    case OpKind::kRound:
    case OpKind::kSign:
    case OpKind::kIdentity:
    case OpKind::kCast:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kPow:
    case OpKind::kMax:
    case OpKind::kMin:
    case OpKind::kSum:
    case OpKind::kMean:
    case OpKind::kPRelu:
    case OpKind::kFusedElementwise:
      return true;
    default:
      return false;
  }
}

std::optional<size_t> static_rank(const Graph& g, const std::string& v) {
  const TypeInfo* t = g.type_of(v);
  if (!t || !t->is_tensor() || !t->shape.rank_known) return std::nullopt;
  return t->shape.rank();
}

// Every dim known to be 1 (or rank 0): the value broadcasts the same way in any layout.
bool all_ones(const Graph& g, const std::string& v) {
  const TypeInfo* t = g.type_of(v);
  if (!t || !t->is_tensor() || !t->shape.rank_known || t->shape.rank() > 4) return false;
  for (const Dim& d : t->shape.dims)
    if (!d.is_known() || d.value != 1) return false;
  return true;
}

// How one operand of a converted node reaches its NHWC form.
enum class Operand { kAbsent, kAsIs, kRegion, kEntry, kConstant };

class Rewriter {
 public:
  explicit Rewriter(Graph& g) : g_(g) {}

  Result<bool> run() {
    std::vector<Node> nodes = std::move(g_.nodes);
    g_.nodes.clear();
    bool changed = false;
    for (Node& n : nodes) {
      std::vector<Operand> plan;
      if (plan_node(n, &plan)) {
        KILN_RETURN_IF_ERROR(convert(n, plan));
        changed = true;
      } else {
        g_.nodes.push_back(std::move(n));
      }
    }
    if (!changed) return false;
    insert_exits();
    remove_unused_initializers(g_);
    KILN_RETURN_IF_ERROR(reinfer_types(g_));
    return true;
  }

 private:
  bool in_region(const std::string& v) const { return nhwc_of_.count(v) != 0; }

  // How operand `v` (expected 4-D NCHW) becomes NHWC; false when it cannot.
  bool plan_4d(const std::string& v, Operand* how) const {
    if (in_region(v)) return *how = Operand::kRegion, true;
    if (static_rank(g_, v) != size_t{4}) return false;
    *how = constant_value(g_, v) ? Operand::kConstant : Operand::kEntry;
    return true;
  }

  // A broadcast operand of an elementwise op: layout-free, region, a constant of rank <= 4, or a 4-D value.
  bool plan_broadcast(const std::string& v, Operand* how) const {
    if (in_region(v)) return *how = Operand::kRegion, true;
    if (all_ones(g_, v)) return *how = Operand::kAsIs, true;
    auto r = static_rank(g_, v);
    if (!r || *r > 4) return false;
    if (const Tensor* t = constant_value(g_, v))
      return t->dtype() != DType::kString && (*how = Operand::kConstant, true);
    if (*r != 4) return false;
    *how = Operand::kEntry;
    return true;
  }

  bool plan_node(const Node& n, std::vector<Operand>* plan) const {
    if (!n.has_input(0) || !n.has_output(0) || !node_subgraphs(n).empty()) return false;
    plan->assign(n.inputs.size(), Operand::kAbsent);
    const bool x_in_region = in_region(n.inputs[0]);
    switch (n.op) {
      case OpKind::kConv:
      case OpKind::kFusedConv: {
        // Convolutions start regions: NHWC convolution is worth an entry transpose on the GPU.
        if (n.op == OpKind::kConv && n.inputs.size() > 3) return false;
        if (n.attrs.get_string("layout", "NCHW") != "NCHW" || n.outputs.size() != 1) return false;
        if (static_rank(g_, n.inputs[0]) != size_t{4} && !x_in_region) return false;
        if (n.inputs.size() < 2 || !n.has_input(1) || static_rank(g_, n.inputs[1]) != size_t{4}) return false;
        if (!plan_4d(n.inputs[0], &(*plan)[0])) return false;
        (*plan)[1] = constant_value(g_, n.inputs[1]) ? Operand::kConstant : Operand::kEntry;
        if (n.has_input(2)) (*plan)[2] = Operand::kAsIs;  // bias [M]: layout-free
        if (n.has_input(3) && !plan_4d(n.inputs[3], &(*plan)[3])) return false;
        return true;
      }
      case OpKind::kQLinearConv: {
        // 8-bit convolutions start regions too: the GPU's int8 GEMM then reads channels-last rows without a gather
        // and writes its output rows as they come. Scales, zero points and the int32 bias index channels: as they are.
        if (n.attrs.get_string("layout", "NCHW") != "NCHW" || n.outputs.size() != 1) return false;
        if (static_rank(g_, n.inputs[0]) != size_t{4} && !x_in_region) return false;
        if (n.inputs.size() < 4 || !n.has_input(3) || static_rank(g_, n.inputs[3]) != size_t{4}) return false;
        if (!plan_4d(n.inputs[0], &(*plan)[0])) return false;
        (*plan)[3] = constant_value(g_, n.inputs[3]) ? Operand::kConstant : Operand::kEntry;
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (i != 3 && n.has_input(i)) (*plan)[i] = Operand::kAsIs;
        return true;
      }
      case OpKind::kQuantizeLinear:
      case OpKind::kDequantizeLinear:
        // Per tensor only (a per-axis scale follows its axis attribute, not broadcasting); joins a region.
        if (!x_in_region || n.outputs.size() != 1 || n.attrs.get_int("block_size", 0) != 0) return false;
        for (size_t i = 1; i < n.inputs.size(); ++i) {
          if (!n.has_input(i)) continue;
          if (!all_ones(g_, n.inputs[i])) return false;
          (*plan)[i] = Operand::kAsIs;
        }
        (*plan)[0] = Operand::kRegion;
        return true;
      case OpKind::kLookupTable:
        // Elementwise through a 256-entry table (input 1), which is not an operand to permute.
        if (!x_in_region || n.inputs.size() != 2 || n.outputs.size() != 1) return false;
        (*plan)[0] = Operand::kRegion;
        (*plan)[1] = Operand::kAsIs;
        return true;
      case OpKind::kQLinearAdd:
      case OpKind::kQLinearMul: {
        // Broadcast elementwise on A (input 0) and B (input 3); the other inputs are per-tensor scales and zero points.
        if (n.outputs.size() != 1 || static_rank(g_, n.outputs[0]) != size_t{4}) return false;
        bool any_region = false;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          if (!n.has_input(i)) continue;
          if (i == 0 || i == 3) {
            if (!plan_broadcast(n.inputs[i], &(*plan)[i])) return false;
            any_region |= (*plan)[i] == Operand::kRegion;
          } else {
            if (!all_ones(g_, n.inputs[i])) return false;
            (*plan)[i] = Operand::kAsIs;
          }
        }
        return any_region;
      }
      case OpKind::kMaxPool:
      case OpKind::kAveragePool:
      case OpKind::kGlobalAveragePool:
      case OpKind::kGlobalMaxPool:
        // Pools join a region but do not start one (a lone pool would only gain two transposes).
        if (!x_in_region || n.inputs.size() != 1 || n.attrs.get_string("layout", "NCHW") != "NCHW") return false;
        for (size_t i = 1; i < n.outputs.size(); ++i)
          if (n.has_output(i)) return false;  // MaxPool Indices are defined on NCHW offsets
        (*plan)[0] = Operand::kRegion;
        return true;
      case OpKind::kConcat: {
        if (n.outputs.size() != 1) return false;
        bool any_region = false;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          if (!n.has_input(i) || !plan_4d(n.inputs[i], &(*plan)[i])) return false;
          any_region |= (*plan)[i] == Operand::kRegion;
        }
        return any_region && concat_axis(n.attrs, 4).ok();
      }
      case OpKind::kSplit: {
        // Channel splits (C2f/CSP blocks) and any other axis: the axis is renumbered, the sizes stay.
        if (!x_in_region) return false;
        int64_t axis;
        if (!normalize_axis(n.attrs.get_int("axis", 0), 4, &axis)) return false;
        for (size_t i = 0; i < n.outputs.size(); ++i)
          if (n.has_output(i) && static_rank(g_, n.outputs[i]) != size_t{4}) return false;
        (*plan)[0] = Operand::kRegion;
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (n.has_input(i)) (*plan)[i] = Operand::kAsIs;
        return true;
      }
      case OpKind::kSlice: {
        // With known axes (a constant, or absent: the first len(starts)); starts/ends/steps stay as they are.
        if (!x_in_region || n.outputs.size() != 1 || n.inputs.size() < 3 || !slice_axes(n)) return false;
        (*plan)[0] = Operand::kRegion;
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (n.has_input(i)) (*plan)[i] = Operand::kAsIs;
        return true;
      }
      case OpKind::kResize: {
        // Every mode is a product of per-axis resamplings: the `axes` attribute says which NHWC axis each entry of
        // scales/sizes/roi is for, and the inputs stay as they are.
        if (!x_in_region || n.outputs.size() != 1) return false;
        auto p = resize_params(n.attrs);
        if (!p.ok() || !resize_axes(*p, 4).ok()) return false;
        (*plan)[0] = Operand::kRegion;
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (n.has_input(i)) (*plan)[i] = Operand::kAsIs;
        return true;
      }
      default:
        break;
    }
    if (!is_elementwise(n.op) || n.outputs.size() != 1) return false;
    bool any_region = false;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!n.has_input(i)) continue;
      if (!plan_broadcast(n.inputs[i], &(*plan)[i])) return false;
      any_region |= (*plan)[i] == Operand::kRegion;
    }
    return any_region && static_rank(g_, n.outputs[0]) == size_t{4};
  }

  // A Slice's NCHW axes, normalized: its constant axes input, or 0..len(starts)-1 when it has none.
  std::optional<std::vector<int64_t>> slice_axes(const Node& n) const {
    std::vector<int64_t> axes;
    if (n.has_input(3)) {
      auto a = int_constant(g_, n.inputs[3]);
      if (!a) return std::nullopt;
      axes = *a;
    } else {
      auto starts = known_dims(g_, n.inputs[1]);
      if (!starts || starts->size() != 1 || (*starts)[0] < 0) return std::nullopt;
      for (int64_t i = 0; i < (*starts)[0]; ++i) axes.push_back(i);
    }
    for (int64_t& a : axes)
      if (!normalize_axis(a, 4, &a)) return std::nullopt;
    return axes;
  }

  // NHWC name for NCHW value `v` read by node `n`: a Transpose emitted once, before its first reader.
  std::string entry(const std::string& v, const Node& n) {
    auto it = entry_of_.find(v);
    if (it != entry_of_.end()) return it->second;
    std::string t = g_.fresh_name(v + "_nhwc");
    Node tr = make_node(g_, OpKind::kTranspose, n.name + "_to_nhwc", {v}, {t});
    tr.opset = std::max(n.opset, 13);
    tr.attrs.set("perm", kToNhwc);
    g_.nodes.push_back(std::move(tr));
    entry_of_[v] = t;
    return t;
  }

  // A constant operand permuted at build time: rank < 4 is first extended with leading 1s (numpy broadcasting).
  Result<std::string> permuted_constant(const std::string& v) {
    auto it = const_of_.find(v);
    if (it != const_of_.end()) return it->second;
    const Tensor& t = *constant_value(g_, v);
    Dims dims(4 - t.rank(), 1);
    dims.insert(dims.end(), t.dims().begin(), t.dims().end());
    KILN_ASSIGN_OR_RETURN(Tensor p, permute_tensor(t.reshaped(dims), kToNhwc));
    std::string name = g_.add_constant(v + "_nhwc", std::move(p));
    const_of_[v] = name;
    return name;
  }

  // A convolution reading a graph input with few channels (an image's 3) gets them zero-padded to a multiple of
  // kChannelAlign: NHWC tensor-core convolutions want 16-byte channel rows, and cuDNN's kernels for C = 3 are several
  // times slower than for C = 8. X gains a Pad after its entry transpose, W zero channels; the result is unchanged.
  static constexpr int64_t kChannelAlign = 8;
  Status pad_stem_channels(Node& n) {
    if (n.attrs.get_int("group", 1) != 1) return ok_status();
    const Tensor* w = constant_value(g_, n.inputs[1]);
    if (!w || w->rank() != 4 ||
        (w->dtype() != DType::kFloat32 && w->dtype() != DType::kFloat16 && w->dtype() != DType::kBFloat16))
      return ok_status();
    const int64_t c = w->dims()[3];  // NHWC weights [M, kH, kW, C]
    if (c <= 0 || c >= kChannelAlign || c % kChannelAlign == 0) return ok_status();
    const int64_t cp = kChannelAlign;
    Dims wd = w->dims();
    wd[3] = cp;
    KILN_ASSIGN_OR_RETURN(Tensor padded, Tensor::allocate(w->dtype(), wd));
    const size_t es = dtype_size(w->dtype());
    std::memset(padded.raw(), 0, padded.nbytes());
    const int64_t rows = w->numel() / c;
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char*>(padded.raw()) + r * cp * es, static_cast<const char*>(w->raw()) + r * c * es,
                  c * es);
    n.inputs[1] = g_.add_constant(n.inputs[1] + "_c" + std::to_string(cp), std::move(padded));
    auto it = padded_of_.find(n.inputs[0]);
    if (it == padded_of_.end()) {
      std::string pads = g_.add_constant(
          n.name + "_channel_pads", Tensor::from_vector<int64_t>(DType::kInt64, {8}, {0, 0, 0, 0, 0, 0, 0, cp - c}));
      std::string out = g_.fresh_name(n.inputs[0] + "_c" + std::to_string(cp));
      Node pad = make_node(g_, OpKind::kPad, n.name + "_pad_channels", {n.inputs[0], pads}, {out});
      pad.opset = 13;
      g_.nodes.push_back(std::move(pad));
      it = padded_of_.emplace(n.inputs[0], out).first;
    }
    n.inputs[0] = it->second;
    return ok_status();
  }

  Status convert(Node& n, std::vector<Operand> plan) {
    // A stride-2 stem conv on a few-channel image reads a space-to-depth copy of its input instead of an entry
    // transpose (layout_stem.h); its input and weights are then NHWC already.
    if (plan[0] == Operand::kEntry && plan[1] == Operand::kConstant) {
      if (std::optional<StemPlan> stem = plan_space_to_depth_stem(g_, n)) {
        KILN_RETURN_IF_ERROR(rewrite_space_to_depth_stem(g_, n, *stem, &space_to_depth_of_));
        plan[0] = plan[1] = Operand::kAbsent;
      }
    }
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      switch (plan[i]) {
        case Operand::kRegion:
          n.inputs[i] = nhwc_of_.at(n.inputs[i]);
          break;
        case Operand::kEntry:
          n.inputs[i] = entry(n.inputs[i], n);
          break;
        case Operand::kConstant: {
          Result<std::string> c = permuted_constant(n.inputs[i]);
          if (!c.ok()) return c.status().with_context(n.describe());
          n.inputs[i] = c.value();
          break;
        }
        default:
          break;
      }
    }
    if (plan[0] == Operand::kEntry && plan[1] == Operand::kConstant) KILN_RETURN_IF_ERROR(pad_stem_channels(n));
    if (n.op == OpKind::kConv) {
      // Plain Conv becomes FusedConv without activation: the op that has an NHWC form (docs/fused-ops.md).
      n.op = OpKind::kFusedConv;
      n.opset = 1;
      n.attrs.set("activation", std::string());
    }
    if (n.op == OpKind::kFusedConv || n.op == OpKind::kQLinearConv || n.op == OpKind::kMaxPool ||
        n.op == OpKind::kAveragePool || n.op == OpKind::kGlobalAveragePool || n.op == OpKind::kGlobalMaxPool)
      n.attrs.set("layout", std::string("NHWC"));
    // Axis-taking ops get their axes renumbered (each was checked when the region was planned).
    if (n.op == OpKind::kConcat) {
      if (auto axis = concat_axis(n.attrs, 4); axis.ok()) n.attrs.set("axis", kPositionOf[*axis]);
    } else if (n.op == OpKind::kSplit) {
      int64_t axis = 0;
      normalize_axis(n.attrs.get_int("axis", 0), 4, &axis);
      n.attrs.set("axis", kPositionOf[axis]);
    } else if (n.op == OpKind::kSlice) {
      std::vector<int64_t> axes = *slice_axes(n);
      for (int64_t& a : axes) a = kPositionOf[a];
      const int64_t k = static_cast<int64_t>(axes.size());
      std::string c = g_.add_constant(n.name + "_nhwc_axes", Tensor::from_vector<int64_t>(DType::kInt64, {k}, axes));
      if (n.inputs.size() < 4) n.inputs.resize(4);
      n.inputs[3] = c;
    } else if (n.op == OpKind::kResize) {
      std::vector<int64_t> axes = *resize_axes(*resize_params(n.attrs), 4);
      for (int64_t& a : axes) a = kPositionOf[a];
      n.attrs.set("axes", axes);
      n.opset = std::max(n.opset, 18);  // the opset that has `axes`
    }
    for (std::string& out : n.outputs) {
      if (out.empty()) continue;
      std::string renamed = g_.fresh_name(out + "_nhwc");
      nhwc_of_[out] = renamed;
      produced_by_region_[renamed] = out;
      out = renamed;
    }
    g_.nodes.push_back(std::move(n));
    return ok_status();
  }

  // Region values read outside the region (by unconverted nodes, subgraphs or as graph outputs) get a
  // Transpose back to NCHW under their original name, right after the node producing them.
  void insert_exits() {
    std::set<std::string> needed;
    for (const auto& vi : g_.outputs)
      if (in_region(vi.name)) needed.insert(vi.name);
    for (const auto& [value, uses] : build_use_map(g_))
      if (in_region(value) && !uses.empty()) needed.insert(value);
    if (needed.empty()) return;
    std::vector<Node> nodes = std::move(g_.nodes);
    g_.nodes.clear();
    for (Node& n : nodes) {
      std::vector<std::string> outs = n.outputs;
      g_.nodes.push_back(std::move(n));
      for (const auto& o : outs) {
        auto it = produced_by_region_.find(o);
        if (it == produced_by_region_.end() || !needed.count(it->second)) continue;
        Node tr = make_node(g_, OpKind::kTranspose, it->second + "_to_nchw", {o}, {it->second});
        tr.opset = 13;
        tr.attrs.set("perm", kToNchw);
        g_.nodes.push_back(std::move(tr));
      }
    }
  }

  Graph& g_;
  std::map<std::string, std::string> nhwc_of_;             // original NCHW name -> NHWC value in the region
  std::map<std::string, std::string> produced_by_region_;  // NHWC value -> original name
  std::map<std::string, std::string> entry_of_;            // NCHW value -> its entry Transpose's output
  std::map<std::string, std::string> const_of_;            // constant -> its permuted copy
  std::map<std::string, std::string> padded_of_;           // entry value -> its channel-padded copy
  std::map<std::string, std::string> space_to_depth_of_;   // entry value + geometry -> its space-to-depth copy
};

class LayoutNhwc : public Pass {
 public:
  std::string name() const override { return "layout_nhwc"; }
  Result<bool> run(Graph& g, const PassOptions& options) override {
    Rewriter rw(g);
    KILN_ASSIGN_OR_RETURN(bool changed, rw.run());
    if (!changed) return false;
    // Cancel transposes that meet (a region exit feeding the next region's entry) and drop the leftovers.
    KILN_ASSIGN_OR_RETURN(bool simplified, make_simplify_transpose_reshape_pass()->run(g, options));
    KILN_ASSIGN_OR_RETURN(bool swept, make_eliminate_dead_code_pass()->run(g, options));
    (void)simplified;
    (void)swept;
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_layout_nhwc_pass() { return std::make_unique<LayoutNhwc>(); }

}  // namespace kiln
