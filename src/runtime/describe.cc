// Engine::describe(): the text `kiln inspect` prints.
#include <sstream>

#include "ir/graph.h"
#include "kiln/engine.h"

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
  o << "Nodes (" << graph_->nodes.size() << "):\n";
  int i = 0;
  for (const Node& n : graph_->nodes) {
    o << "  " << i++ << "  " << n.name << "  " << op_name(n.op) << "  kernel=reference." << op_name(n.op) << "  ->";
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      const TypeInfo* t = graph_->type_of(out);
      o << " " << out << ":" << (t ? t->to_string() : "?");
    }
    o << "\n";
  }
  return o.str();
}

}  // namespace kiln
