// cuDNN frontend graphs for forward convolution with fused epilogue: build once, list the plans, run one by index.
#include "backends/cuda/conv/cudnn_graph_conv.h"

#include <cudnn_frontend.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include "backends/cuda/conv/cudnn_conv.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cudnn_fe/fe_util.h"

namespace kiln::cuda {
namespace {

namespace fe = cudnn_frontend;

// Tensor uids of the graph; the frontend orders user pointers by uid.
constexpr int64_t kUidX = 1, kUidW = 2, kUidBias = 3, kUidZ = 4, kUidY = 5;

// Strides of logical dims [d0, d1, s...]: row-major, or with d1 innermost (N, spatial..., C) when channels_last.
std::vector<int64_t> strides_for(const std::vector<int64_t>& dims, bool channels_last) {
  const size_t r = dims.size();
  std::vector<int64_t> st(r, 1);
  int64_t s = 1;
  if (!channels_last) {
    for (size_t i = r; i-- > 0;) {
      st[i] = s;
      s *= dims[i];
    }
    return st;
  }
  st[1] = s;
  s *= dims[1];
  for (size_t i = r; i-- > 2;) {
    st[i] = s;
    s *= dims[i];
  }
  st[0] = s;
  return st;
}

// KILN_CUDA_CONV_GRAPH_PLANS=n keeps at most n plans per problem (build-time experiments); default kMaxGraphConvPlans.
// KILN_CUDA_CONV_BAR: a comma list of what graph convolutions must not use, for diagnosing a misbehaving cuDNN engine:
// engine-name substrings ("eng41_") and behaviour notes ("cublaslt", "runtime_compilation").
//
// Engines that compile their kernels at run time (behaviour note RUNTIME_COMPILATION) are offered only when the
// problem allows them (GraphConvProblem::runtime_compiled): replayed from a CUDA graph they return wrong answers
// (2026-12-05, ResNet-50 served at padded batches of 8/16/24: cosine 0.976-0.989 to onnxruntime on an H200 and an
// H100, also with a private plan copy and a private workspace per node; plain runs were right), so the runs that use
// one go without graphs, and the build keeps them only where that whole run is faster (planner.cc).
void bar_from_env(fe::graph::Graph& g, bool runtime_compiled) {
  if (!runtime_compiled) g.deselect_behavior_notes({fe::BehaviorNote_t::RUNTIME_COMPILATION});
  const char* v = std::getenv("KILN_CUDA_CONV_BAR");
  if (!v || !*v) return;
  std::vector<std::string> engines;
  std::vector<fe::BehaviorNote_t> notes;
  std::string list = v;
  for (size_t start = 0; start <= list.size();) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(start, end - start);
    if (item == "cublaslt") notes.push_back(fe::BehaviorNote_t::CUBLASLT_DEPENDENCY);
    else if (item == "runtime_compilation") notes.push_back(fe::BehaviorNote_t::RUNTIME_COMPILATION);
    else if (!item.empty()) engines.push_back(item);
    start = end + 1;
  }
  if (!engines.empty()) g.deselect_engines(engines);
  if (!notes.empty()) g.deselect_behavior_notes(notes);
}

// " [cublaslt,runtime_compilation]" for a plan's behaviour notes that matter to CUDA graphs; "" when none.
std::string notes_suffix(const fe::graph::Graph& g, int64_t index) {
  std::vector<fe::BehaviorNote_t> notes;
  if (g.get_behavior_notes_for_plan_at_index(index, notes).is_bad()) return "";
  std::string s;
  for (auto n : notes) {
    const char* name = n == fe::BehaviorNote_t::CUBLASLT_DEPENDENCY   ? "cublaslt"
                       : n == fe::BehaviorNote_t::RUNTIME_COMPILATION ? "runtime_compilation"
                                                                       : nullptr;
    if (name) s += (s.empty() ? "" : ",") + std::string(name);
  }
  return s.empty() ? s : " [" + s + "]";
}

bool has_behavior_note(const fe::graph::Graph& g, int64_t index, fe::BehaviorNote_t note) {
  std::vector<fe::BehaviorNote_t> notes;
  if (g.get_behavior_notes_for_plan_at_index(index, notes).is_bad()) return false;
  return std::find(notes.begin(), notes.end(), note) != notes.end();
}

int graph_plan_cap() {
  const char* v = std::getenv("KILN_CUDA_CONV_GRAPH_PLANS");
  const int n = v && *v ? std::atoi(v) : kMaxGraphConvPlans;
  return n > 0 ? std::min(n, kMaxGraphConvPlans) : kMaxGraphConvPlans;
}

// KILN_CUDA_CONV_LOG=1 prints each graph build (problem, plan count, time) to stderr.
bool log_builds() {
  const char* v = std::getenv("KILN_CUDA_CONV_LOG");
  return v && std::string(v) == "1";
}

void append_dims(std::string* s, const std::vector<int64_t>& v) {
  *s += "|";
  for (int64_t d : v) *s += std::to_string(d) + ",";
}

Status build_graph(const CudaKernelContext& ctx, const GraphConvProblem& p, cudnnHandle_t build_handle,
                   fe::graph::Graph& g);

// Plans are built on a handle of this file's own (one per device, never destroyed), under build_mutex(): an operation
// graph keeps the handle it was built on, and a context's handle dies with the context.
std::mutex& build_mutex() {
  static std::mutex mu;
  return mu;
}
Result<cudnnHandle_t> build_handle_locked(int device) {
  static auto& handles = *new std::map<int, cudnnHandle_t>();
  cudnnHandle_t& h = handles[device];
  if (!h) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreate(&h));
  return h;
}

}  // namespace

