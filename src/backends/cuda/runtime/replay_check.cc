// Comparing a captured CUDA graph's outputs with a plain run's (see replay_check.h).
#include "backends/cuda/runtime/replay_check.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

namespace kiln::cuda {

bool replay_check_enabled() {
  const char* v = std::getenv("KILN_CUDA_GRAPH_VERIFY");
  return !(v && std::string(v) == "0");
}

void dump_captured_graph(cudaGraph_t g, const std::string& signature) {
  static const char* dir = std::getenv("KILN_CUDA_GRAPH_DOT");
  if (!dir || !*dir) return;
  static int count = 0;
  std::string tag;
  for (char c : signature) tag += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  const std::string path = std::string(dir) + "/graph_" + std::to_string(count++) + "_" + tag + ".dot";
  cudaError_t e = cudaGraphDebugDotPrint(g, path.c_str(), cudaGraphDebugDotFlagsVerbose);
  size_t n = 0;
  cudaGraphGetNodes(g, nullptr, &n);
  std::vector<cudaGraphNode_t> nodes(n);
  if (n) cudaGraphGetNodes(g, nodes.data(), &n);
  std::map<int, int> by_type;
  for (auto node : nodes) {
    cudaGraphNodeType t;
    if (cudaGraphNodeGetType(node, &t) == cudaSuccess) ++by_type[static_cast<int>(t)];
  }
  std::cerr << "kiln: captured graph for shapes " << signature << ": " << n << " nodes";
  for (const auto& [t, k] : by_type) std::cerr << ", type " << t << " x" << k;
  std::cerr << " (cudaGraphNodeType: 0 kernel, 1 memcpy, 2 memset, 3 host)";
  if (e != cudaSuccess) std::cerr << "; DOT not written: " << cudaGetErrorString(e);
  std::cerr << "\n";
}

namespace {

std::string compare_one(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.dims() != b.dims())
    return "dtype or shape differs (" + std::string(dtype_name(a.dtype())) + "[" + dims_to_string(a.dims()) +
           "] vs " + dtype_name(b.dtype()) + "[" + dims_to_string(b.dims()) + "])";
  if (!is_float(a.dtype())) {
    if (a.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0) return "bytes differ";
    return "";
  }
  double diff2 = 0, ref2 = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.as_double(i), y = b.as_double(i);
    if (std::isnan(x) != std::isnan(y)) return "NaN at element " + std::to_string(i) + " in one run only";
    if (std::isnan(x) || (std::isinf(x) && x == y)) continue;
    diff2 += (x - y) * (x - y);
    ref2 += y * y;
  }
  if (std::sqrt(diff2) <= 1e-3 * std::sqrt(ref2)) return "";
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  return "relative L2 difference " + std::to_string(rel);
}

}  // namespace

std::string first_difference(const std::vector<Tensor>& replayed, const std::vector<Tensor>& plain,
                             const std::vector<std::string>& names) {
  if (replayed.size() != plain.size()) return "output count differs";
  for (size_t k = 0; k < plain.size(); ++k) {
    if (!replayed[k].defined() || !plain[k].defined()) continue;
    std::string d = compare_one(replayed[k], plain[k]);
    if (!d.empty()) return "output " + std::to_string(k) + " '" + (k < names.size() ? names[k] : "") + "': " + d;
  }
  return "";
}

}  // namespace kiln::cuda
