// Precision lowering: decides which allow-listed nodes compute in float16/bfloat16, converts their weights and
// inserts the Casts that keep every float32 consumer and the graph's inputs/outputs in float32.
#include "quant/precision.h"

#include <cmath>
#include <map>
#include <set>

#include "core/float_formats.h"
#include "passes/pass_util.h"
#include "quant/precision_ops.h"

namespace kiln {
namespace {

constexpr float kMaxHalf = 65504.f;
constexpr float kMinNormalHalf = 6.103515625e-05f;  // 2^-14

class Lowering {
 public:
  Lowering(Graph& g, const PrecisionOptions& o) : g_(g), target_(o.target), approximate_gelu_(o.approximate_gelu) {}

  Result<PrecisionReport> run() {
    collect_pinned_and_names();
    decide();
    convert_weights();
    KILN_RETURN_IF_ERROR(rewrite());
    KILN_RETURN_IF_ERROR(reinfer_types(g_, retyped_).with_context("precision lowering: re-inferring types"));
    KILN_RETURN_IF_ERROR(verify_graph(g_).with_context("precision lowering"));
    KILN_RETURN_IF_ERROR(check_types());
    if (approximate_gelu_) approximate_gelu();
    return report_;
  }

 private:
  DType dtype_of(const std::string& v) const {
    const TypeInfo* t = g_.type_of(v);
    return t && t->is_tensor() ? t->dtype : DType::kUndefined;
  }
  // FusedMatMul computing in the target type: erf GELU -> tanh GELU (see PrecisionOptions::approximate_gelu).
  void approximate_gelu() {
    for (Node& n : g_.nodes) {
      if (n.op != OpKind::kFusedMatMul || n.outputs.empty() || dtype_of(n.outputs[0]) != target_) continue;
      if (n.attrs.get_string("activation", "") != "Gelu") continue;
      n.attrs.set("activation", std::string("GeluTanh"));
      ++report_.approximated_gelu;
    }
  }

  bool is_constant(const std::string& v) const { return g_.initializers.count(v) && !runtime_inputs_.count(v); }

  // Graph outputs and values read from inside subgraphs keep their name and float32 type: a low-precision
  // producer of one writes a fresh name and a Cast back to float32 recreates the original.
  void collect_pinned_and_names() {
    for (const auto& vi : g_.outputs) {
      pinned_.insert(vi.name);
      output_dtypes_[vi.name] = dtype_of(vi.name);
    }
    for (const auto& vi : g_.inputs) runtime_inputs_.insert(vi.name);
    for (const Node& n : g_.nodes) {
      node_names_.insert(n.name);
      for (const GraphPtr& sub : node_subgraphs(n))
        if (sub)
          for (const std::string& r : outer_reads(*sub)) pinned_.insert(r);
    }
  }

  // A quantization scale float16 holds only approximately: below its smallest normal value (2^-14, where its
  // precision drops) or above its largest.
  bool scale_outside_half(const std::string& v) const {
    const Tensor& t = g_.initializers.at(v);
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float a = std::fabs(p[i]);
      if (std::isfinite(a) && a != 0.f && (a < kMinNormalHalf || a > kMaxHalf)) return true;
    }
    return false;
  }

  bool overflows_half(const std::string& v) const {
    const Tensor& t = g_.initializers.at(v);
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (std::isfinite(p[i]) && std::fabs(p[i]) > kMaxHalf) return true;
    return false;
  }

  // True when input j of node i is converted: the node is lowered and j is one of its float32 T inputs.
  bool converts_input(size_t i, size_t j) const {
    if (!low_[i] || !g_.nodes[i].has_input(j)) return false;
    const LowPrecisionOp* spec = find_low_precision_op(g_.nodes[i].op);
    return is_t_input(*spec, j) && original_dtype(g_.nodes[i].inputs[j]) == DType::kFloat32;
  }
  DType original_dtype(const std::string& v) const {
    auto it = original_dtypes_.find(v);
    return it != original_dtypes_.end() ? it->second : dtype_of(v);
  }

