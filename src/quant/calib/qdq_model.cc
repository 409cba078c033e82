// Q/DQ placement: BatchNormalization folding, target discovery and the Q/DQ rewrite of an ONNX graph.
#include "quant/calib/qdq_model.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "core/float_formats.h"
#include "onnx/tensor_proto.h"
#include "quant/calib/calibrators.h"
#include "quant/calib/opset_upgrade.h"

namespace kiln::calib {

namespace {

bool is_default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

int64_t ai_onnx_opset(const onnx::ModelProto& m) {
  for (const auto& o : m.opset_import())
    if (is_default_domain(o.domain())) return o.version();
  return 1;
}

// Ops whose inputs or meaning changed between opset 7 and 13, and the opset that changed them: a model below
// that opset cannot simply be relabelled 13.
const std::map<std::string, int64_t>& opset13_breaking_ops() {
  static const std::map<std::string, int64_t> ops = {{"BatchNormalization", 9},
                                                     {"Upsample", 9},
                                                     {"Scan", 9},
                                                     {"Slice", 10},
                                                     {"TopK", 10},
                                                     {"Pad", 11},
                                                     {"Clip", 11},
                                                     {"Resize", 11},
                                                     {"Dropout", 12},
                                                     {"Split", 13},
                                                     {"Squeeze", 13},
                                                     {"Unsqueeze", 13},
                                                     {"ReduceSum", 13},
                                                     {"Softmax", 13},
                                                     {"LogSoftmax", 13},
                                                     {"Hardmax", 13}};
  return ops;
}

void visit_nodes(const onnx::GraphProto& g, const std::function<void(const onnx::NodeProto&)>& f) {
  for (const auto& n : g.node()) {
    f(n);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) visit_nodes(a.g(), f);
      for (const auto& sub : a.graphs()) visit_nodes(sub, f);
    }
  }
}

// Names that nested graphs (If/Loop/Scan bodies) read: they may read outer tensors without listing them.
std::set<std::string> subgraph_reads(const onnx::GraphProto& g) {
  std::set<std::string> names;
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      auto add = [&](const onnx::GraphProto& sub) {
        visit_nodes(sub, [&](const onnx::NodeProto& s) {
          for (const auto& i : s.input()) names.insert(i);
        });
        for (const auto& o : sub.output()) names.insert(o.name());
      };
      if (a.has_g()) add(a.g());
      for (const auto& sub : a.graphs()) add(sub);
    }
  return names;
}

struct GraphIndex {
  std::map<std::string, const onnx::TensorProto*> inits;
  std::set<std::string> graph_inputs, graph_outputs, nested_reads, names;
  std::map<std::string, std::vector<std::pair<int, int>>> consumers;  // tensor -> (node, input slot)

  explicit GraphIndex(const onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) inits[t.name()] = &t, names.insert(t.name());
    for (const auto& v : g.input()) graph_inputs.insert(v.name()), names.insert(v.name());
    for (const auto& v : g.output()) graph_outputs.insert(v.name()), names.insert(v.name());
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      for (int k = 0; k < n.input_size(); ++k)
        if (!n.input(k).empty()) consumers[n.input(k)].push_back({i, k}), names.insert(n.input(k));
      for (const auto& o : n.output()) names.insert(o);
    }
    nested_reads = subgraph_reads(g);
  }
  // Used anywhere besides the listed node slots?
  bool only_used_by(const std::string& t, int node) const {
    if (graph_outputs.count(t) || nested_reads.count(t)) return false;
    auto it = consumers.find(t);
    if (it == consumers.end()) return true;
    for (const auto& [n, k] : it->second)
      if (n != node) return false;
    return true;
  }
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; names.count(name); ++k) name = base + "_" + std::to_string(k);
    names.insert(name);
    return name;
  }
};

int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return dflt;
}
float float_attr(const onnx::NodeProto& n, const std::string& name, float dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return dflt;
}

Result<Tensor> float_initializer(const GraphIndex& ix, const std::string& name, const std::string& base_dir) {
  auto it = ix.inits.find(name);
  if (it == ix.inits.end()) return not_found("'" + name + "' is not an initializer");
  KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(*it->second, base_dir));
  if (t.dtype() != DType::kFloat32) return invalid_argument("'" + name + "' is not float32");
  return t;
}

