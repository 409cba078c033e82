// The CPU ContextBackend's construction: slots for every value, each node resolved to a CPU or reference kernel,
// last uses, constants bound once; plus bind/fetch and the thread count.
#include "backends/cpu/cpu_context.h"

#include <cctype>
#include <string>

#include <omp.h>
#include <sched.h>

#include <cstdlib>
#include <set>
#include <string_view>
#include <unordered_map>

#include "backends/cpu/cpu_backend.h"
#include "runtime/engine_access.h"
#include "runtime/executor.h"

namespace kiln::cpu {

namespace {

// Names a subgraph (and its nested subgraphs) reads.
bool has_subgraph(const Node& n) { return !node_subgraphs(n).empty(); }

}  // namespace

int default_num_threads() {
  if (const char* e = std::getenv("KILN_NUM_THREADS")) {
    int n = std::atoi(e);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  return std::max(1, omp_get_num_procs());
}

bool openmp_workers_spin() {
  static const bool spin = [] {
    auto lower = [](const char* v) {
      std::string s = v ? v : "";
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    const std::string policy = lower(std::getenv("OMP_WAIT_POLICY"));
    if (policy == "passive") return false;
    if (policy == "active") return true;
    const char* count = std::getenv("GOMP_SPINCOUNT");
    return !count || std::string(count) != "0";  // libgomp's default spins
  }();
  return spin;
}

CpuContext::CpuContext(const Engine& engine) : engine_(engine) {
  threads_ = default_num_threads();
  allow_bf16_ = engine.info().precision == "bf16" || engine.info().precision == "best";
  // An int8 engine whose build put its float layers in bf16 (int8_float_in_bf16, precision_choice.h) marks them.
  if (engine.info().precision == "int8")
    for (const NodePlan& p : EngineAccess::plans(engine)) allow_bf16_ |= p.precision == DType::kBFloat16;
  init_status_ = resolve(engine.graph());
}

Status CpuContext::resolve(const Graph& g) {
  std::unordered_map<std::string, int> slot;
  auto add = [&](const std::string& name) {
    auto [it, inserted] = slot.emplace(name, static_cast<int>(slot_names_.size()));
    if (inserted) slot_names_.push_back(name);
    return it->second;
  };
  for (const auto& vi : g.inputs) add(vi.name);
  for (const auto& [name, t] : g.initializers) add(name);
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) add(o);
  size_t ns = slot_names_.size();
  slots_.assign(ns, Value());
  constant_.assign(ns, 0);
  is_output_.assign(ns, 0);
  for (const auto& [name, t] : g.initializers) {
    int s = slot.at(name);
    slots_[s] = Value::of(t);
    bool overridable = false;
    for (const auto& vi : g.inputs) overridable |= vi.name == name;
    constant_[s] = !overridable;
  }
  for (const auto& d : engine_.inputs()) {
    auto it = slot.find(d.name);
    input_slots_.push_back(it == slot.end() ? -1 : it->second);
  }
  std::vector<int> last_use(ns, -1);
  readers_.assign(ns, {});
  handoff_.assign(ns, nullptr);
  const auto& plans = EngineAccess::plans(engine_);
  int nsteps = static_cast<int>(g.nodes.size());
  steps_.resize(g.nodes.size());
  step_bf16_.assign(g.nodes.size(), 1);
  for (size_t i = 0; i < plans.size() && i < g.nodes.size(); ++i)
    if (plans[i].precision == DType::kFloat32) step_bf16_[i] = 0;
  for (int i = 0; i < nsteps; ++i) {
    const Node& n = g.nodes[i];
    CpuStep& st = steps_[i];
    st.node = &n;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        st.in.push_back(-1);
        continue;
      }
      auto it = slot.find(in);
      if (it == slot.end()) return internal_error(n.describe() + ": input '" + in + "' has no producer");
      st.in.push_back(it->second);
      readers_[it->second].emplace_back(i, static_cast<int>(st.in.size()) - 1);
      last_use[it->second] = i;
    }
    for (const auto& o : n.outputs) {
      int s = o.empty() ? -1 : slot.at(o);
      st.out.push_back(s);
      if (s >= 0 && last_use[s] < i) last_use[s] = i;  // unread outputs die with their producer
    }
    if (has_subgraph(n)) {
      std::set<std::string> reads;
      for (const auto& sub : node_subgraphs(n))
        for (const auto& r : outer_reads(*sub)) reads.insert(r);
      for (const auto& r : reads) {
        auto it = slot.find(r);
        if (it == slot.end()) continue;
        st.outer.emplace_back(r, it->second);
        readers_[it->second].emplace_back(i, -1);
        last_use[it->second] = std::max(last_use[it->second], i);
      }
    }
    // Kernel: the plan's choice when it names this backend, the reference for "reference" and subgraph ops.
    std::string why;
    const NodePlan* plan = i < static_cast<int>(plans.size()) ? &plans[i] : nullptr;
    st.plan = plan;
    if (!has_subgraph(n)) {
      if (plan && plan->backend == "cpu") {
        st.kernel = cpu_kernels().find_by_id(n.op, plan->kernel);
        if (!st.kernel) st.kernel = cpu_kernels().select(g, n, &why);
      } else if (!plan || plan->backend.empty()) {
        st.kernel = cpu_kernels().select(g, n, &why);
      } else {
        why = plan->note.empty() ? "planned on " + plan->backend : plan->note;
      }
    } else {
      why = "has a subgraph";
    }
    st.ref = reference_kernels().find(n.op);
    st.note = why;
    if (!st.kernel && !st.ref) return unimplemented(n.describe() + ": op is not supported by the cpu or reference backend");
    if (!st.outer.empty() || has_subgraph(n)) {
      st.runner = [this, i](const Graph& body, const std::vector<Value>& ins) -> Result<std::vector<Value>> {
        if (subgraphs_on_cpu()) {  // the body as a CPU engine of its own (subgraph_engines.h)
          auto lookup = [this, i](const std::string& name) -> const Value* {
            for (const auto& [n, s] : steps_[i].outer)
              if (n == name) return slots_[s].kind != ValueKind::kTensor || slots_[s].tensor.defined() ? &slots_[s] : nullptr;
            return nullptr;
          };
          bool ran = false;
          auto result = subgraphs_.run(engine_.graph(), body, ins, lookup, threads_, &ran);
          step_threads_ = 0;  // the body's context set OpenMP's thread count on this thread
          if (!result.ok() || ran) return result;
        }
        Scope outer;
        for (const auto& [name, s] : steps_[i].outer)
          if (slots_[s].kind != ValueKind::kTensor || slots_[s].tensor.defined()) outer.set(name, slots_[s]);
        Scope child(&outer);
        for (size_t k = 0; k < body.inputs.size() && k < ins.size(); ++k) child.set(body.inputs[k].name, ins[k]);
        return execute_graph(body, reference_kernels(), child);
      };
    }
  }
  for (const auto& o : g.outputs) {
    auto it = slot.find(o.name);
    if (it == slot.end()) return internal_error("graph output '" + o.name + "' has no producer");
    output_slots_.push_back(it->second);
    is_output_[it->second] = 1;
    last_use[it->second] = nsteps;
  }
  // Release lists: a slot is freed after its last reader unless it is a constant, a graph output or a graph
  // input (bound once, run many times).
  std::vector<char> is_input(ns, 0);
  for (const auto& vi : g.inputs) is_input[slot.at(vi.name)] = 1;
  for (size_t s = 0; s < ns; ++s) {
    if (constant_[s] || is_output_[s] || is_input[s] || last_use[s] < 0 || last_use[s] >= nsteps) continue;
    steps_[last_use[s]].release.push_back(static_cast<int>(s));
  }
  for (auto& l : last_use)
    if (l < 0) l = 0;
  arena_.init(std::move(last_use));
  // Two generations of every output: the caller usually still holds the previous run's while the next one runs.
  output_pool_ = OutputPool::create(2 * output_slots_.size() + 2);
  return ok_status();
}