std::string GraphConvProblem::key() const {
  std::string s = std::to_string(int(type)) + (channels_last ? "L" : "F") + (tf32 ? "T" : "S") + (bias ? "b" : "-") +
                  (z ? "z" : "-") + (relu ? "r" : "-") + (runtime_compiled ? "R" : "-");
  for (const auto* v : {&x_dims, &w_dims, &y_dims, &pre_pads, &post_pads, &strides, &dilations}) append_dims(&s, *v);
  return s;
}

std::string GraphConvProblem::fused_ops() const {
  std::string s;
  auto add = [&](const char* op) { s += (s.empty() ? "" : "+") + std::string(op); };
  if (bias) add("bias");
  if (z) add("add");
  if (relu) add("relu");
  return s;
}

struct GraphConvPlans::Impl {
  fe::graph::Graph graph;
  std::vector<int64_t> plan_index;  // frontend plan index of each of our plans
  std::vector<size_t> workspace;
  std::vector<std::string> names;
  std::vector<bool> rtc;            // runtime-compiled engine, per plan
  std::vector<int64_t> user_uids;  // the frontend's user-pointer order
  bool complete = false;           // the heuristics list (or the plan cap) was exhausted
  int only = -1;                   // a copy_of(): the one plan it built (others keep their names, not their plans)
};

GraphConvPlans::GraphConvPlans() : impl_(std::make_unique<Impl>()) {}
GraphConvPlans::~GraphConvPlans() = default;
int GraphConvPlans::num_plans() const { return static_cast<int>(impl_->plan_index.size()); }
bool GraphConvPlans::complete() const { return impl_->complete; }
size_t GraphConvPlans::workspace(int plan) const { return impl_->workspace.at(plan); }
const std::string& GraphConvPlans::name(int plan) const { return impl_->names.at(plan); }
bool GraphConvPlans::runtime_compiled(int plan) const { return impl_->rtc.at(plan); }

// The frontend may throw (cudnn_frontend::cudnnException) where it is not built with NV_CUDNN_DISABLE_EXCEPTION; no
// exception may leave Kiln's kernels, so every frontend call sits under create()'s and run()'s catch.
Result<std::unique_ptr<GraphConvPlans>> GraphConvPlans::create(const CudaKernelContext& ctx, const GraphConvProblem& p,
                                                               cudnnHandle_t build_handle, int want) {
  try {
    return build(ctx, p, build_handle, want);
  } catch (const std::exception& e) {
    return ctx.unsupported(std::string("cuDNN graph build threw: ") + e.what());
  }
}