void add_initializer(onnx::GraphProto& g, const Tensor& t, const std::string& name) {
  tensor_to_proto(t, name, g.add_initializer());
}

// Removes initializers (and their default-value graph inputs) that no node, nested graph or output reads.
void drop_unused_initializers(onnx::GraphProto& g, const std::set<std::string>& candidates) {
  GraphIndex ix(g);
  std::set<std::string> dead;
  for (const auto& name : candidates)
    if (!ix.consumers.count(name) && !ix.graph_outputs.count(name) && !ix.nested_reads.count(name)) dead.insert(name);
  if (dead.empty()) return;
  auto* inits = g.mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i)
    if (dead.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
  auto* inputs = g.mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (dead.count(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1);
}

// Conv (initializer W, optional initializer B) -> BatchNormalization (initializer scale, B, mean, var; one output)
// where the Conv output feeds only the BN: W' = W * s, B' = (B - mean) * s + beta, s = scale / sqrt(var + eps).
Result<int> fold_batch_norms(onnx::GraphProto& g, const std::string& base_dir) {
  GraphIndex ix(g);
  std::set<int> removed;
  std::set<std::string> replaced;
  int folded = 0;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& bn = g.node(i);
    if (bn.op_type() != "BatchNormalization" || !is_default_domain(bn.domain()) || bn.output_size() != 1 ||
        bn.input_size() != 5 || int_attr(bn, "training_mode", 0) != 0)
      continue;
    int conv_i = -1;
    for (int k = 0; k < i; ++k)
      if (g.node(k).output_size() >= 1 && g.node(k).output(0) == bn.input(0)) conv_i = k;
    if (conv_i < 0 || removed.count(conv_i)) continue;
    auto* conv = g.mutable_node(conv_i);
    if (conv->op_type() != "Conv" || !is_default_domain(conv->domain()) || conv->input_size() < 2 ||
        !ix.only_used_by(conv->output(0), i))
      continue;
    auto w = float_initializer(ix, conv->input(1), base_dir);
    if (!w.ok() || w->rank() < 3) continue;
    std::vector<Tensor> p;
    for (int k = 1; k < 5; ++k) {
      auto t = float_initializer(ix, bn.input(k), base_dir);
      if (!t.ok() || t->numel() != w->dim(0)) break;
      p.push_back(std::move(t).value());
    }
    if (p.size() != 4) continue;
    Tensor bias(DType::kFloat32, {w->dim(0)});
    std::fill(bias.data<float>(), bias.data<float>() + w->dim(0), 0.0f);
    if (conv->input_size() >= 3 && !conv->input(2).empty()) {
      auto b = float_initializer(ix, conv->input(2), base_dir);
      if (!b.ok() || b->numel() != w->dim(0)) continue;
      bias = b->clone();
    }
    const float eps = float_attr(bn, "epsilon", 1e-5f);
    Tensor nw = w->clone();
    const int64_t channels = w->dim(0), per = w->numel() / channels;
    for (int64_t c = 0; c < channels; ++c) {
      float s = p[0].data<float>()[c] / std::sqrt(p[3].data<float>()[c] + eps);
      for (int64_t k = 0; k < per; ++k) nw.data<float>()[c * per + k] *= s;
      bias.data<float>()[c] = (bias.data<float>()[c] - p[2].data<float>()[c]) * s + p[1].data<float>()[c];
    }
    std::string wn = ix.fresh(conv->input(1) + "_bn_folded"), bname = ix.fresh(conv->name() + "_bn_folded_bias");
    add_initializer(g, nw, wn);
    add_initializer(g, bias, bname);
    for (int k = 1; k < conv->input_size(); ++k) replaced.insert(conv->input(k));
    for (int k = 1; k < 5; ++k) replaced.insert(bn.input(k));
    conv->set_input(1, wn);
    if (conv->input_size() >= 3)
      conv->set_input(2, bname);
    else
      conv->add_input(bname);
    conv->set_output(0, bn.output(0));
    removed.insert(i);
    ++folded;
  }
  if (!folded) return 0;
  auto* nodes = g.mutable_node();
  for (int i = nodes->size() - 1; i >= 0; --i)
    if (removed.count(i)) nodes->DeleteSubrange(i, 1);
  drop_unused_initializers(g, replaced);
  return folded;
}

}  // namespace

