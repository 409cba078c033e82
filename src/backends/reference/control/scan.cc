// Reference kernels for Scan (opset 8 batched form and opset 9+ axes/directions form) and SequenceMap.
#include <algorithm>
#include <string>
#include <vector>

#include "backends/reference/common.h"
#include "backends/reference/control/control_util.h"

namespace kiln {

namespace {

struct ScanRun {
  std::vector<Value> states;               // final loop-carried states
  std::vector<std::vector<Tensor>> scans;  // per scan output, per iteration (in output order)
};

// Runs `body` `length` times. Scan input j is sliced along `in_axes[j]`, reversed when `in_reverse[j]`.
// Scan output k is collected in iteration order, or reversed when `out_reverse[k]`.
Result<ScanRun> run_scan_body(const KernelContext& ctx, const Graph& body, std::vector<Value> states,
                              const std::vector<Tensor>& scan_inputs, const std::vector<int64_t>& in_axes,
                              const std::vector<bool>& in_reverse, const std::vector<bool>& out_reverse,
                              int64_t length) {
  const size_t n = states.size();
  const size_t k_out = body.outputs.size() - n;
  ScanRun run;
  run.scans.resize(k_out);
  for (int64_t t = 0; t < length; ++t) {
    std::vector<Value> args = std::move(states);
    for (size_t j = 0; j < scan_inputs.size(); ++j) {
      const int64_t idx = in_reverse[j] ? length - 1 - t : t;
      args.push_back(Value::of(control::take_along_axis(scan_inputs[j], in_axes[j], idx)));
    }
    auto r = ctx.run_subgraph(body, args);
    if (!r.ok()) return r.status().with_context(ctx.node().describe() + " iteration " + std::to_string(t));
    std::vector<Value>& outs = r.value();
    states.assign(outs.begin(), outs.begin() + n);
    for (size_t k = 0; k < k_out; ++k) {
      if (!outs[n + k].is_tensor())
        return ctx.error("body scan output " + std::to_string(k) + " must be a tensor, got " +
                         control::value_kind_name(outs[n + k]));
      run.scans[k].push_back(outs[n + k].tensor);
    }
  }
  for (size_t k = 0; k < k_out; ++k)
    if (k < out_reverse.size() && out_reverse[k]) std::reverse(run.scans[k].begin(), run.scans[k].end());
  run.states = std::move(states);
  return run;
}

// Stacks one scan output's per-iteration tensors along a new axis 0 (empty -> [0, ...declared shape]).
Result<Tensor> stack_scan_output(const KernelContext& ctx, const std::vector<Tensor>& items, const ValueInfo& decl,
                                 size_t k) {
  if (items.empty()) {
    Dims d = {0};
    if (decl.type.shape.rank_known)
      for (const Dim& x : decl.type.shape.dims) d.push_back(x.is_known() ? x.value : 0);
    return Tensor(decl.type.dtype == DType::kUndefined ? DType::kFloat32 : decl.type.dtype, d);
  }
  std::string err;
  Tensor t = control::stack_leading(items, &err);
  if (!t.defined()) return ctx.error("scan output " + std::to_string(k) + " changes across iterations: " + err);
  return t;
}

std::vector<bool> directions_attr(const KernelContext& ctx, const std::string& name, size_t count) {
  std::vector<int64_t> v = ctx.attrs().get_ints(name);
  std::vector<bool> out(count, false);
  for (size_t i = 0; i < count && i < v.size(); ++i) out[i] = v[i] != 0;
  return out;
}

// Scan-8: inputs (sequence_lens?, states..., scans...) all with a leading batch axis; scans have time at axis 1.
Status scan8_kernel(KernelContext& ctx, const Graph& body, int64_t m) {
  const size_t num_in = ctx.num_inputs();
  if (num_in < 1 + static_cast<size_t>(m)) return ctx.error("too few inputs for num_scan_inputs");
  const size_t n = num_in - 1 - m;
  if (body.inputs.size() != n + m)
    return ctx.error("the body has " + std::to_string(body.inputs.size()) + " inputs, expected " + std::to_string(n + m));
  if (body.outputs.size() < n) return ctx.error("the body has fewer outputs than loop-carried states");
  const size_t k_out = body.outputs.size() - n;
  std::vector<Tensor> states, scans;
  for (size_t i = 0; i < n + m; ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(1 + i));
    const Tensor& t = ctx.input(1 + i);
    if (t.rank() < (i < n ? 1u : 2u))
      return ctx.error("input " + std::to_string(1 + i) + " needs a batch axis" + (i < n ? "" : " and a sequence axis") +
                       ", got " + control::describe_tensor(t));
    (i < n ? states : scans).push_back(t);
  }
  if (m == 0) return ctx.error("Scan needs at least one scan input");
  const int64_t batch = scans[0].dim(0);
  const int64_t max_len = scans[0].dim(1);
  for (size_t i = 0; i < n + m; ++i) {
    const Tensor& t = i < n ? states[i] : scans[i - n];
    if (t.dim(0) != batch) return ctx.error("input " + std::to_string(1 + i) + " has batch size " +
                                            std::to_string(t.dim(0)) + ", expected " + std::to_string(batch));
    if (i >= n && t.dim(1) != max_len)
      return ctx.error("scan input " + std::to_string(1 + i) + " has sequence length " + std::to_string(t.dim(1)) +
                       ", expected " + std::to_string(max_len));
  }
  std::vector<int64_t> lens(batch, max_len);
  if (ctx.has_input(0)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
    const Tensor& sl = ctx.input(0);
    if (!is_integer(sl.dtype()) || sl.numel() != batch)
      return ctx.error("input 0 'sequence_lens' must hold " + std::to_string(batch) + " integers, got " +
                       control::describe_tensor(sl));
    for (int64_t b = 0; b < batch; ++b) {
      lens[b] = sl.as_int64(b);
      if (lens[b] < 0 || lens[b] > max_len)
        return ctx.error("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(lens[b]) + " is outside [0, " +
                         std::to_string(max_len) + "]");
    }
  }
  std::vector<bool> in_rev = directions_attr(ctx, "directions", m);
  std::vector<int64_t> axes(m, 0);
  std::vector<std::vector<Tensor>> state_items(n), scan_items(k_out);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<Value> st;
    for (size_t i = 0; i < n; ++i) st.push_back(Value::of(control::take_along_axis(states[i], 0, b)));
    std::vector<Tensor> sc;
    for (size_t j = 0; j < static_cast<size_t>(m); ++j)
      sc.push_back(control::slice_along_axis(control::take_along_axis(scans[j], 0, b), 0, 0, lens[b]));
    KILN_ASSIGN_OR_RETURN(ScanRun run, run_scan_body(ctx, body, std::move(st), sc, axes, in_rev, {}, lens[b]));
    for (size_t i = 0; i < n; ++i) {
      if (!run.states[i].is_tensor()) return ctx.error("body state output " + std::to_string(i) + " must be a tensor");
      state_items[i].push_back(run.states[i].tensor);
    }
    for (size_t k = 0; k < k_out; ++k) {
      KILN_ASSIGN_OR_RETURN(Tensor s, stack_scan_output(ctx, run.scans[k], body.outputs[n + k], k));
      if (s.dim(0) < max_len) {  // pad the sequence axis with zeros up to the longest sequence
        Dims pd = s.dims();
        pd[0] = max_len;
        Tensor padded(s.dtype(), pd);
        control::copy_elements(s, 0, padded, 0, s.numel());
        s = padded;
      }
      scan_items[k].push_back(s);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    std::string err;
    Tensor t = control::stack_leading(state_items[i], &err);
    if (!t.defined()) return ctx.error("state " + std::to_string(i) + " differs across the batch: " + err);
    ctx.set_output(i, t);
  }
  for (size_t k = 0; k < k_out && n + k < ctx.num_outputs(); ++k) {
    std::string err;
    Tensor t = control::stack_leading(scan_items[k], &err);
    if (!t.defined()) return ctx.error("scan output " + std::to_string(k) + " differs across the batch: " + err);
    ctx.set_output(n + k, t);
  }
  return ok_status();
}

}  // namespace

Status scan_kernel(KernelContext& ctx) {
  GraphPtr body = ctx.attrs().get_graph("body");
  if (!body) return ctx.error("attribute 'body' is missing");
  const int64_t m = ctx.attrs().get_int("num_scan_inputs", -1);
  if (m < 1) return ctx.error("attribute 'num_scan_inputs' must be >= 1");
  if (ctx.opset() > 0 && ctx.opset() < 9) return scan8_kernel(ctx, *body, m);

  const size_t num_in = ctx.num_inputs();
  if (num_in < static_cast<size_t>(m))
    return ctx.error("num_scan_inputs is " + std::to_string(m) + " but the node has " + std::to_string(num_in) + " inputs");
  const size_t n = num_in - m;
  if (body->inputs.size() != num_in)
    return ctx.error("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " + std::to_string(num_in));
  if (body->outputs.size() < n) return ctx.error("the body has fewer outputs than loop-carried states");
  const size_t k_out = body->outputs.size() - n;
  if (ctx.num_outputs() > body->outputs.size())
    return ctx.error("the node has more outputs than the body produces");

  std::vector<Value> states;
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.error("state input " + std::to_string(i) + " is missing");
    states.push_back(ctx.input_value(i));
  }
  std::vector<int64_t> in_axes_attr = ctx.attrs().get_ints("scan_input_axes");
  std::vector<Tensor> scans;
  std::vector<int64_t> axes;
  int64_t length = -1;
  for (size_t j = 0; j < static_cast<size_t>(m); ++j) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(n + j));
    const Tensor& t = ctx.input(n + j);
    int64_t axis = j < in_axes_attr.size() ? in_axes_attr[j] : 0;
    if (!normalize_axis_index(axis, static_cast<int64_t>(t.rank()), &axis))
      return ctx.error("scan_input_axes[" + std::to_string(j) + "] is out of range for input " +
                       std::to_string(n + j) + " " + control::describe_tensor(t));
    if (length >= 0 && t.dim(axis) != length)
      return ctx.error("scan input " + std::to_string(n + j) + " has length " + std::to_string(t.dim(axis)) +
                       " along its scan axis, expected " + std::to_string(length));
    length = t.dim(axis);
    scans.push_back(t);
    axes.push_back(axis);
  }
  std::vector<bool> in_rev = directions_attr(ctx, "scan_input_directions", m);
  std::vector<bool> out_rev = directions_attr(ctx, "scan_output_directions", k_out);
  KILN_ASSIGN_OR_RETURN(ScanRun run, run_scan_body(ctx, *body, std::move(states), scans, axes, in_rev, out_rev, length));
  for (size_t i = 0; i < n && i < ctx.num_outputs(); ++i) ctx.set_output_value(i, std::move(run.states[i]));
  std::vector<int64_t> out_axes_attr = ctx.attrs().get_ints("scan_output_axes");
  for (size_t k = 0; k < k_out && n + k < ctx.num_outputs(); ++k) {
    if (!ctx.wants_output(n + k)) continue;
    KILN_ASSIGN_OR_RETURN(Tensor s, stack_scan_output(ctx, run.scans[k], body->outputs[n + k], k));
    int64_t axis = k < out_axes_attr.size() ? out_axes_attr[k] : 0;
    if (!normalize_axis_index(axis, static_cast<int64_t>(s.rank()), &axis))
      return ctx.error("scan_output_axes[" + std::to_string(k) + "] = " + std::to_string(axis) +
                       " is out of range for rank " + std::to_string(s.rank()));
    ctx.set_output(n + k, control::move_leading_axis(s, axis));
  }
  return ok_status();
}

