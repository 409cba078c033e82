// Engine::describe(): the text `kiln inspect` prints.
#include <sstream>

#include <map>
#include <set>

#include "ir/graph.h"
#include "kiln/engine.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/kernel.h"
#endif

namespace kiln {

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
  o << "Nodes (" << graph_->nodes.size() << "):\n";
  int i = 0;
  std::map<std::string, int> placements;
  std::set<std::string> on_host;  // values produced on the host (CPU fallback or shape arithmetic)
  std::vector<std::string> copies;
  for (const Node& n : graph_->nodes) {
    std::string placement = n.attrs.get_string("kiln_placement", info_.backend == "cuda" ? "cpu" : "cpu");
    std::string kernel = "reference." + std::string(op_name(n.op));
    if (info_.backend == "cuda") {
      placements[placement]++;
      int64_t tactic = n.attrs.get_int("kiln_tactic", 0);
      kernel = placement + "." + op_name(n.op);
#ifdef KILN_HAVE_CUDA
      if (placement == "cuda") {
        const cuda::CudaKernel* k = cuda::cuda_kernels().find(n.op);
        kernel += " tactic " + std::to_string(tactic);
        if (k && k->tactic_name) kernel += " (" + k->tactic_name(n, tactic) + ")";
      }
#endif
      // Explicit copies: a GPU node reading a host value uploads it; a CPU fallback node downloads device values.
      for (const auto& in : n.inputs) {
        if (in.empty() || graph_->initializers.count(in)) continue;
        bool host_value = on_host.count(in) != 0;
        if (placement == "cuda" && host_value) copies.push_back("host value " + in + " -> GPU node " + n.name + " (read on the host, or uploaded)");
        if (placement == "cpu" && !host_value) copies.push_back("D2H " + in + " -> " + n.name + " (CPU fallback)");
      }
      if (placement != "cuda")
        for (const auto& out : n.outputs) on_host.insert(out);
    }
    std::string fused;
    if (n.attrs.has("activation") && !n.attrs.get_string("activation").empty())
      fused += " activation=" + n.attrs.get_string("activation");
    if (n.attrs.has("layout")) fused += " layout=" + n.attrs.get_string("layout");
    if (n.op == OpKind::kFusedElementwise) fused += " steps=" + std::to_string(n.attrs.get_strings("program").size());
    if (n.op == OpKind::kFusedConv || n.op == OpKind::kFusedMatMul) {
      if (n.has_input(2)) fused += " +bias";
      if (n.has_input(3)) fused += " +residual";
    }
    o << "  " << i++ << "  " << n.name << "  " << op_name(n.op) << fused << "  kernel=" << kernel << "  ->";
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      const TypeInfo* t = graph_->type_of(out);
      o << " " << out << ":" << (t ? t->to_string() : "?");
    }
    o << "\n";
  }
  if (info_.backend == "cuda") {
    o << "Placement:";
    for (const auto& [p, c] : placements) o << " " << p << "=" << c;
    o << "  (cuda: GPU kernel; host: shape arithmetic on small host values; cpu: reference fallback)\n";
    o << "Copies between host and GPU at run time (" << copies.size() << "):\n";
    for (const auto& c : copies) o << "  " << c << "\n";
  }
  return o.str();
}

}  // namespace kiln
