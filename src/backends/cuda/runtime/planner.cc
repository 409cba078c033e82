// Placement of nodes on the GPU, the host or the CPU fallback, and tactic timing with a timing cache.
#include "backends/cuda/runtime/planner.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>

#include "backends/cuda/kernel.h"
#include "backends/cuda/runtime/cuda_context.h"
#include "backends/cuda/runtime/device_target.h"
#include "backends/cuda/runtime/engine_state.h"
#include "backends/cuda/runtime/node_context.h"
#include "runtime/engine_access.h"
#include "runtime/trial_inputs.h"

namespace kiln::cuda {

namespace {

bool has_subgraph(const Node& n) {
  for (const auto& [an, av] : n.attrs.all())
    if (std::holds_alternative<GraphPtr>(av) || std::holds_alternative<std::vector<GraphPtr>>(av)) return true;
  return false;
}

bool is_int_like(DType t) { return t == DType::kInt64 || t == DType::kInt32 || t == DType::kBool; }

bool plain_tensor(const TypeInfo* t) {
  return t && t->kind == ValueKind::kTensor && t->dtype != DType::kUndefined && t->dtype != DType::kString;
}

// Known element count of a type, or -1.
int64_t static_numel(const TypeInfo* t) {
  if (!t || !t->shape.rank_known) return -1;
  int64_t n = 1;
  for (const auto& d : t->shape.dims) {
    if (!d.is_known()) return -1;
    n *= d.value;
  }
  return n;
}

}  // namespace

std::vector<Placement> place_nodes(const Graph& g, std::vector<std::string>* why) {
  std::set<std::string> host_values;
  std::vector<Placement> out;
  if (why) why->assign(g.nodes.size(), std::string());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    Placement p = Placement::kCpu;
    std::vector<const TypeInfo*> in_types;
    bool tensors = !has_subgraph(n);
    bool all_host_inputs = true, any_input = false;
    for (const auto& in : n.inputs) {
      const TypeInfo* t = in.empty() ? nullptr : g.type_of(in);
      in_types.push_back(t);
      if (in.empty()) continue;
      any_input = true;
      tensors &= plain_tensor(t);
      if (!host_values.count(in) && !g.initializers.count(in)) all_host_inputs = false;
    }
    bool small_int_outputs = !n.outputs.empty();
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      const TypeInfo* t = g.type_of(out);
      tensors &= plain_tensor(t);
      int64_t numel = static_numel(t);
      small_int_outputs &= t && is_int_like(t->dtype) && numel >= 0 && numel <= 64;
    }
    std::string reason;
    if (n.op == OpKind::kShape || n.op == OpKind::kSize) {
      p = Placement::kHost;
    } else if (any_input && all_host_inputs && small_int_outputs && !has_subgraph(n)) {
      p = Placement::kHost;
    } else if (!tensors) {
      reason = "subgraphs, sequences or values of unknown type";
    } else {
      const CudaKernel* k = cuda_kernels().find(n.op);
      if (k && (!k->supports || k->supports(n, in_types)))
        p = Placement::kCuda;
      else
        reason = k ? "the CUDA kernel does not support these inputs or attributes"
                   : "no CUDA kernel for " + std::string(op_name(n.op));
    }
    if (p == Placement::kHost)
      for (const auto& o : n.outputs) host_values.insert(o);
    if (why) (*why)[i] = std::move(reason);
    out.push_back(p);
  }
  return out;
}

namespace {

// Timing cache file: a header line, then "key<TAB>tactic" lines.
constexpr const char* kCacheHeader = "kiln-timing-cache 1";

std::map<std::string, int64_t> read_cache(const std::string& path) {
  std::map<std::string, int64_t> m;
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line) || line != kCacheHeader) return m;
  while (std::getline(f, line)) {
    auto tab = line.rfind('\t');
    if (tab == std::string::npos) continue;
    try {
      m[line.substr(0, tab)] = std::stoll(line.substr(tab + 1));
    } catch (...) {
    }
  }
  return m;
}

