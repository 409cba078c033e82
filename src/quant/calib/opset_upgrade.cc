// Opset 11/12 -> 13 relabelling for Q/DQ insertion (see opset_upgrade.h).
#include "quant/calib/opset_upgrade.h"

#include <functional>
#include <map>
#include <set>

#include "ir/shape_inference.h"
#include "onnx/importer.h"

namespace kiln::calib {
namespace {

bool default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// Every name used in the model (any graph), for fresh names.
void collect_names(const onnx::GraphProto& g, std::set<std::string>* names) {
  for (const auto& t : g.initializer()) names->insert(t.name());
  for (const auto& v : g.input()) names->insert(v.name());
  for (const auto& v : g.output()) names->insert(v.name());
  for (const auto& n : g.node()) {
    names->insert(n.name());
    for (const auto& s : n.input()) names->insert(s);
    for (const auto& s : n.output()) names->insert(s);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_names(a.g(), names);
      for (const auto& sub : a.graphs()) collect_names(sub, names);
    }
  }
}

struct Upgrader {
  std::set<std::string> names;
  std::map<std::string, int> ranks;  // main-graph tensor ranks known to Kiln's type inference

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; names.count(name); ++k) name = base + "_" + std::to_string(k);
    names.insert(name);
    return name;
  }

  // Moves the ints attribute `attr` of `n` to input slot `slot` as an int64 initializer of `g` (absent: nothing).
  void attr_to_input(onnx::GraphProto& g, onnx::NodeProto& n, const std::string& attr, int slot) {
    auto* attrs = n.mutable_attribute();
    for (int i = 0; i < attrs->size(); ++i) {
      if (attrs->Get(i).name() != attr) continue;
      onnx::TensorProto* t = g.add_initializer();
      t->set_name(fresh((n.name().empty() ? n.op_type() : n.name()) + "_" + attr));
      t->set_data_type(onnx::TensorProto::INT64);
      t->add_dims(attrs->Get(i).ints_size());
      for (int64_t v : attrs->Get(i).ints()) t->add_int64_data(v);
      while (n.input_size() < slot) n.add_input("");
      if (n.input_size() == slot) n.add_input(t->name());
      else n.set_input(slot, t->name());
      attrs->DeleteSubrange(i, 1);
      return;
    }
  }

  // Softmax-family op of opset < 13 at `index` in `nodes`: appended replacement nodes go to `out`.
  void softmax(onnx::NodeProto n, std::vector<onnx::NodeProto>* out, bool main_graph) {
    int64_t axis = 1;
    int axis_at = -1;
    for (int i = 0; i < n.attribute_size(); ++i)
      if (n.attribute(i).name() == "axis") axis = n.attribute(i).i(), axis_at = i;
    const auto r = main_graph ? ranks.find(n.input(0)) : ranks.end();
    if (r != ranks.end()) {
      const int64_t rank = r->second;
      if (axis < 0) axis += rank;
      if (axis == rank - 1) {  // same meaning at 13: the last axis
        if (axis_at < 0) n.add_attribute()->set_name("axis"), axis_at = n.attribute_size() - 1;
        n.mutable_attribute(axis_at)->set_type(onnx::AttributeProto::INT);
        n.mutable_attribute(axis_at)->set_i(-1);
        out->push_back(std::move(n));
        return;
      }
    }
    // Flatten at `axis` (the old coercion to 2-D), the op over axis 1, and back to the input's shape.
    const std::string base = n.name().empty() ? n.op_type() : n.name();
    onnx::NodeProto flat, shape, back;
    flat.set_op_type("Flatten");
    flat.set_name(fresh(base + "_flatten"));
    flat.add_input(n.input(0));
    flat.add_output(fresh(base + "_2d"));
    auto* fa = flat.add_attribute();
    fa->set_name("axis");
    fa->set_type(onnx::AttributeProto::INT);
    fa->set_i(axis);
    shape.set_op_type("Shape");
    shape.set_name(fresh(base + "_shape"));
    shape.add_input(n.input(0));
    shape.add_output(fresh(base + "_input_shape"));
    const std::string y = n.output(0);
    n.set_input(0, flat.output(0));
    n.set_output(0, fresh(base + "_2d_out"));
    if (axis_at < 0) n.add_attribute()->set_name("axis"), axis_at = n.attribute_size() - 1;
    n.mutable_attribute(axis_at)->set_type(onnx::AttributeProto::INT);
    n.mutable_attribute(axis_at)->set_i(1);
    back.set_op_type("Reshape");
    back.set_name(fresh(base + "_reshape"));
    back.add_input(n.output(0));
    back.add_input(shape.output(0));
    back.add_output(y);
    out->push_back(std::move(flat));
    out->push_back(std::move(shape));
    out->push_back(std::move(n));
    out->push_back(std::move(back));
  }

  void graph(onnx::GraphProto& g, int64_t opset, bool main_graph) {
    std::vector<onnx::NodeProto> out;
    for (int i = 0; i < g.node_size(); ++i) {
      onnx::NodeProto n = g.node(i);
      for (auto& a : *n.mutable_attribute()) {
        if (a.has_g()) graph(*a.mutable_g(), opset, false);
        for (auto& sub : *a.mutable_graphs()) graph(sub, opset, false);
      }
      if (!default_domain(n.domain())) {
        out.push_back(std::move(n));
        continue;
      }
      const std::string& op = n.op_type();
      if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
        attr_to_input(g, n, "axes", 1);
      } else if (op == "Split") {
        attr_to_input(g, n, "split", 1);
      } else if (op == "Dropout" && opset < 12) {
        auto* attrs = n.mutable_attribute();
        for (int k = attrs->size() - 1; k >= 0; --k)
          if (attrs->Get(k).name() == "ratio") attrs->DeleteSubrange(k, 1);
      } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
        softmax(std::move(n), &out, main_graph);
        continue;
      }
      out.push_back(std::move(n));
    }
    g.clear_node();
    for (auto& n : out) *g.add_node() = std::move(n);
  }
};

}  // namespace

Status upgrade_to_opset13(onnx::ModelProto& model, const std::string& base_dir) {
  onnx::OperatorSetIdProto* ai = nullptr;
  for (auto& o : *model.mutable_opset_import())
    if (default_domain(o.domain())) ai = &o;
  if (!ai || ai->version() >= 13) return ok_status();
  if (ai->version() < 11)
    return failed_precondition("INT8 Q/DQ upgrades opset 11 and 12 models to 13; this one is opset " +
                               std::to_string(ai->version()) + ": convert it first (python: "
                               "onnx.version_converter.convert_version(model, 13))");
  Upgrader u;
  collect_names(model.graph(), &u.names);
  // Ranks from Kiln's own import and type inference (the ops keep their opset-11/12 meaning there).
  auto g = import_onnx_bytes(model.SerializeAsString(), base_dir, "opset upgrade");
  if (g.ok() && infer_graph_types(**g).ok())
    for (const auto& [name, t] : (*g)->value_types)
      if (t.is_tensor() && t.shape.rank_known) u.ranks[name] = static_cast<int>(t.shape.rank());
  u.graph(*model.mutable_graph(), ai->version(), true);
  ai->set_version(13);
  return ok_status();
}

}  // namespace kiln::calib
