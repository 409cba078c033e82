// Optimization profile validation.
#include "runtime/profiles.h"

#include <algorithm>

namespace kiln {

namespace {

const ValueInfo* find_input(const Graph& g, const std::string& name) {
  for (const auto& vi : g.inputs)
    if (vi.name == name) return &vi;
  return nullptr;
}

std::string input_names(const Graph& g) {
  std::string s;
  for (const auto& vi : g.inputs) s += (s.empty() ? "" : ", ") + vi.name;
  return s.empty() ? "(none)" : s;
}

Status check_against_model(const Graph& g, const std::string& name, const Dims& dims, const char* flag) {
  const ValueInfo* vi = find_input(g, name);
  if (!vi) return invalid_argument(std::string(flag) + ": model has no input '" + name + "' (inputs: " + input_names(g) + ")");
  const Shape& s = vi->type.shape;
  if (!vi->type.is_tensor()) return invalid_argument(std::string(flag) + ": input '" + name + "' is not a tensor");
  if (s.rank_known && s.rank() != dims.size())
    return invalid_argument(std::string(flag) + ": input '" + name + "' has rank " + std::to_string(s.rank()) + ", got " +
                            dims_to_string(dims) + " (rank " + std::to_string(dims.size()) + ")");
  for (size_t i = 0; s.rank_known && i < dims.size(); ++i) {
    if (dims[i] < 0) return invalid_argument(std::string(flag) + ": input '" + name + "' has a negative dim");
    if (s.dims[i].is_known() && s.dims[i].value != dims[i])
      return invalid_argument(std::string(flag) + ": input '" + name + "' dim " + std::to_string(i) + " is fixed to " +
                              std::to_string(s.dims[i].value) + " by the model, got " + std::to_string(dims[i]));
  }
  return ok_status();
}

}  // namespace

// BuildOptions::tune_batch_sizes as profiles: empty when an input has a known first dim, another unknown dim, or is
// not a tensor (nothing to vary, or no complete shape to tune at).
std::vector<OptimizationProfile> batch_profiles(const Graph& graph, const std::vector<int64_t>& sizes) {
  std::vector<OptimizationProfile> out;
  int64_t largest = 0;
  for (int64_t b : sizes) largest = std::max(largest, b);
  if (graph.inputs.empty() || largest <= 0) return out;
  for (const auto& vi : graph.inputs) {
    const Shape& s = vi.type.shape;
    if (!vi.type.is_tensor() || !s.rank_known || s.rank() == 0 || s.dims[0].is_known()) return {};
    for (size_t i = 1; i < s.rank(); ++i)
      if (!s.dims[i].is_known()) return {};
  }
  std::vector<int64_t> done;
  for (int64_t b : sizes) {
    if (b <= 0 || std::find(done.begin(), done.end(), b) != done.end()) continue;
    done.push_back(b);
    OptimizationProfile p;
    for (const auto& vi : graph.inputs) {
      Dims d;
      for (const auto& dim : vi.type.shape.dims) d.push_back(dim.value);
      ShapeRange r{d, d, d};
      r.min[0] = 1;
      r.opt[0] = b;
      r.max[0] = largest;
      p.inputs[vi.name] = r;
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<OptimizationProfile>> make_profiles(const Graph& graph, const BuildOptions& options) {
  std::vector<OptimizationProfile> out;
  if (options.shapes.empty() && options.profiles.empty() && !options.tune_batch_sizes.empty())
    return batch_profiles(graph, options.tune_batch_sizes);
  if (!options.shapes.empty()) {
    OptimizationProfile p;
    for (const auto& [name, dims] : options.shapes) {
      KILN_RETURN_IF_ERROR(check_against_model(graph, name, dims, "--shapes"));
      p.inputs[name] = ShapeRange{dims, dims, dims};
    }
    out.push_back(std::move(p));
  }
  for (const auto& prof : options.profiles) {
    for (const auto& [name, r] : prof.inputs) {
      KILN_RETURN_IF_ERROR(check_against_model(graph, name, r.min, "--min-shapes"));
      KILN_RETURN_IF_ERROR(check_against_model(graph, name, r.opt, "--opt-shapes"));
      KILN_RETURN_IF_ERROR(check_against_model(graph, name, r.max, "--max-shapes"));
      if (r.min.size() != r.opt.size() || r.opt.size() != r.max.size())
        return invalid_argument("profile for input '" + name + "': min/opt/max ranks differ");
      for (size_t i = 0; i < r.min.size(); ++i)
        if (!(r.min[i] <= r.opt[i] && r.opt[i] <= r.max[i]))
          return invalid_argument("profile for input '" + name + "': need min <= opt <= max, got " + dims_to_string(r.min) +
                                  " / " + dims_to_string(r.opt) + " / " + dims_to_string(r.max));
    }
    out.push_back(prof);
  }
  return out;
}

Status check_profiles(const std::vector<OptimizationProfile>& profiles, const std::string& name, const Dims& dims) {
  bool named = false;
  std::string ranges;
  for (const auto& p : profiles) {
    auto it = p.inputs.find(name);
    if (it == p.inputs.end()) continue;
    named = true;
    const ShapeRange& r = it->second;
    bool inside = r.min.size() == dims.size();
    for (size_t i = 0; inside && i < dims.size(); ++i) inside = r.min[i] <= dims[i] && dims[i] <= r.max[i];
    if (inside) return ok_status();
    ranges += (ranges.empty() ? "" : ", ") + dims_to_string(r.min) + ".." + dims_to_string(r.max);
  }
  if (!named) return ok_status();
  return out_of_range("input '" + name + "' shape " + dims_to_string(dims) + " is outside every optimization profile (" +
                      ranges + "); rebuild with wider --min-shapes/--max-shapes");
}

}  // namespace kiln