Status CpuContext::bind_inputs(const NamedValues& inputs) {
  KILN_RETURN_IF_ERROR(init_status_);
  const auto& descs = engine_.inputs();
  for (const auto& [name, v] : inputs) {
    for (size_t i = 0; i < descs.size(); ++i) {
      if (descs[i].name != name || input_slots_[i] < 0) continue;
      slots_[input_slots_[i]] = v;
      break;
    }
  }
  return ok_status();
}

Status CpuContext::fetch_outputs(std::vector<Value>* outputs) {
  outputs->clear();
  for (int s : output_slots_) {
    Value v = slots_[s];
    // Bytes in the activation arena are overwritten by the next run: hand out a copy.
    if (v.kind == ValueKind::kTensor && v.tensor.defined() && arena_.in_arena(s)) v.tensor = v.tensor.clone();
    outputs->push_back(std::move(v));
  }
  return ok_status();
}

bool CpuContext::private_output(int step, size_t out_index) const {
  const CpuStep& st = steps_[step];
  if (out_index >= st.out.size() || st.out[out_index] < 0 || is_output_[st.out[out_index]]) return false;
  const auto& readers = readers_[st.out[out_index]];
  if (readers.empty()) return false;
  for (const auto& [r, k] : readers)
    if (k < 0 || !steps_[r].kernel || !steps_[r].kernel->takes_handoffs) return false;
  return true;
}

bool CpuContext::readers_round_to_bf16(int step, size_t out_index) const {
  if (!allow_bf16_ || !private_output(step, out_index)) return false;
  for (const auto& [r, k] : readers_[steps_[step].out[out_index]])
    if (k >= 32 || !step_bf16_[r] || !((steps_[r].kernel->bf16_inputs >> k) & 1u)) return false;
  return true;
}

void CpuContext::attach_handoff(int step, size_t out_index, std::shared_ptr<CpuHandoff> h) {
  const CpuStep& st = steps_[step];
  if (out_index < st.out.size() && st.out[out_index] >= 0) handoff_[st.out[out_index]] = std::move(h);
}

Status CpuContext::materialize_inputs(int s) {
  for (int k : steps_[s].in) {
    if (k < 0 || !handoff_[k]) continue;
    KILN_RETURN_IF_ERROR(handoff_[k]->materialize());
    handoff_[k].reset();
  }
  for (const auto& [name, k] : steps_[s].outer) {
    if (!handoff_[k]) continue;
    KILN_RETURN_IF_ERROR(handoff_[k]->materialize());
    handoff_[k].reset();
  }
  return ok_status();
}

ContextMemory CpuContext::memory() const {
  ContextMemory m;
  m.weights = engine_.weight_bytes();
  m.activations_peak = arena_.peak_bytes();
  m.workspace = workspace_bytes_;
  return m;
}

void CpuContext::set_num_threads(int n) { threads_ = n >= 1 ? n : default_num_threads(); }

Result<void*> CpuContext::workspace(size_t bytes) {
  if (bytes + 64 > workspace_.size()) workspace_.resize(bytes + 64);
  workspace_bytes_ = std::max(workspace_bytes_, bytes);
  auto addr = reinterpret_cast<uintptr_t>(workspace_.data());
  return reinterpret_cast<void*>((addr + 63) & ~uintptr_t{63});
}

std::unique_ptr<ContextBackend> make_cpu_context(const Engine& engine) { return std::make_unique<CpuContext>(engine); }

}  // namespace kiln::cpu