std::vector<std::string> QuantTargets::tensors() const {
  std::vector<std::string> all;
  std::set<std::string> seen;
  for (const auto* list : {&inputs, &outputs})
    for (const auto& t : *list)
      if (seen.insert(t).second) all.push_back(t);
  return all;
}

// Constant nodes of the main graph that hold a tensor (`value`) become initializers of the same name: exporters such
// as paddle2onnx store every weight that way, and quantization looks for weights among the initializers.
void constants_to_initializers(onnx::GraphProto& g) {
  auto* nodes = g.mutable_node();
  for (int i = nodes->size() - 1; i >= 0; --i) {
    const onnx::NodeProto& n = nodes->Get(i);
    if (n.op_type() != "Constant" || !is_default_domain(n.domain()) || n.output_size() != 1 ||
        n.attribute_size() != 1 || n.attribute(0).name() != "value" || !n.attribute(0).has_t())
      continue;
    onnx::TensorProto* t = g.add_initializer();
    *t = n.attribute(0).t();
    t->set_name(n.output(0));
    nodes->DeleteSubrange(i, 1);
  }
}

Result<int> prepare_for_quantization(onnx::ModelProto& model, const std::string& base_dir) {
  constants_to_initializers(*model.mutable_graph());
  const int64_t declared = ai_onnx_opset(model);
  if (declared == 11 || declared == 12) KILN_RETURN_IF_ERROR(upgrade_to_opset13(model, base_dir));
  Status st = ok_status();
  int64_t opset = ai_onnx_opset(model);
  visit_nodes(model.graph(), [&](const onnx::NodeProto& n) {
    if (!st.ok() || !is_default_domain(n.domain())) return;
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear" || n.op_type() == "QLinearConv" ||
        n.op_type() == "QLinearMatMul")
      st = failed_precondition("the model is already quantized (it has " + n.op_type() +
                               " nodes): build it without --calib/--calib-cache, its Q/DQ nodes say the precision");
    auto it = opset13_breaking_ops().find(n.op_type());
    if (opset < 13 && it != opset13_breaking_ops().end() && it->second > opset)
      st = failed_precondition("INT8 Q/DQ needs ai.onnx opset >= 13 and this opset " + std::to_string(opset) +
                               " model has " + n.op_type() +
                               ", which changed by opset 13: convert the model first "
                               "(python: onnx.version_converter.convert_version(model, 13))");
  });
  KILN_RETURN_IF_ERROR(st);
  return fold_batch_norms(*model.mutable_graph(), base_dir);
}

std::vector<std::string> layer_names(const onnx::GraphProto& g) {
  std::map<std::string, int> uses;
  for (const auto& n : g.node())
    if (!n.name().empty()) uses[n.name()]++;
  std::vector<std::string> names;
  std::set<std::string> taken;
  for (const auto& n : g.node()) {
    std::string name = !n.name().empty() && uses[n.name()] == 1      ? n.name()
                       : n.output_size() > 0 && !n.output(0).empty() ? n.output(0)
                                                                     : n.op_type();
    std::string unique = name;
    for (int k = 1; !taken.insert(unique).second; ++k) unique = name + "_" + std::to_string(k);
    names.push_back(unique);
  }
  return names;
}