  // Phase 1: walk the nodes in order and pick the ones that run in the target type.
  void decide() {
    low_.assign(g_.nodes.size(), false);
    std::set<std::string> low_values;
    std::vector<size_t> idle_movers;  // data movers skipped because no input arrived in the target type
    std::set<size_t> guarded_movers;  // those of them with a constant that overflows the target type
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      const LowPrecisionOp* spec = find_low_precision_op(n.op);
      if (!spec) continue;
      const bool qdq = n.op == OpKind::kQuantizeLinear || n.op == OpKind::kDequantizeLinear;
      // Quantize/dequantize lower to float16 only (bfloat16's 8-bit mantissa would move the calibrated scales), and
      // only with a constant scale inside float16's normal range.
      if (qdq &&
          (target_ != DType::kFloat16 || n.attrs.get_int("output_dtype", 0) != 0 || !n.has_input(1) ||
           !is_constant(n.inputs[1]) || dtype_of(n.inputs[1]) != DType::kFloat32 || scale_outside_half(n.inputs[1])))
        continue;
      bool ok = true, any_f32 = false, any_low_in = false, guarded = false;
      for (size_t j = 0; j < n.inputs.size() && ok; ++j) {
        if (!n.has_input(j) || !is_t_input(*spec, j)) continue;
        const DType dt = dtype_of(n.inputs[j]);
        if (dt == DType::kFloat32) {
          any_f32 = true;
          if (low_values.count(n.inputs[j])) any_low_in = true;
          if (target_ == DType::kFloat16 && is_constant(n.inputs[j]) && overflows_half(n.inputs[j])) guarded = true;
        } else if (!is_float(dt) && j < 32 && ((spec->maybe_t_inputs >> j) & 1u)) {
          continue;  // e.g. a bool attention mask
        } else if (n.op == OpKind::kFusedMatMul && j < 2 && is_float8(dt)) {
          continue;  // an FP8 product (fold_qdq_fp8): its bias sets Y's type, the float8 operands stay
        } else {
          ok = false;  // unknown type, another float type, or a non-float where T is required: leave it alone
        }
      }
      for (size_t k = 0; k < n.outputs.size() && ok; ++k) {
        if (!n.has_output(k)) continue;
        const DType dt = dtype_of(n.outputs[k]);
        if (is_t_output(*spec, k))
          ok = dt == DType::kFloat32;
        else if (k < 32 && ((spec->fp32_outputs >> k) & 1u))
          continue;
        else if (dt == DType::kFloat32 || dt == DType::kUndefined)
          ok = false;  // a float32 output we do not know
      }
      if (!ok || !any_f32) continue;
      if (spec->follows_input && !any_low_in) {
        // Phase 1b may still lower it, also when a constant overflows the target type: a mover only selects or
        // copies values, and its readers convert its output anyway (Cast(Where(c, 0, -FLT_MAX)) feeding a
        // half-precision attention mask is Where(c, 0, -inf) either way).
        idle_movers.push_back(i);
        if (guarded) guarded_movers.insert(i);
        continue;
      }
      if (guarded) {
        report_.overflow_guarded_nodes.push_back(n.name);
        continue;
      }
      low_[i] = true;
      for (size_t k = 0; k < n.outputs.size(); ++k)
        if (n.has_output(k) && is_t_output(*spec, k)) low_values.insert(n.outputs[k]);
    }
    lower_movers_feeding_low_nodes(idle_movers);
    for (size_t i : guarded_movers)
      if (!low_[i]) report_.overflow_guarded_nodes.push_back(g_.nodes[i].name);
  }

