// The backend registry and the generic partitioner (each node to the first backend of the chain that supports it).
#include "runtime/backend.h"

#include <mutex>

namespace kiln {

namespace {

std::vector<std::unique_ptr<Backend>>& registry() {
  static std::vector<std::unique_ptr<Backend>> backends;
  return backends;
}

void register_all_once() {
  static std::once_flag once;
  std::call_once(once, [] { register_compiled_backends(); });
}

// "cpu: float64 inputs": the refusal prefixed with the backend's name unless it already starts with it.
std::string refusal(const Backend& b, const NodeSupport& s) {
  std::string why = s.reason.empty() ? std::string("not supported") : s.reason;
  std::string prefix = b.name() + ":";
  return why.rfind(prefix, 0) == 0 ? why : b.name() + ": " + why;
}

std::string join(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "(none)" : s;
}

}  // namespace

void register_backend(std::unique_ptr<Backend> backend) {
  if (backend) registry().push_back(std::move(backend));
}

void register_builtin_backends() { register_all_once(); }

const Backend* find_backend(const std::string& name) {
  register_all_once();
  for (const auto& b : registry())
    if (b->name() == name) return b.get();
  return nullptr;
}

std::vector<const Backend*> backends_for_device(const std::string& device) {
  register_all_once();
  std::vector<const Backend*> out;
  for (const auto& b : registry())
    if (b->device() == device) out.push_back(b.get());
  return out;
}

std::vector<std::string> backend_names() {
  register_all_once();
  std::vector<std::string> out;
  for (const auto& b : registry()) out.push_back(b->name());
  return out;
}

std::string backend_names_string() { return join(backend_names()); }

Result<std::vector<NodePlan>> partition_graph(const Graph& graph, const std::vector<const Backend*>& chain) {
  if (chain.empty()) return invalid_argument("no backend to place the graph on");
  std::vector<std::vector<NodeSupport>> answers;
  for (const Backend* b : chain) {
    answers.push_back(b->supports_all(graph));
    if (answers.back().size() != graph.nodes.size())
      return internal_error("backend '" + b->name() + "' answered supports_all for " +
                            std::to_string(answers.back().size()) + " of " + std::to_string(graph.nodes.size()) + " nodes");
  }
  std::vector<NodePlan> plans(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    size_t k = 0;
    while (k < chain.size() && !answers[k][i].supported) ++k;
    if (k == chain.size()) {
      std::string why;
      for (size_t j = 0; j < chain.size(); ++j) why += (j ? "; " : "") + refusal(*chain[j], answers[j][i]);
      return unimplemented(graph.nodes[i].describe() + ": no backend can run this node (" + why + ")");
    }
    plans[i].backend = chain[k]->name();
    if (k > 0) plans[i].note = refusal(*chain[0], answers[0][i]);
  }
  return plans;
}

}  // namespace kiln