Result<std::unique_ptr<GraphConvPlans>> GraphConvPlans::build(const CudaKernelContext& ctx, const GraphConvProblem& p,
                                                              cudnnHandle_t build_handle, int want) {
  auto plans = std::make_unique<GraphConvPlans>();
  fe::graph::Graph& g = plans->impl_->graph;
  KILN_RETURN_IF_ERROR(build_graph(ctx, p, build_handle, g));
  Impl& im = *plans->impl_;
  std::set<std::string> seen;
  const int64_t count = g.get_execution_plan_count();
  const int max_plans = std::min(graph_plan_cap(), std::max(want, 1));
  int64_t i = 0;
  for (; i < count && static_cast<int>(im.plan_index.size()) < max_plans; ++i) {
    if (g.build_plan_at_index(i).is_bad()) continue;  // not supported here, barred, or too much workspace
    std::string name;
    if (g.get_plan_name_at_index(i, name).is_bad()) name = "plan " + std::to_string(i);
    if (!seen.insert(name).second) continue;  // heuristics modes A and FALLBACK can list the same config
    name += notes_suffix(g, i);
    int64_t ws = 0;
    if (g.get_workspace_size_plan_at_index(i, ws).is_bad() || ws < 0 || static_cast<size_t>(ws) > kCudnnWorkspaceBytes)
      continue;
    im.plan_index.push_back(i);
    im.workspace.push_back(static_cast<size_t>(ws));
    im.names.push_back(name);
    im.rtc.push_back(has_behavior_note(g, i, fe::BehaviorNote_t::RUNTIME_COMPILATION));
  }
  im.complete = i >= count || static_cast<int>(im.plan_index.size()) >= graph_plan_cap();
  if (im.plan_index.empty()) return ctx.unsupported("cuDNN graph API built no plan for this convolution");
  KILN_RETURN_IF_ERROR(plans->finish(ctx));
  return plans;
}

Result<std::unique_ptr<GraphConvPlans>> GraphConvPlans::copy_of(const CudaKernelContext& ctx, const GraphConvProblem& p,
                                                                cudnnHandle_t build_handle, int plan) const {
  try {
    const Impl& from = *impl_;
    if (plan < 0 || plan >= num_plans())
      return internal_error(ctx.node().describe() + ": graph conv plan out of range");
    auto copy = std::make_unique<GraphConvPlans>();
    Impl& im = *copy->impl_;
    KILN_RETURN_IF_ERROR(build_graph(ctx, p, build_handle, im.graph));
    // The same heuristics list in the same process: the frontend index and the engine name must match.
    const int64_t index = from.plan_index[plan];
    std::string name;
    if (index >= im.graph.get_execution_plan_count() || im.graph.build_plan_at_index(index).is_bad() ||
        im.graph.get_plan_name_at_index(index, name).is_bad() || name + notes_suffix(im.graph, index) != from.names[plan])
      return internal_error(ctx.node().describe() + ": cuDNN graph plan " + from.names[plan] +
                            " could not be rebuilt for this context");
    im.plan_index = from.plan_index;
    im.workspace = from.workspace;
    im.names = from.names;
    im.rtc = from.rtc;
    im.complete = from.complete;
    im.only = plan;
    KILN_RETURN_IF_ERROR(copy->finish(ctx));
    return copy;
  } catch (const std::exception& e) {
    return ctx.unsupported(std::string("cuDNN graph build threw: ") + e.what());
  }
}

Status GraphConvPlans::finish(const CudaKernelContext& ctx) {
  Impl& im = *impl_;
  KILN_RETURN_IF_ERROR(fe_status(ctx, im.graph.prepare_variant_pack_template(), "variant pack"));
  im.user_uids = im.graph.get_variant_pack_uids_sorted();
  for (int64_t uid : im.user_uids)
    if (uid < kUidX || uid > kUidY)
      return ctx.unsupported("cuDNN graph expects an unknown tensor uid " + std::to_string(uid));
  return ok_status();
}

