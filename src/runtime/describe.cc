// Engine::describe(): the text `kiln inspect` prints.
#include <sstream>

#include <map>
#include <set>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/engine_access.h"

namespace kiln {

namespace {

// What passes fused into the node: " activation=Relu +bias +residual", " steps=4", " layout=NHWC".
std::string fused_summary(const Node& n) {
  std::string fused;
  if (n.attrs.has("activation") && !n.attrs.get_string("activation").empty())
    fused += " activation=" + n.attrs.get_string("activation");
  if (n.attrs.has("layout")) fused += " layout=" + n.attrs.get_string("layout");
  if (n.op == OpKind::kFusedElementwise) fused += " steps=" + std::to_string(n.attrs.get_strings("program").size());
  if (n.op == OpKind::kFusedConv || n.op == OpKind::kFusedMatMul) {
    if (n.has_input(2)) fused += " +bias";
    if (n.has_input(3)) fused += " +residual";
  }
  return fused;
}

// "backend=cuda kernel=Conv tactic=3 (cudnn plan 3) layout=NHWC precision=float16 workspace=4096
//  tactic@32x64x56x56=1 (cudnn plan 1)"
std::string plan_summary(const NodePlan& p) {
  std::string s = "backend=" + p.backend;
  if (!p.kernel.empty()) s += " kernel=" + p.kernel;
  if (p.tactic != 0 || !p.tactic_name.empty()) {
    s += " tactic=" + std::to_string(p.tactic);
    if (!p.tactic_name.empty()) s += " (" + p.tactic_name + ")";
  }
  if (!p.layout.empty()) s += " layout=" + p.layout;
  if (p.precision != DType::kUndefined) s += " precision=" + std::string(dtype_name(p.precision));
  if (p.workspace) s += " workspace=" + std::to_string(p.workspace);
  for (const ShapeTactic& t : p.shape_tactics) {  // tuned at the other profiles' opt shapes
    s += " tactic@" + dims_to_string(t.dims) + "=" + std::to_string(t.tactic);
    if (!t.tactic_name.empty()) s += " (" + t.tactic_name + ")";
  }
  return s;
}

}  // namespace

std::string Engine::describe() const {
  std::ostringstream o;
  o << "Engine: format v" << info_.format_version << ", built by Kiln " << info_.kiln_version << "\n";
  o << "  backend: " << info_.backend << "   precision: " << info_.precision << "\n";
  o << "  device: " << info_.device << "\n";
  o << "  source: " << info_.source << "\n";
  o << "Inputs (" << inputs_.size() << "):\n";
  for (const auto& d : inputs_) o << "  " << d.to_string() << "\n";
  o << "Outputs (" << outputs_.size() << "):\n";
  for (const auto& d : outputs_) o << "  " << d.to_string() << "\n";
  o << "Profiles (" << profiles_.size() << "):\n";
  for (size_t i = 0; i < profiles_.size(); ++i) {
    for (const auto& [name, r] : profiles_[i].inputs)
      o << "  [" << i << "] " << name << ": min " << dims_to_string(r.min) << "  opt " << dims_to_string(r.opt) << "  max "
        << dims_to_string(r.max) << "\n";
  }
  size_t bytes = weight_bytes();
  o << "Weights: " << graph_->initializers.size() << " tensors, " << bytes << " bytes (" << (bytes + 1023) / 1024 << " KiB)\n";
  for (const auto& [k, v] : info_.compat) o << "  requires " << k << " = " << v << "\n";
  if (!info_.accuracy_guard.empty()) {
    o << "Accuracy guard: " << info_.accuracy_guard << "\n";
    for (const char* precision : {"fp32", "int8"}) {
      std::vector<std::string> layers;
      for (const auto& [layer, p] : info_.layer_precision)
        if (p == precision) layers.push_back(layer);
      o << "  " << precision << " layers (" << layers.size() << "):";
      for (const auto& l : layers) o << " " << l;
      o << "\n";
    }
  }
  o << "Nodes (" << graph_->nodes.size() << "):\n";
  const std::vector<NodePlan>& plans = EngineAccess::plans(*this);
  const Backend* engine_backend = find_backend(info_.backend);
  const bool device_engine = engine_backend && engine_backend->device() != "cpu";
  std::map<std::string, int> per_backend;
  std::set<std::string> on_host;  // values produced on the host (host backends, or a device backend's "host" kernel)
  std::vector<std::string> copies;
  for (size_t i = 0; i < graph_->nodes.size(); ++i) {
    const Node& n = graph_->nodes[i];
    NodePlan plan = i < plans.size() ? plans[i] : NodePlan{info_.backend};
    per_backend[plan.backend]++;
    const Backend* b = find_backend(plan.backend);
    const bool host_kernel = plan.kernel == "host";  // a device backend's shape arithmetic on host values
    const bool on_device = b && b->device() != "cpu" && !host_kernel;
    // Explicit copies in a device engine: a device node reading a host value uploads it; a host node (fallback)
    // downloads the device values it reads.
    if (device_engine && !host_kernel) {
      for (const auto& in : n.inputs) {
        if (in.empty() || graph_->initializers.count(in)) continue;
        bool host_value = on_host.count(in) != 0;
        if (on_device && host_value)
          copies.push_back("host value " + in + " -> device node " + n.name + " (read on the host, or uploaded)");
        if (!on_device && !host_value) copies.push_back("D2H " + in + " -> " + n.name + " (" + plan.backend + " fallback)");
      }
    }
    if (!on_device)
      for (const auto& out : n.outputs) on_host.insert(out);
    o << "  " << i << "  " << n.name << "  " << op_name(n.op) << fused_summary(n) << "  " << plan_summary(plan) << "  ->";
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      const TypeInfo* t = graph_->type_of(out);
      o << " " << out << ":" << (t ? t->to_string() : "?");
    }
    o << "\n";
    if (!plan.note.empty()) o << "       fell back: " << plan.note << "\n";
  }
  o << "Placement:";
  for (const auto& [p, c] : per_backend) o << " " << p << "=" << c;
  o << "\n";
  if (device_engine) {
    o << "Copies between host and device at run time (" << copies.size() << "):\n";
    for (const auto& c : copies) o << "  " << c << "\n";
  }
  return o.str();
}

}  // namespace kiln