  // Phase 1b, backwards: a data mover whose every reader converts its output anyway (a float32 graph input ->
  // Transpose -> Pad -> FusedConv chain) runs in the target type too, so the Cast moves up to the smallest tensor
  // and the movers copy half the bytes. Movers feeding graph outputs or subgraph-carrying nodes stay as they are.
  void lower_movers_feeding_low_nodes(const std::vector<size_t>& idle_movers) {
    if (idle_movers.empty()) return;
    std::map<std::string, std::vector<std::pair<size_t, size_t>>> readers;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      if (n.op == OpKind::kIf || n.op == OpKind::kLoop || n.op == OpKind::kScan) return;
      for (size_t j = 0; j < n.inputs.size(); ++j)
        if (n.has_input(j)) readers[n.inputs[j]].push_back({i, j});
    }
    std::set<std::string> graph_outputs;
    for (const auto& vi : g_.outputs) graph_outputs.insert(vi.name);
    for (auto it = idle_movers.rbegin(); it != idle_movers.rend(); ++it) {
      const Node& n = g_.nodes[*it];
      const LowPrecisionOp* spec = find_low_precision_op(n.op);
      bool all_low = true, any_reader = false;
      for (size_t k = 0; k < n.outputs.size() && all_low; ++k) {
        if (!n.has_output(k) || !is_t_output(*spec, k)) continue;
        if (graph_outputs.count(n.outputs[k])) all_low = false;
        for (const auto& [r, j] : readers[n.outputs[k]]) {
          const LowPrecisionOp* rs = find_low_precision_op(g_.nodes[r].op);
          if (!low_[r] || !rs || !is_t_input(*rs, j)) all_low = false;
          any_reader = true;
        }
      }
      if (all_low && any_reader) low_[*it] = true;
    }
  }

  // Phase 2: float32 initializers read as T inputs of lowered nodes. Converted in place when every reader is
  // such an input; otherwise the lowered readers get a converted copy and the rest keep the original.
  void convert_weights() {
    std::map<std::string, bool> only_low;  // initializer -> all readers are converted T inputs
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      for (size_t j = 0; j < n.inputs.size(); ++j) {
        if (!n.has_input(j) || !is_constant(n.inputs[j])) continue;
        const bool conv = converts_input(i, j);
        auto [it, fresh] = only_low.emplace(n.inputs[j], conv);
        if (!fresh) it->second = it->second && conv;
        if (conv) needs_low_.insert(n.inputs[j]);
      }
    }
    for (const std::string& v : needs_low_) {
      Tensor t = convert_tensor(g_.initializers.at(v));
      ++report_.converted_weights;
      if (only_low[v] && !pinned_.count(v)) {
        original_dtypes_[v] = DType::kFloat32;
        g_.initializers[v] = t;
        g_.value_types[v] = TypeInfo::tensor(target_, Shape::of(t.dims()));
        retyped_.insert(v);
        low_name_[v] = v;
      } else {
        low_name_[v] = g_.add_constant(v + "_" + dtype_name(target_), t);
      }
    }
  }

  Tensor convert_tensor(const Tensor& src) const {
    Tensor out(target_, src.dims());
    const float* s = src.data<float>();
    uint16_t* d = out.data<uint16_t>();
    for (int64_t i = 0; i < src.numel(); ++i)
      d[i] = target_ == DType::kFloat16 ? float_to_half(s[i]) : float_to_bf16(s[i]);
    return out;
  }

  // A Cast node from `src` to a fresh value of `to` (with src's shape); returns it and names the output.
  Node make_cast(const std::string& src, DType to, std::string* out) {
    const TypeInfo* st = g_.type_of(src);
    *out = g_.fresh_name(src + "_" + dtype_name(to));
    g_.value_types[*out] = TypeInfo::tensor(to, st ? st->shape : Shape::unknown_rank());
    return cast_node(src, *out, to);
  }
  Node cast_node(const std::string& src, const std::string& dst, DType to) {
    Node c;
    c.op = OpKind::kCast;
    do c.name = g_.fresh_name("precision_cast");
    while (node_names_.count(c.name));
    node_names_.insert(c.name);
    c.inputs = {src};
    c.outputs = {dst};
    c.attrs.set("to", static_cast<int64_t>(to));
    auto it = g_.opsets.find("");
    if (it == g_.opsets.end()) it = g_.opsets.find("ai.onnx");
    c.opset = it == g_.opsets.end() ? 21 : static_cast<int>(it->second);
    ++report_.casts_inserted;
    return c;
  }

  // Phase 3: rebuild the node list with converted inputs, retyped outputs and the Casts between them.
  Status rewrite() {
    std::vector<Node> out;
    out.reserve(g_.nodes.size() * 2);
    std::map<std::string, std::string> f32_name;  // retyped value -> its float32 copy (a Cast back)
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node n = g_.nodes[i];
      std::vector<Node> after;
      for (size_t j = 0; j < n.inputs.size(); ++j) {
        if (!n.has_input(j)) continue;
        const std::string v = n.inputs[j];
        if (converts_input(i, j)) {
          auto it = low_name_.find(v);
          if (it == low_name_.end()) {
            std::string cast_out;
            out.push_back(make_cast(v, target_, &cast_out));
            it = low_name_.emplace(v, cast_out).first;
          }
          n.inputs[j] = it->second;
        } else if (retyped_.count(v)) {  // a float32 reader of a value now in the target type
          auto it = f32_name.find(v);
          if (it == f32_name.end()) {
            std::string cast_out;
            out.push_back(make_cast(v, DType::kFloat32, &cast_out));
            it = f32_name.emplace(v, cast_out).first;
          }
          n.inputs[j] = it->second;
        }
      }
      if (low_[i]) {
        const LowPrecisionOp* spec = find_low_precision_op(n.op);
        for (size_t k = 0; k < n.outputs.size(); ++k) {
          if (!n.has_output(k) || !is_t_output(*spec, k)) continue;
          const std::string v = n.outputs[k];
          const TypeInfo* t = g_.type_of(v);
          const Shape shape = t ? t->shape : Shape::unknown_rank();
          original_dtypes_[v] = DType::kFloat32;
          if (pinned_.count(v)) {
            const std::string low = g_.fresh_name(v + "_" + dtype_name(target_));
            g_.value_types[low] = TypeInfo::tensor(target_, shape);
            n.outputs[k] = low;
            low_name_[v] = low;
            after.push_back(cast_node(low, v, DType::kFloat32));
          } else {
            g_.value_types[v] = TypeInfo::tensor(target_, shape);
            retyped_.insert(v);
            low_name_[v] = v;
          }
        }
        ++report_.lowered_nodes;
        lowered_.insert(n.name);
      } else if (touches_float32(n)) {
        ++report_.fp32_nodes;
      }
      out.push_back(std::move(n));
      for (Node& c : after) out.push_back(std::move(c));
    }
    g_.nodes = std::move(out);
    return ok_status();
  }

  bool touches_float32(const Node& n) const {
    for (const auto& v : n.inputs)
      if (!v.empty() && original_dtype(v) == DType::kFloat32) return true;
    for (const auto& v : n.outputs)
      if (!v.empty() && original_dtype(v) == DType::kFloat32) return true;
    return false;
  }

  // After re-inference: lowered nodes see the target type on their T inputs and outputs, and the graph's
  // outputs kept their declared dtypes. A mismatch means an inference rule disagrees with the table.
  Status check_types() const {
    for (const Node& n : g_.nodes) {
      if (!lowered_.count(n.name)) continue;
      const LowPrecisionOp* spec = find_low_precision_op(n.op);
      for (size_t k = 0; k < n.outputs.size(); ++k)
        if (n.has_output(k) && is_t_output(*spec, k) && dtype_of(n.outputs[k]) != target_)
          return internal_error("precision lowering: " + n.describe() + " output '" + n.outputs[k] + "' is " +
                                dtype_name(dtype_of(n.outputs[k])) + " after lowering, expected " +
                                dtype_name(target_));
    }
    for (const auto& [name, dt] : output_dtypes_)
      if (dtype_of(name) != dt)
        return internal_error("precision lowering: graph output '" + name + "' changed dtype from " + dtype_name(dt) +
                              " to " + dtype_name(dtype_of(name)));
    return ok_status();
  }

  Graph& g_;
  DType target_;
  bool approximate_gelu_ = true;
  PrecisionReport report_;
  std::set<std::string> pinned_, runtime_inputs_, node_names_, needs_low_, retyped_, lowered_;
  std::vector<bool> low_;
  std::map<std::string, std::string> low_name_;   // float32 value -> name of its target-typed version
  std::map<std::string, DType> original_dtypes_;  // values whose type the pass changed -> their old dtype
  std::map<std::string, DType> output_dtypes_;    // graph output -> its dtype before the pass
};

}  // namespace

Result<PrecisionReport> lower_precision(Graph& g, const PrecisionOptions& options) {
  if (options.target != DType::kFloat16 && options.target != DType::kBFloat16)
    return invalid_argument(std::string("precision lowering: target must be float16 or bfloat16, got ") +
                            dtype_name(options.target));
  if (g.value_types.empty() && !g.nodes.empty())
    return failed_precondition("precision lowering: graph '" + g.name + "' has no inferred value types");
  return Lowering(g, options).run();
}

}  // namespace kiln