namespace {

// The operation graph of `p` on `build_handle`, its heuristics list and Kiln's engine filters, up to check_support:
// the same problem gives the same list in one process (plan numbering, copy_of()).
Status build_graph(const CudaKernelContext& ctx, const GraphConvProblem& p, cudnnHandle_t build_handle,
                   fe::graph::Graph& g) {
  const size_t rank = p.x_dims.size();
  const size_t nsp = rank - 2;
  if (rank < 4 || rank > 5 || p.w_dims.size() != rank || p.y_dims.size() != rank || p.pre_pads.size() != nsp ||
      p.post_pads.size() != nsp || p.strides.size() != nsp || p.dilations.size() != nsp)
    return internal_error(ctx.node().describe() + ": malformed graph convolution problem");
  const fe::DataType_t io = fe_data_type(p.type);
  g.set_io_data_type(io).set_intermediate_data_type(fe::DataType_t::FLOAT).set_compute_data_type(fe::DataType_t::FLOAT);
  const bool cl = p.channels_last;
  auto x = g.tensor(fe::graph::Tensor_attributes().set_name("X").set_uid(kUidX).set_dim(p.x_dims).set_stride(
      strides_for(p.x_dims, cl)));
  auto w = g.tensor(fe::graph::Tensor_attributes().set_name("W").set_uid(kUidW).set_dim(p.w_dims).set_stride(
      strides_for(p.w_dims, cl)));
  auto conv_attrs = fe::graph::Conv_fprop_attributes()
                        .set_name("conv")
                        .set_pre_padding(p.pre_pads)
                        .set_post_padding(p.post_pads)
                        .set_stride(p.strides)
                        .set_dilation(p.dilations)
                        .set_compute_data_type(fe::DataType_t::FLOAT);
  auto y = g.conv_fprop(x, w, conv_attrs);
  auto pw = [](fe::PointwiseMode_t mode) {
    return fe::graph::Pointwise_attributes().set_mode(mode).set_compute_data_type(fe::DataType_t::FLOAT);
  };
  if (p.bias) {
    std::vector<int64_t> bd(rank, 1);
    bd[1] = p.y_dims[1];
    auto b = g.tensor(
        fe::graph::Tensor_attributes().set_name("B").set_uid(kUidBias).set_dim(bd).set_stride(strides_for(bd, cl)));
    y = g.pointwise(y, b, pw(fe::PointwiseMode_t::ADD));
  }
  if (p.z) {
    auto z = g.tensor(fe::graph::Tensor_attributes().set_name("Z").set_uid(kUidZ).set_dim(p.y_dims).set_stride(
        strides_for(p.y_dims, cl)));
    y = g.pointwise(y, z, pw(fe::PointwiseMode_t::ADD));
  }
  if (p.relu) y = g.pointwise(y, pw(fe::PointwiseMode_t::RELU_FWD));
  y->set_output(true).set_uid(kUidY).set_dim(p.y_dims).set_stride(strides_for(p.y_dims, cl)).set_data_type(io);

  KILN_RETURN_IF_ERROR(fe_status(ctx, g.validate(), "validate"));
  KILN_RETURN_IF_ERROR(fe_status(ctx, g.build_operation_graph(build_handle), "build_operation_graph"));
  KILN_RETURN_IF_ERROR(
      fe_status(ctx, g.create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}), "heuristics"));
  g.deselect_workspace_greater_than(static_cast<int64_t>(kCudnnWorkspaceBytes));
  // Accumulate in float32 (our precision contract); plain float32 engines only when TF32 is not allowed.
  std::vector<fe::NumericalNote_t> barred{fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION};
  if (p.type == ElemType::kF32 && !p.tf32) {
    barred.push_back(fe::NumericalNote_t::TENSOR_CORE);
    barred.push_back(fe::NumericalNote_t::DOWN_CONVERT_INPUTS);
  }
  g.deselect_numeric_notes(barred);
  bar_from_env(g, p.runtime_compiled);
  KILN_RETURN_IF_ERROR(fe_status(ctx, g.check_support(), "check_support"));
  return ok_status();
}

}  // namespace

Status GraphConvPlans::run(CudaKernelContext& ctx, int plan, const void* x, const void* w, const void* bias,
                           const void* z, void* y, void* ws) const {
  const Impl& im = *impl_;
  if (plan < 0 || plan >= num_plans() || (im.only >= 0 && plan != im.only))
    return internal_error(ctx.node().describe() + ": graph conv plan out of range");
  void* by_uid[kUidY + 1] = {
      nullptr, const_cast<void*>(x), const_cast<void*>(w), const_cast<void*>(bias), const_cast<void*>(z), y};
  void* ptrs[kUidY];
  const int n = static_cast<int>(im.user_uids.size());
  for (int i = 0; i < n; ++i) {
    ptrs[i] = by_uid[im.user_uids[i]];
    if (!ptrs[i]) return internal_error(ctx.node().describe() + ": graph conv operand missing");
  }
  KILN_RETURN_IF_ERROR(fe_bind_stream(ctx));
  try {
    return fe_status(ctx, im.graph.execute_plan_at_index(ctx.cudnn(), ptrs, n, ws, im.plan_index[plan]), "execute");
  } catch (const std::exception& e) {
    return internal_error(ctx.node().describe() + ": cuDNN graph execute threw: " + e.what());
  }
}

