// SubgraphEngines: If/Loop/Scan bodies compiled as CPU engines (subgraph_engines.h).
#include "backends/cpu/subgraph_engines.h"

#include <algorithm>
#include <cstdlib>

#include "runtime/builder.h"

namespace kiln::cpu {

namespace {
std::string subgraphs_mode() {
  const char* e = std::getenv("KILN_CPU_SUBGRAPHS");
  return e ? e : "";
}
}  // namespace

bool subgraphs_on_cpu() {
  static const bool on = subgraphs_mode() != "reference";
  return on;
}

bool subgraphs_required() {
  static const bool on = subgraphs_mode() == "require";
  return on;
}

Result<std::vector<Value>> SubgraphEngines::refused(const Graph& body, const std::string& why) {
  if (subgraphs_required())
    return failed_precondition("subgraph " + body.name + " cannot run as a CPU engine (KILN_CPU_SUBGRAPHS=require): " + why);
  return std::vector<Value>{};
}

namespace {

// A tensor type of `dtype` and `rank` with every dim dynamic (a loop-carried value may change shape), or none.
bool dynamic_tensor_type(DType dtype, int64_t rank, TypeInfo* out) {
  if (dtype == DType::kUndefined || rank < 0) return false;
  *out = TypeInfo::tensor(dtype, Shape::of_dims(std::vector<Dim>(static_cast<size_t>(rank))));
  return true;
}

// The engine input type of a value that is `declared` (may be unknown) and now holds `v`: a tensor of its dtype
// and rank, or a sequence of tensors of its element dtype.
bool input_type(const TypeInfo* declared, const Value& v, TypeInfo* out) {
  if (v.kind == ValueKind::kSequence) {
    DType elem = v.elem_dtype;
    if (elem == DType::kUndefined && !v.sequence.empty()) elem = v.sequence.front().dtype();
    if (declared && declared->kind == ValueKind::kSequence && declared->elem && declared->elem->dtype != DType::kUndefined)
      elem = declared->elem->dtype;
    if (elem == DType::kUndefined) return false;
    *out = TypeInfo::sequence_of(TypeInfo::tensor_unknown_shape(elem));
    return true;
  }
  if (v.kind != ValueKind::kTensor || !v.tensor.defined()) return false;
  if (declared && declared->is_tensor() && declared->dtype != v.tensor.dtype()) return false;
  return dynamic_tensor_type(v.tensor.dtype(), static_cast<int64_t>(v.tensor.rank()), out);
}

}  // namespace

SubgraphEngines::Body& SubgraphEngines::compile(const Graph& parent, const Graph& body,
                                                const std::vector<Value>& inputs, const OuterLookup& outer) {
  Body& b = bodies_[&body];
  auto sub = std::make_shared<Graph>();
  sub->name = body.name.empty() ? "subgraph" : body.name;
  sub->opsets = parent.opsets;
  for (const auto& [domain, version] : body.opsets) sub->opsets[domain] = version;
  sub->nodes = body.nodes;
  sub->initializers = body.initializers;
  if (inputs.size() != body.inputs.size()) {
    b.refused = true;
    b.why = "given " + std::to_string(inputs.size()) + " inputs for " + std::to_string(body.inputs.size());
    return b;
  }
  for (size_t k = 0; k < body.inputs.size(); ++k) {
    ValueInfo vi = body.inputs[k];
    if (!input_type(vi.type.known() ? &vi.type : nullptr, inputs[k], &vi.type)) {
      b.refused = true;
      b.why = "input '" + vi.name + "' is neither a tensor of its declared type nor a typed sequence";
      return b;
    }
    sub->inputs.push_back(vi);
  }
  for (const auto& name : outer_reads(body)) {
    const Value* v = outer(name);
    if (!v) continue;
    ValueInfo vi;
    vi.name = name;
    if (!input_type(parent.type_of(name), *v, &vi.type)) {
      b.refused = true;
      b.why = "outer value '" + name + "' is neither a tensor nor a typed sequence";
      return b;
    }
    sub->inputs.push_back(vi);
    b.outer_names.push_back(name);
  }
  for (const auto& o : body.outputs) {
    ValueInfo vi;
    vi.name = o.name;
    sub->outputs.push_back(vi);  // types from inference: the declared ones may carry the outer graph's dims
  }
  BuildOptions options;
  options.device = "cpu";
  options.precision = "fp32";
  auto built = build_engine_from_graph(sub, options, "subgraph " + sub->name);
  if (!built.ok()) {
    b.refused = true;
    b.why = built.status().message();
    return b;
  }

  b.engine = std::move(built).value();
  b.context = b.engine->create_context();
  return b;
}

Result<std::vector<Value>> SubgraphEngines::run(const Graph& parent, const Graph& body, const std::vector<Value>& inputs,
                                                const OuterLookup& outer, int threads, bool* ran) {
  *ran = false;
  auto it = bodies_.find(&body);
  Body& b = it != bodies_.end() ? it->second : compile(parent, body, inputs, outer);
  if (b.refused) return refused(body, b.why);
  NamedValues named;
  named.reserve(inputs.size() + b.outer_names.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const bool usable = inputs[k].kind == ValueKind::kSequence ||
                        (inputs[k].kind == ValueKind::kTensor && inputs[k].tensor.defined());
    if (!usable) return refused(body, "input '" + body.inputs[k].name + "' is neither a tensor nor a sequence");
    named.emplace_back(body.inputs[k].name, inputs[k]);
  }
  for (const auto& name : b.outer_names) {
    const Value* v = outer(name);
    if (!v) return internal_error("subgraph " + body.name + ": outer value '" + name + "' is gone");
    named.emplace_back(name, *v);
  }
  b.context->set_num_threads(threads);
  NamedValues outs;
  RunOptions ro;
  ro.check_finite = false;  // the interpreter this replaces let NaN and Inf through
  KILN_RETURN_IF_ERROR(b.context->run(named, &outs, ro));
  std::vector<Value> result;
  result.reserve(body.outputs.size());
  for (const auto& o : body.outputs) {
    auto found = std::find_if(outs.begin(), outs.end(), [&](const auto& p) { return p.first == o.name; });
    if (found == outs.end()) return internal_error("subgraph " + body.name + ": output '" + o.name + "' is missing");
    result.push_back(std::move(found->second));
  }
  *ran = true;
  return result;
}

}  // namespace kiln::cpu