namespace {

// The tensor an Add's result is quantized at: its output, or the output of a Relu that is its only reader.
std::string add_result(const onnx::GraphProto& g, const GraphIndex& ix, const onnx::NodeProto& add) {
  const std::string& y = add.output(0);
  auto cons = ix.consumers.find(y);
  if (ix.graph_outputs.count(y) || ix.nested_reads.count(y) || cons == ix.consumers.end() || cons->second.size() != 1)
    return y;
  const auto& c = g.node(cons->second[0].first);
  return c.op_type() == "Relu" && is_default_domain(c.domain()) && c.output_size() == 1 ? c.output(0) : y;
}

// QuantTargets::adds: Adds of two quantized, non-constant tensors whose result is read only by quantized ops (as
// their input 0) and by Adds (which then read its DQ, joined or not).
void find_quantized_adds(const onnx::GraphProto& g, const GraphIndex& ix, QuantTargets* t) {
  std::set<std::string> quantized(t->inputs.begin(), t->inputs.end());
  quantized.insert(t->outputs.begin(), t->outputs.end());
  std::set<int> op_nodes;
  for (const auto& op : t->ops) op_nodes.insert(op.node);
  std::set<std::string> out_seen(t->outputs.begin(), t->outputs.end());
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (n.op_type() != "Add" || !is_default_domain(n.domain()) || n.input_size() != 2 || n.output_size() != 1) continue;
    if (!quantized.count(n.input(0)) || !quantized.count(n.input(1)) || n.input(0) == n.input(1)) continue;
    const std::string y = add_result(g, ix, n);
    if (ix.graph_outputs.count(y) || ix.nested_reads.count(y) || !ix.consumers.count(y)) continue;
    bool ok = true;
    for (const auto& [node, slot] : ix.consumers.at(y)) {
      const auto& c = g.node(node);
      ok &= (op_nodes.count(node) && slot == 0) || (c.op_type() == "Add" && is_default_domain(c.domain()));
    }
    if (!ok) continue;
    t->adds.push_back(i);
    quantized.insert(y);  // a later Add may read it
    if (out_seen.insert(y).second) t->outputs.push_back(y);
  }
}

}  // namespace

Result<QuantTargets> find_quant_targets(const onnx::ModelProto& model, const std::string& base_dir,
                                        const std::set<std::string>& keep_float) {
  const auto& g = model.graph();
  GraphIndex ix(g);
  const std::vector<std::string> layers = layer_names(g);
  QuantTargets t;
  std::set<std::string> in_seen, out_seen;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!is_default_domain(n.domain()) || n.input_size() < 2 || n.output_size() < 1) continue;
    const std::string& op = n.op_type();
    if (op != "Conv" && op != "MatMul" && op != "Gemm") continue;
    auto it = ix.inits.find(n.input(1));
    if (it == ix.inits.end() || it->second->data_type() != onnx::TensorProto::FLOAT) continue;
    if (ix.inits.count(n.input(0))) continue;  // a constant input: constant folding's business
    const int rank = it->second->dims_size();
    if (keep_float.count(layers[i])) continue;
    QuantOp q{i, n.input(1), 0, layers[i], op};
    if (op == "Conv") {
      if (rank < 3) continue;
    } else if (op == "MatMul") {
      if (rank != 2) continue;
      q.axis = 1;
    } else {
      if (rank != 2) continue;
      q.axis = int_attr(n, "transB", 0) ? 0 : 1;
    }
    t.ops.push_back(q);
    if (in_seen.insert(n.input(0)).second) t.inputs.push_back(n.input(0));
    std::string y = n.output(0);
    auto cons = ix.consumers.find(y);
    if (!ix.graph_outputs.count(y) && !ix.nested_reads.count(y) && cons != ix.consumers.end() &&
        cons->second.size() == 1) {
      const auto& c = g.node(cons->second[0].first);
      if (c.op_type() == "Relu" && is_default_domain(c.domain()) && c.output_size() == 1) y = c.output(0);
    }
    if (ix.graph_outputs.count(y) || !ix.consumers.count(y)) continue;
    if (out_seen.insert(y).second) t.outputs.push_back(y);
  }
  find_quantized_adds(g, ix, &t);
  return t;
}

QuantTargets fp8_targets(const onnx::ModelProto& model, const QuantTargets& t) {
  const auto& g = model.graph();
  GraphIndex ix(g);
  QuantTargets out;
  std::set<std::string> seen;
  for (const auto& op : t.ops) {
    const auto& n = g.node(op.node);
    if (op.op_type == "Conv" || (op.op_type == "Gemm" && int_attr(n, "transA", 0) != 0)) continue;
    const auto& w = *ix.inits.at(op.weight);
    if (w.dims_size() != 2 || w.dims(0) % 16 != 0 || w.dims(1) % 16 != 0) continue;
    out.ops.push_back(op);
    if (seen.insert(n.input(0)).second) out.inputs.push_back(n.input(0));
  }
  return out;
}