Status write_cache(const std::string& path, const std::map<std::string, int64_t>& m) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return not_found("--timing-cache: cannot write '" + path + "'");
    f << kCacheHeader << "\n";
    for (const auto& [k, v] : m) f << k << "\t" << v << "\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return internal_error("--timing-cache: cannot rename " + tmp);
  return ok_status();
}

// What decides a node's best tactic: op, input dtypes and shapes, attributes, device.
// Bumped whenever a kernel's tactic list changes order or meaning (cached indices of older lists are then ignored).
// 2: cuBLASLt split-K variants inserted after the first heuristics.
constexpr int kTacticListVersion = 2;

std::string tactic_key(const Node& n, NodeContext& ctx, const std::string& gpu) {
  std::ostringstream k;
  k << op_name(n.op) << "|";
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) {
      k << "-;";
      continue;
    }
    k << dtype_name(ctx.input_dtype(i)) << dims_to_string(ctx.input_dims(i)) << ";";
  }
  k << "|";
  for (const auto& [name, v] : n.attrs.all()) {
    if (name == kTacticDimsAttr || name == kRtcProfilesAttr) continue;
    k << name << "=";
    if (auto* i = std::get_if<int64_t>(&v))
      k << *i;
    else if (auto* f = std::get_if<float>(&v))
      k << *f;
    else if (auto* s = std::get_if<std::string>(&v))
      k << *s;
    else if (auto* is = std::get_if<std::vector<int64_t>>(&v))
      for (auto x : *is) k << x << ",";
    else if (auto* fs = std::get_if<std::vector<float>>(&v))
      for (auto x : *fs) k << x << ",";
    else if (auto* ss = std::get_if<std::vector<std::string>>(&v))
      for (auto& x : *ss) k << x << ",";
    k << ";";
  }
  k << "|" << gpu << "|tactics-v" << kTacticListVersion;
  std::string s = k.str();
  for (char& c : s)
    if (c == '\t' || c == '\n') c = ' ';
  return s;
}


}  // namespace

