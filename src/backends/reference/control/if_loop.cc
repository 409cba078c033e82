// Reference kernels for If and Loop: run a body graph (with the enclosing scope visible) and collect outputs.
#include <string>
#include <vector>

#include "backends/reference/control/control_util.h"

namespace kiln {

namespace {

// Empty scan output for a Loop that ran zero iterations: [0, ...body shape] when the body's declared type
// tells the shape, else [0].
Tensor empty_scan_output(const ValueInfo& body_out) {
  DType dt = body_out.type.dtype == DType::kUndefined ? DType::kFloat32 : body_out.type.dtype;
  Dims d = {0};
  if (body_out.type.kind == ValueKind::kTensor && body_out.type.shape.rank_known) {
    for (const Dim& x : body_out.type.shape.dims) d.push_back(x.is_known() ? x.value : 0);
  }
  return Tensor(dt, d);
}

}  // namespace

Status if_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  bool cond = false;
  if (!control::scalar_bool(ctx.input(0), &cond))
    return ctx.error("input 0 'cond' must hold exactly one element, got " + control::describe_tensor(ctx.input(0)));
  GraphPtr branch = ctx.attrs().get_graph(cond ? "then_branch" : "else_branch");
  if (!branch) return ctx.error(std::string("attribute '") + (cond ? "then_branch" : "else_branch") + "' is missing");
  if (branch->outputs.size() != ctx.num_outputs())
    return ctx.error("the " + std::string(cond ? "then" : "else") + " branch has " +
                     std::to_string(branch->outputs.size()) + " outputs but the node has " +
                     std::to_string(ctx.num_outputs()));
  KILN_ASSIGN_OR_RETURN(std::vector<Value> outs, ctx.run_subgraph(*branch, {}));
  for (size_t i = 0; i < outs.size(); ++i) ctx.set_output_value(i, std::move(outs[i]));
  return ok_status();
}

Status loop_kernel(KernelContext& ctx) {
  GraphPtr body = ctx.attrs().get_graph("body");
  if (!body) return ctx.error("attribute 'body' is missing");
  const size_t num_carried = ctx.num_inputs() >= 2 ? ctx.num_inputs() - 2 : 0;
  if (body->inputs.size() != num_carried + 2)
    return ctx.error("the body has " + std::to_string(body->inputs.size()) + " inputs, expected 2 + " +
                     std::to_string(num_carried) + " loop-carried values");
  if (body->outputs.size() < num_carried + 1)
    return ctx.error("the body has " + std::to_string(body->outputs.size()) + " outputs, expected at least 1 + " +
                     std::to_string(num_carried));
  const size_t num_scan = body->outputs.size() - 1 - num_carried;
  if (ctx.num_outputs() > num_carried + num_scan)
    return ctx.error("the node has " + std::to_string(ctx.num_outputs()) + " outputs but the body yields only " +
                     std::to_string(num_carried) + " loop-carried and " + std::to_string(num_scan) + " scan outputs");

  bool has_max = ctx.has_input(0);
  int64_t max_trips = 0;
  if (has_max) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
    if (!control::scalar_int(ctx.input(0), &max_trips))
      return ctx.error("input 0 'M' must be a one-element integer tensor, got " + control::describe_tensor(ctx.input(0)));
  }
  bool cond = true;
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
    if (!control::scalar_bool(ctx.input(1), &cond))
      return ctx.error("input 1 'cond' must be a one-element bool tensor, got " + control::describe_tensor(ctx.input(1)));
  }

  std::vector<Value> carried;
  for (size_t k = 0; k < num_carried; ++k) {
    if (!ctx.has_input(k + 2)) return ctx.error("loop-carried input " + std::to_string(k + 2) + " is missing");
    carried.push_back(ctx.input_value(k + 2));
  }
  std::vector<std::vector<Tensor>> scans(num_scan);
  for (int64_t iter = 0; (!has_max || iter < max_trips) && cond; ++iter) {
    std::vector<Value> args;
    args.push_back(Value::of(Tensor::scalar<int64_t>(DType::kInt64, iter)));
    args.push_back(Value::of(Tensor::scalar<uint8_t>(DType::kBool, cond ? 1 : 0)));
    for (auto& v : carried) args.push_back(std::move(v));
    auto r = ctx.run_subgraph(*body, args);
    if (!r.ok()) return r.status().with_context(ctx.node().describe() + " iteration " + std::to_string(iter));
    std::vector<Value>& outs = r.value();
    if (!outs[0].is_tensor() || !control::scalar_bool(outs[0].tensor, &cond))
      return ctx.error("body output 0 'cond' must be a one-element bool tensor (iteration " + std::to_string(iter) + ")");
    carried.assign(outs.begin() + 1, outs.begin() + 1 + num_carried);
    for (size_t s = 0; s < num_scan; ++s) {
      const Value& v = outs[1 + num_carried + s];
      if (!v.is_tensor())
        return ctx.error("scan output " + std::to_string(s) + " of the body must be a tensor, got " + control::value_kind_name(v));
      scans[s].push_back(v.tensor);
    }
  }
  for (size_t k = 0; k < num_carried && k < ctx.num_outputs(); ++k) ctx.set_output_value(k, std::move(carried[k]));
  for (size_t s = 0; s < num_scan && num_carried + s < ctx.num_outputs(); ++s) {
    if (!ctx.wants_output(num_carried + s)) continue;
    if (scans[s].empty()) {
      ctx.set_output(num_carried + s, empty_scan_output(body->outputs[1 + num_carried + s]));
      continue;
    }
    std::string err;
    Tensor stacked = control::stack_leading(scans[s], &err);
    if (!stacked.defined()) return ctx.error("scan output " + std::to_string(s) + " changes across iterations: " + err);
    ctx.set_output(num_carried + s, std::move(stacked));
  }
  return ok_status();
}

}  // namespace kiln