namespace {

// An activation's Q/DQ parameters in `format` from its calibrated range.
std::pair<Tensor, Tensor> activation_qparams(const TensorRange& r, QdqFormat format, bool signed_activations) {
  if (format == QdqFormat::kFloat8E4M3FN) {
    const double amax = std::max(std::fabs(r.min), std::fabs(r.max));
    Tensor zp(DType::kFloat8E4M3FN, {});
    *zp.data<uint8_t>() = 0;
    return {Tensor::scalar(DType::kFloat32, static_cast<float>(amax > 0 ? amax / kFloat8E4M3Max : 1.0)), zp};
  }
  // Signed: the same grid shifted by 128 (zero point - 128), so every dequantized value is unchanged.
  Tensor zp = signed_activations ? Tensor::scalar(DType::kInt8, static_cast<int8_t>(r.zero_point - 128))
                                 : Tensor::scalar(DType::kUInt8, static_cast<uint8_t>(r.zero_point));
  return {Tensor::scalar(DType::kFloat32, r.scale), zp};
}

// A weight in float8 e4m3fn, one scale (max|w| / 448), saturating: its values, scale and zero point.
struct Fp8Weight {
  Tensor values, scale, zero_point;
};
double abs_max(const Tensor& w) {
  double amax = 0;
  for (int64_t i = 0; i < w.numel(); ++i) amax = std::max(amax, std::fabs(static_cast<double>(w.data<float>()[i])));
  return amax;
}
// `amax`: the absolute maximum the scale covers (the weight's own, or larger when shared).
Fp8Weight quantize_weight_fp8(const Tensor& w, double amax) {
  const double s = amax > 0 ? amax / kFloat8E4M3Max : 1.0;
  Fp8Weight q{Tensor(DType::kFloat8E4M3FN, w.dims()), Tensor::scalar(DType::kFloat32, static_cast<float>(s)),
              Tensor(DType::kFloat8E4M3FN, {})};
  for (int64_t i = 0; i < w.numel(); ++i)
    q.values.data<uint8_t>()[i] = float_to_fp8e4m3fn(static_cast<float>(w.data<float>()[i] / s), true);
  *q.zero_point.data<uint8_t>() = 0;
  return q;
}

}  // namespace