namespace {

// A whole run's median GPU time in ms and whether it replayed a CUDA graph.
struct WholeRun {
  double ms = 0;
  bool graph = false;
};
using MeasureRun = std::function<Result<WholeRun>(const std::vector<NodePlan>&)>;
Result<WholeRun> whole_run(CudaContext& ctx);
// whole_run in a fresh execution context of `tmp` with the plans `candidate`, on `inputs` (as the engine will run).
Result<WholeRun> whole_run_fresh(Engine& tmp, const std::shared_ptr<CudaEngineState>& state, const NamedValues& inputs,
                                 const std::vector<NodePlan>& candidate);
std::string describe_run(const Result<WholeRun>& r);
void choose_graph_breaking_tactics(const Graph& g, const TuningOptions& to, const MeasureRun& measure,
                                   std::vector<NodePlan>& plans, const std::map<size_t, std::string>& keys,
                                   std::map<std::string, int64_t>& cache);
void name_tactics(const Graph& g, std::vector<NodePlan>& plans);
void choose_profile_graph_breaking(const Graph& g, const TuningOptions& to, const NamedValues& inputs, Engine& tmp,
                                   const std::shared_ptr<CudaEngineState>& state, const std::map<size_t, Dims>& dims,
                                   size_t profile, std::vector<NodePlan>& plans,
                                   const std::map<size_t, std::string>& keys, std::map<std::string, int64_t>& cache);
void tune_other_profiles(const std::shared_ptr<Graph>& g, const std::vector<OptimizationProfile>& profiles,
                         Engine& tmp, const std::shared_ptr<CudaEngineState>& state, const TuningOptions& limits,
                         const std::string& gpu, std::vector<NodePlan>& plans, std::map<std::string, int64_t>& cache);

Status tune_tactics(const std::shared_ptr<Graph>& g, const BuildOptions& options,
                    const std::vector<OptimizationProfile>& profiles, EngineInfo* info, std::vector<NodePlan>& plans) {
  if (options.opt_level <= 0) return ok_status();  // first valid tactic everywhere

  // Inputs at the opt shape.
  auto trial = trial_inputs(*g, profiles, 1234);
  if (!trial.ok()) return ok_status();  // cannot synthesize: no tuning
  const NamedValues& inputs = *trial;
  Engine tmp(g, *info, profiles);
  EngineAccess::set_plans(tmp, plans);
  EngineAccess::set_device(tmp, options.gpu);  // time tactics on the GPU the engine is built for
  Status st;
  auto state = std::static_pointer_cast<CudaEngineState>(tmp.backend_state(&st));
  KILN_RETURN_IF_ERROR(st);
  CudaContext ctx(tmp, state);
  KILN_RETURN_IF_ERROR(ctx.init());
  KILN_RETURN_IF_ERROR(ctx.bind_inputs(inputs));

  std::map<std::string, int64_t> cache;
  if (!options.timing_cache.empty()) cache = read_cache(options.timing_cache);
  std::map<size_t, std::string> keys;
  const std::string& gpu = info->compat["gpu_name"];
  static const int kMaxTactics[] = {1, 2, 4, 12, 16, 32};
  static const int kMaxCheapTactics[] = {1, 4, 8, 48, 48, 64};
  const int level = std::min(std::max(options.opt_level, 0), 5);
  TuningOptions to;
  to.max_tactics = kMaxTactics[level];
  to.max_cheap_tactics = kMaxCheapTactics[level];
  to.lookup = [&](size_t i, NodeContext& nc) -> int64_t {
    std::string key = tactic_key(g->nodes[i], nc, gpu);
    keys[i] = key;
    if (nc.num_inputs() > 0 && nc.has_input(0)) {
      const Dims& d = nc.input_dims(0);
      g->nodes[i].attrs.set(kTacticDimsAttr, std::vector<int64_t>(d.begin(), d.end()));
    }
    auto c = cache.find(key);
    if (c != cache.end()) {
      plans[i].tactic = c->second;
      return c->second;
    }
    return -1;
  };
  const bool log_tuning = std::getenv("KILN_TUNE_LOG") != nullptr;
  to.on_tuned = [&](size_t i, int64_t tactic, const std::vector<double>& ms) {
    if (log_tuning) {  // diagnostics: every timed tactic of the node, in ms (-1: failed)
      std::cerr << "kiln tune: " << g->nodes[i].name << " (" << op_name(g->nodes[i].op) << "): best " << tactic
                << " of " << ms.size() << ":";
      for (double m : ms) std::cerr << " " << m;
      std::cerr << "\n";
    }
    plans[i].tactic = tactic;
    if (keys.count(i)) cache[keys[i]] = tactic;
  };
  Status tuned = ctx.tune(to);
  if (!tuned.ok()) {
    // Synthetic inputs can be invalid for the model (shape tensors, indices): nodes not reached keep tactic 0, which
    // is always valid. The engine is still correct; only its speed may suffer.
    std::cerr << "kiln build: warning: tactic timing stopped early (" << tuned.message()
              << "); untimed nodes use their first tactic\n";
  }
  if (tuned.ok()) {
    MeasureRun measure = [&](const std::vector<NodePlan>& candidate) {
      return whole_run_fresh(tmp, state, inputs, candidate);
    };
    choose_graph_breaking_tactics(*g, to, measure, plans, keys, cache);
    // Named now: a kernel's tactic names may be those of the shape it last ran (cuDNN plan lists).
    name_tactics(*g, plans);
    tune_other_profiles(g, profiles, tmp, state, to, gpu, plans, cache);
  }
  if (!options.timing_cache.empty()) KILN_RETURN_IF_ERROR(write_cache(options.timing_cache, cache));
  return ok_status();
}

// Median GPU time of a whole run in ms (CUDA graphs wherever the run is capturable; the first runs record, capture
// and check the graph, and are not counted).
Result<WholeRun> whole_run(CudaContext& ctx) {
  ctx.set_cuda_graph(true);
  std::vector<double> ms;
  for (int r = 0; r < 9; ++r) {
    KILN_RETURN_IF_ERROR(ctx.execute());
    if (r >= 4) ms.push_back(ctx.last_timings().compute_ms);
  }
  std::sort(ms.begin(), ms.end());
  return WholeRun{ms[ms.size() / 2], ctx.last_timings().graph_replayed};
}

Result<WholeRun> whole_run_fresh(Engine& tmp, const std::shared_ptr<CudaEngineState>& state, const NamedValues& inputs,
                                 const std::vector<NodePlan>& candidate) {
  EngineAccess::set_plans(tmp, candidate);
  CudaContext fresh(tmp, state);
  KILN_RETURN_IF_ERROR(fresh.init());
  KILN_RETURN_IF_ERROR(fresh.bind_inputs(inputs));
  return whole_run(fresh);
}

std::string describe_run(const Result<WholeRun>& r) {
  return !r.ok() ? "failed (" + r.status().message() + ")"
                 : std::to_string(r->ms) + " ms" + (r->graph ? " (graph)" : " (plain)");
}

// Some fastest tactics cannot run inside a CUDA graph (cuDNN's runtime-compiled convolution engines), and one such
// node makes its whole run go without graphs: at small batches the launch overhead of a plain run then costs more
// than those engines gain. Times the whole run both ways, each in a fresh execution context as the engine will run
// (those tactics without graphs; their fastest capturable alternatives with graphs) and keeps the faster. Nodes with
// no capturable alternative keep their fastest tactic.
void choose_graph_breaking_tactics(const Graph& g, const TuningOptions& to, const MeasureRun& measure,
                                   std::vector<NodePlan>& plans, const std::map<size_t, std::string>& keys,
                                   std::map<std::string, int64_t>& cache) {
  if (to.graph_breaking.empty()) return;
  const std::string what = std::to_string(to.graph_breaking.size()) +
                           " node(s) tuned to tactics that run without CUDA graphs (first: " +
                           g.nodes[to.graph_breaking[0].node].describe() + ")";
  for (const auto& c : to.graph_breaking)
    if (c.capturable < 0) {
      std::cerr << "kiln build: " << what << "; " << g.nodes[c.node].describe()
                << " has no capturable tactic, so the whole run goes without graphs\n";
      return;
    }
  std::vector<NodePlan> alternative = plans;
  for (const auto& c : to.graph_breaking) alternative[c.node].tactic = c.capturable;
  Result<WholeRun> breaking = measure(plans);
  Result<WholeRun> capturable = measure(alternative);
  const bool keep = breaking.ok() && (!capturable.ok() || breaking->ms < capturable->ms);
  std::cerr << "kiln build: " << what << ": whole run " << describe_run(breaking) << " with them, "
            << describe_run(capturable) << " with the fastest capturable ones instead; keeping the "
            << (keep ? "graph-breaking" : "capturable") << " tactics\n";
  if (keep) return;
  for (const auto& c : to.graph_breaking) {
    plans[c.node].tactic = c.capturable;
    auto k = keys.find(c.node);
    if (k != keys.end()) cache[k->second] = c.capturable;
  }
}

// Every other optimization profile gets its own tuning pass at its opt shapes (as TensorRT tunes each profile),
// unless an earlier profile had the same opt shapes: a server whose batcher forms batches of 32, 64 and 128 rows
// builds one profile per size, and each size then runs tactics timed at that size (at a shape no profile tuned, a cuDNN
// convolution runs cuDNN's first plan, which measured half the speed of the tuned one for ResNet-50 at batch 64).
// The tactics go to NodePlan::shape_tactics keyed by the node's input 0 dims there. Runtime-compiled convolution
// engines stay at the first profile's shape (at_tuned_shape in conv.cc), so these passes time only capturable tactics
// and their timing-cache keys are marked (the same shape's tactic list differs from the first profile's), unless the
// build runs with KILN_CUDA_CONV_RTC_PROFILES=1: then they are offered here too (ResNet-50 FP16 on an H100, with them
// offered at every shape: batch 32 and 64 at 29.3k and 32.3k img/s against 13.8k and 14.9k without; batch 128 33.7k
// either way) and, as for the first profile, when some of them win, the profile's whole run is timed both ways
// (those tactics without graphs, their capturable alternatives with graphs) and the faster is kept.
void tune_other_profiles(const std::shared_ptr<Graph>& g, const std::vector<OptimizationProfile>& profiles,
                         Engine& tmp, const std::shared_ptr<CudaEngineState>& state, const TuningOptions& limits,
                         const std::string& gpu, std::vector<NodePlan>& plans, std::map<std::string, int64_t>& cache) {
  const bool rtc = rtc_at_every_profile_requested() && profiles.size() > 1;
  if (rtc)  // the engine carries the choice (engine_state.h)
    for (Node& n : g->nodes)
      if (n.attrs.has(kTacticDimsAttr)) n.attrs.set(kRtcProfilesAttr, int64_t{1});
  std::vector<std::map<std::string, Dims>> tuned_shapes;
  auto opt_shapes = [](const NamedValues& in) {
    std::map<std::string, Dims> m;
    for (const auto& [name, v] : in)
      if (v.kind == ValueKind::kTensor) m[name] = v.tensor.dims();
    return m;
  };
  for (size_t k = 0; k < profiles.size(); ++k) {
    auto trial = trial_inputs(*g, profiles, 1234, k);
    if (!trial.ok()) continue;
    const std::map<std::string, Dims> shapes = opt_shapes(*trial);
    const bool seen = std::find(tuned_shapes.begin(), tuned_shapes.end(), shapes) != tuned_shapes.end();
    tuned_shapes.push_back(shapes);
    if (k == 0 || seen) continue;  // the first profile's pass already ran (tune_tactics)
    EngineAccess::set_plans(tmp, plans);
    CudaContext ctx(tmp, state);
    Status st = ctx.init();
    if (st.ok()) st = ctx.bind_inputs(*trial);
    std::map<size_t, std::string> keys;
    std::map<size_t, Dims> dims;  // nodes the pass reached: their input 0 dims
    TuningOptions to;
    to.max_tactics = limits.max_tactics;
    to.max_cheap_tactics = limits.max_cheap_tactics;
    to.lookup = [&](size_t i, NodeContext& nc) -> int64_t {
      keys[i] = tactic_key(g->nodes[i], nc, gpu) + (rtc ? "" : "|other-profile");
      if (nc.num_inputs() > 0 && nc.has_input(0)) dims[i] = nc.input_dims(0);
      auto c = cache.find(keys[i]);
      return c == cache.end() ? -1 : c->second;
    };
    to.on_tuned = [&](size_t i, int64_t tactic, const std::vector<double>&) { cache[keys[i]] = tactic; };
    if (st.ok()) st = ctx.tune(to);
    if (!st.ok()) {
      std::cerr << "kiln build: warning: tuning profile " << k << " stopped early (" << st.message()
                << "); its untimed nodes run the first profile's choice\n";
      // The node that failed ran no tactic: keep only the nodes before it.
      if (!dims.empty()) dims.erase(std::prev(dims.end()));
    }
    for (const auto& [i, node_dims] : dims) {
      const CudaKernel* kernel = cuda_kernels().find(g->nodes[i].op);
      if (!kernel || !kernel->num_tactics || placement_of(plans[i]) != Placement::kCuda) continue;  // one tactic
      const std::vector<int64_t> first = g->nodes[i].attrs.get_ints(kTacticDimsAttr, {});
      if (Dims(first.begin(), first.end()) == node_dims) continue;  // the first profile's shape for this node
      auto& list = plans[i].shape_tactics;
      if (std::any_of(list.begin(), list.end(), [&](const ShapeTactic& t) { return t.dims == node_dims; })) continue;
      const int64_t tactic = ctx.tuned_tactic(i);
      list.push_back({node_dims, tactic,
                      kernel && kernel->tactic_name ? kernel->tactic_name(g->nodes[i], tactic)
                                                    : "tactic " + std::to_string(tactic)});
    }
    if (st.ok()) choose_profile_graph_breaking(*g, to, *trial, tmp, state, dims, k, plans, keys, cache);
  }
}

// choose_graph_breaking_tactics for another profile's shape_tactics: the profile's whole run with its graph-breaking
// tactics (plain) against their capturable alternatives (graphs), each in a fresh context on the profile's inputs.
void choose_profile_graph_breaking(const Graph& g, const TuningOptions& to, const NamedValues& inputs, Engine& tmp,
                                   const std::shared_ptr<CudaEngineState>& state, const std::map<size_t, Dims>& dims,
                                   size_t profile, std::vector<NodePlan>& plans,
                                   const std::map<size_t, std::string>& keys, std::map<std::string, int64_t>& cache) {
  if (to.graph_breaking.empty()) return;
  auto entry = [&](std::vector<NodePlan>& p, size_t node) -> ShapeTactic* {
    auto d = dims.find(node);
    if (d == dims.end()) return nullptr;
    for (ShapeTactic& t : p[node].shape_tactics)
      if (t.dims == d->second) return &t;
    return nullptr;
  };
  std::vector<NodePlan> alternative = plans;
  for (const auto& c : to.graph_breaking) {
    ShapeTactic* t = entry(alternative, c.node);
    if (!t) continue;
    if (c.capturable < 0) return;  // no capturable alternative: this profile's runs go without graphs
    t->tactic = c.capturable;
  }
  Result<WholeRun> breaking = whole_run_fresh(tmp, state, inputs, plans);
  Result<WholeRun> capturable = whole_run_fresh(tmp, state, inputs, alternative);
  const bool keep = breaking.ok() && (!capturable.ok() || breaking->ms < capturable->ms);
  std::cerr << "kiln build: profile " << profile << ": " << to.graph_breaking.size()
            << " node(s) tuned to tactics that run without CUDA graphs: whole run " << describe_run(breaking)
            << " with them, " << describe_run(capturable) << " with the fastest capturable ones instead; keeping the "
            << (keep ? "graph-breaking" : "capturable") << " tactics\n";
  if (keep) return;
  for (const auto& c : to.graph_breaking) {
    if (ShapeTactic* t = entry(plans, c.node)) {
      t->tactic = c.capturable;
      t->tactic_name = "";  // named below
    }
    auto key = keys.find(c.node);
    if (key != keys.end()) cache[key->second] = c.capturable;
  }
  for (const auto& c : to.graph_breaking) {
    ShapeTactic* t = entry(plans, c.node);
    const CudaKernel* kernel = cuda_kernels().find(g.nodes[c.node].op);
    if (t && t->tactic_name.empty())
      t->tactic_name = kernel && kernel->tactic_name ? kernel->tactic_name(g.nodes[c.node], t->tactic)
                                              : "tactic " + std::to_string(t->tactic);
  }
}

void name_tactics(const Graph& g, std::vector<NodePlan>& plans) {
  for (size_t i = 0; i < plans.size() && i < g.nodes.size(); ++i) {
    if (placement_of(plans[i]) != Placement::kCuda || !plans[i].tactic_name.empty()) continue;
    const CudaKernel* k = cuda_kernels().find(g.nodes[i].op);
    plans[i].tactic_name = k && k->tactic_name ? k->tactic_name(g.nodes[i], plans[i].tactic)
                                               : "tactic " + std::to_string(plans[i].tactic);
  }
}

}  // namespace

bool rtc_at_every_profile_requested() {
  const char* v = std::getenv("KILN_CUDA_CONV_RTC_PROFILES");
  return v && std::string(v) == "1";
}

Status place_and_tune(const std::shared_ptr<Graph>& g, const BuildOptions& options,
                      const std::vector<OptimizationProfile>& profiles, EngineInfo* info, std::vector<NodePlan>& plans) {
  KILN_ASSIGN_OR_RETURN(info->compat, device_target(options.gpu));
  info->device = describe_target(info->compat);
  const std::vector<Placement> placement = place_nodes(*g, nullptr);
  for (size_t i = 0; i < plans.size() && i < placement.size(); ++i) {
    if (plans[i].backend != "cuda") continue;
    plans[i].kernel = placement[i] == Placement::kHost ? kHostKernel : op_name(g->nodes[i].op);
    plans[i].tactic = 0;
  }
  Status tuned = tune_tactics(g, options, profiles, info, plans);
  name_tactics(*g, plans);
  return tuned;
}

}  // namespace kiln::cuda
