// The CPU kernel registry and CpuKernelContext's error helpers.
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

Status CpuKernelContext::error(const std::string& msg) const { return invalid_argument(node().describe() + ": " + msg); }
Status CpuKernelContext::unsupported(const std::string& msg) const {
  return unimplemented(node().describe() + ": " + msg);
}

const std::vector<CpuKernel>& CpuKernelRegistry::find(OpKind op) const {
  static const std::vector<CpuKernel> kNone;
  size_t i = static_cast<size_t>(op);
  return i < kernels_.size() ? kernels_[i] : kNone;
}

const CpuKernel* CpuKernelRegistry::select(const Graph& graph, const Node& node, std::string* why) const {
  const auto& ks = find(node.op);
  if (ks.empty()) {
    if (why) *why = "no cpu kernel for " + std::string(op_name(node.op));
    return nullptr;
  }
  std::string first;
  for (const auto& k : ks) {
    if (!k.supports) return &k;
    NodeSupport s = k.supports(graph, node);
    if (s.supported) return &k;
    if (first.empty()) first = s.reason.empty() ? std::string(k.id) + " refused the node" : s.reason;
  }
  if (why) *why = first;
  return nullptr;
}

const CpuKernel* CpuKernelRegistry::find_by_id(OpKind op, const std::string& id) const {
  for (const auto& k : find(op))
    if (id == k.id) return &k;
  return nullptr;
}

}  // namespace kiln::cpu