Status insert_qdq(onnx::ModelProto& model, const QuantTargets& targets, const CalibCache& cache,
                  const std::string& base_dir, int weight_qmax, bool signed_activations, QdqFormat format) {
  onnx::GraphProto& g = *model.mutable_graph();
  GraphIndex ix(g);
  std::map<std::string, std::string> dq_of;                   // activation -> its DequantizeLinear output
  std::map<std::string, std::vector<onnx::NodeProto>> after;  // producer output -> Q/DQ nodes to place after it
  std::vector<onnx::NodeProto> at_start;                      // weight DQs, and Q/DQ of graph inputs
  for (const auto& name : targets.tensors()) {
    auto it = cache.tensors.find(name);
    if (it == cache.tensors.end())
      return failed_precondition("the calibration cache has no scale for tensor '" + name +
                                 "' (made by another Kiln version or for another model): recalibrate");
    auto [scale, zp] = activation_qparams(it->second, format, signed_activations);
    std::string sn = ix.fresh(name + "_scale"), zn = ix.fresh(name + "_zero_point");
    std::string qn = ix.fresh(name + "_quantized"), dn = ix.fresh(name + "_dequantized");
    add_initializer(g, scale, sn);
    add_initializer(g, zp, zn);
    onnx::NodeProto q, d;
    q.set_op_type("QuantizeLinear");
    q.set_name(ix.fresh(name + "_QuantizeLinear"));
    for (const auto& i : {name, sn, zn}) q.add_input(i);
    q.add_output(qn);
    d.set_op_type("DequantizeLinear");
    d.set_name(ix.fresh(name + "_DequantizeLinear"));
    for (const auto& i : {qn, sn, zn}) d.add_input(i);
    d.add_output(dn);
    auto& list = ix.graph_inputs.count(name) ? at_start : after[name];
    list.push_back(q);
    list.push_back(d);
    dq_of[name] = dn;
  }
  // Rewire: outputs (step 4) for all their consumers, inputs (step 1) for the quantized ops only.
  std::set<std::string> all_consumers(targets.outputs.begin(), targets.outputs.end());
  for (const auto& [t, dn] : dq_of) {
    if (!all_consumers.count(t)) continue;
    for (const auto& [node, slot] : ix.consumers[t]) g.mutable_node(node)->set_input(slot, dn);
  }
  for (int node : targets.adds) {
    auto* n = g.mutable_node(node);
    for (int k = 0; k < 2; ++k)
      if (dq_of.count(n->input(k))) n->set_input(k, dq_of[n->input(k)]);
  }
  std::map<std::pair<std::string, int>, std::string> weight_dq;
  std::set<std::string> old_weights;
  // FP8: GEMMs reading the same activation share one weight scale (the largest absolute maximum among their weights),
  // so that their products have one alpha and self-attention's Q, K and V still fuse into one GEMM
  // (fuse_qkv_projection).
  std::map<std::string, double> shared_amax;
  std::map<std::string, Tensor> parsed;  // FP8: each weight parsed once, for its maximum and then its quantization
  if (format == QdqFormat::kFloat8E4M3FN)
    for (const auto& op : targets.ops) {
      if (!parsed.count(op.weight)) {
        KILN_ASSIGN_OR_RETURN(Tensor w, float_initializer(ix, op.weight, base_dir));
        parsed.emplace(op.weight, std::move(w));
      }
      double& m = shared_amax[g.node(op.node).input(0)];
      m = std::max(m, abs_max(parsed.at(op.weight)));
    }
  for (const auto& op : targets.ops) {
    auto* n = g.mutable_node(op.node);
    const std::string x = n->input(0);  // before the rewiring: the key of shared_amax
    if (dq_of.count(x)) n->set_input(0, dq_of[x]);
    auto key = std::make_pair(op.weight, op.axis);
    if (!weight_dq.count(key)) {
      Tensor w;
      if (auto it = parsed.find(op.weight); it != parsed.end()) {
        w = it->second;
      } else {
        KILN_ASSIGN_OR_RETURN(w, float_initializer(ix, op.weight, base_dir));
      }
      std::string qn = ix.fresh(op.weight + "_quantized"), sn = ix.fresh(op.weight + "_scale");
      std::string zn = ix.fresh(op.weight + "_zero_point"), dn = ix.fresh(op.weight + "_dequantized");
      onnx::NodeProto d;
      d.set_op_type("DequantizeLinear");
      d.set_name(ix.fresh(op.weight + "_DequantizeLinear"));
      for (const auto& i : {qn, sn, zn}) d.add_input(i);
      d.add_output(dn);
      if (format == QdqFormat::kFloat8E4M3FN) {
        Fp8Weight q = quantize_weight_fp8(w, shared_amax[x]);
        add_initializer(g, q.values, qn);
        add_initializer(g, q.scale, sn);
        add_initializer(g, q.zero_point, zn);
      } else {
        WeightQuant wq = quantize_weight_per_channel(w.data<float>(), w.dims(), op.axis, weight_qmax);
        const int64_t channels = static_cast<int64_t>(wq.scales.size());
        add_initializer(g, Tensor::from_vector(DType::kInt8, w.dims(), wq.values), qn);
        add_initializer(g, Tensor::from_vector(DType::kFloat32, {channels}, wq.scales), sn);
        add_initializer(g, Tensor::from_vector(DType::kInt8, {channels}, std::vector<int8_t>(channels, 0)), zn);
        auto* a = d.add_attribute();
        a->set_name("axis");
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(op.axis);
      }
      at_start.push_back(d);
      weight_dq[key] = dn;
    }
    n->set_input(1, weight_dq[key]);
    old_weights.insert(op.weight);
  }
  // Topological order: weight DQs and graph-input Q/DQ first, each other Q/DQ right after its producer.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& n : at_start) *nodes.Add() = std::move(n);
  for (auto& n : *g.mutable_node()) {
    *nodes.Add() = n;
    for (const auto& o : n.output()) {
      auto it = after.find(o);
      if (it == after.end()) continue;
      for (auto& extra : it->second) *nodes.Add() = std::move(extra);
      after.erase(it);
    }
  }
  if (!after.empty())
    return invalid_argument("tensor '" + after.begin()->first + "' has no producer in the top-level graph");
  g.mutable_node()->Swap(&nodes);
  drop_unused_initializers(g, old_weights);
  bool found = false;
  for (auto& o : *model.mutable_opset_import())
    if (is_default_domain(o.domain())) {
      found = true;
      if (o.version() < 13) o.set_version(13);
    }
  if (!found) {
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(13);
  }
  if (model.ir_version() < 7) model.set_ir_version(7);
  return ok_status();
}

}  // namespace kiln::calib