Status sequence_map_kernel(KernelContext& ctx) {
  GraphPtr body = ctx.attrs().get_graph("body");
  if (!body) return ctx.error("attribute 'body' is missing");
  if (!ctx.has_input(0) || ctx.input_value(0).kind != ValueKind::kSequence)
    return ctx.error("input 0 must be a sequence");
  if (body->inputs.size() != ctx.num_inputs())
    return ctx.error("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " +
                     std::to_string(ctx.num_inputs()));
  if (body->outputs.size() != ctx.num_outputs())
    return ctx.error("the body has " + std::to_string(body->outputs.size()) + " outputs, expected " +
                     std::to_string(ctx.num_outputs()));
  const size_t len = ctx.input_value(0).sequence.size();
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is missing");
    const Value& v = ctx.input_value(i);
    if (v.kind == ValueKind::kSequence && v.sequence.size() != len)
      return ctx.error("input sequence " + std::to_string(i) + " has " + std::to_string(v.sequence.size()) +
                       " elements, expected " + std::to_string(len));
    if (v.kind != ValueKind::kSequence && v.kind != ValueKind::kTensor)
      return ctx.error("input " + std::to_string(i) + " must be a tensor or a sequence, got " + control::value_kind_name(v));
  }
  std::vector<std::vector<Tensor>> outs(ctx.num_outputs());
  for (size_t e = 0; e < len; ++e) {
    std::vector<Value> args;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Value& v = ctx.input_value(i);
      args.push_back(v.kind == ValueKind::kSequence ? Value::of(v.sequence[e]) : v);
    }
    auto r = ctx.run_subgraph(*body, args);
    if (!r.ok()) return r.status().with_context(ctx.node().describe() + " element " + std::to_string(e));
    for (size_t k = 0; k < outs.size(); ++k) {
      if (!r.value()[k].is_tensor())
        return ctx.error("body output " + std::to_string(k) + " must be a tensor, got " + control::value_kind_name(r.value()[k]));
      outs[k].push_back(r.value()[k].tensor);
    }
  }
  for (size_t k = 0; k < outs.size(); ++k) {
    DType dt = body->outputs[k].type.dtype;
    if (!outs[k].empty()) dt = outs[k][0].dtype();
    if (dt == DType::kUndefined && body->outputs[k].type.elem) dt = body->outputs[k].type.elem->dtype;
    ctx.set_output_value(k, Value::of_sequence(std::move(outs[k]), dt));
  }
  return ok_status();
}

}  // namespace kiln