Result<std::shared_ptr<const GraphConvPlans>> graph_conv_plan_to_run(CudaKernelContext& ctx, const GraphConvProblem& p,
                                                                     const std::shared_ptr<const GraphConvPlans>& shared,
                                                                     int plan) {
  static const bool share = [] {  // read once: this runs per convolution
    const char* v = std::getenv("KILN_CUDA_CONV_SHARED_PLANS");
    return v && std::string(v) == "1";
  }();
  if (ctx.tuning() || share) return shared;
  auto& own = node_state_as<ConvNodeState>(ctx).own;
  const std::string key = p.key() + "#" + std::to_string(plan);
  auto it = own.find(key);
  if (it != own.end()) return it->second;
  int device = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  std::unique_ptr<GraphConvPlans> copy;
  {
    std::lock_guard<std::mutex> lock(build_mutex());
    KILN_ASSIGN_OR_RETURN(cudnnHandle_t h, build_handle_locked(device));
    KILN_ASSIGN_OR_RETURN(copy, shared->copy_of(ctx, p, h, plan));
  }
  std::shared_ptr<const GraphConvPlans> made(std::move(copy));
  own[key] = made;
  return made;
}

bool graph_conv_disabled() {
  const char* v = std::getenv("KILN_CUDA_CONV_GRAPH");
  return v && std::string(v) == "0";
}

Result<std::shared_ptr<const GraphConvPlans>> graph_conv_plans_for(CudaKernelContext& ctx, const GraphConvProblem& p,
                                                                   int want) {
  const std::string key = p.key();
  auto enough = [want](const std::shared_ptr<const GraphConvPlans>& g) {
    return !g || g->complete() || g->num_plans() >= want;  // a failure is final
  };
  ConvNodeState& state = node_state_as<ConvNodeState>(ctx);
  auto it = state.graph.find(key);
  if (it != state.graph.end() && enough(it->second)) {
    if (!it->second) return ctx.unsupported("no cuDNN graph plan for this convolution (cached failure)");
    return it->second;
  }
  // Process-wide: built plans are immutable and run on any context's handle and stream. They are built on a handle
  // of the cache's own (one per device, never destroyed): the operation graph keeps the handle it was built on, and a
  // context's handle dies with the context (the build-time tuning context first of all).
  struct Entry {
    std::shared_ptr<const GraphConvPlans> plans;
    Status status;
  };
  std::mutex& mu = build_mutex();
  // Never destroyed: releasing cuDNN plans from a static destructor could run after CUDA has shut down at exit.
  static auto& shared = *new std::map<std::string, Entry>();
  int device = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  const std::string global_key = std::to_string(device) + "#" + key;
  Entry entry;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto found = shared.find(global_key);
    if (found != shared.end() && !enough(found->second.plans) && found->second.status.ok()) {
      shared.erase(found);  // built fewer plans than now needed: rebuild with more (holders keep the old ones)
      found = shared.end();
    }
    if (found == shared.end()) {
      KILN_ASSIGN_OR_RETURN(cudnnHandle_t h, build_handle_locked(device));
      const auto t0 = std::chrono::steady_clock::now();
      auto made = GraphConvPlans::create(ctx, p, h, want);
      if (log_builds()) {
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::cerr << "kiln: conv graph " << ctx.node().name << " [" << p.key() << "]: "
                  << (made.ok() ? std::to_string((*made)->num_plans()) + " plans, first " + (*made)->name(0)
                                : made.status().message())
                  << " (" << ms << " ms)\n";
      }
      Entry e;
      if (made.ok()) {
        e.plans = std::shared_ptr<const GraphConvPlans>(std::move(made).value());
      } else {
        e.status = made.status();
      }
      found = shared.emplace(global_key, std::move(e)).first;
    }
    entry = found->second;
  }
  state.graph[key] = entry.plans;
  if (!entry.plans) return entry.status;
  return entry.plans;
}

}  // namespace kiln::cuda
