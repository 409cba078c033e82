// Tests of the control family's subgraph kernels: If, Loop, Scan (opset 8 and 9+) and SequenceMap.
#include <gtest/gtest.h>

#include <memory>

#include "backends/reference/kernel.h"
#include "runtime/executor.h"

namespace {

using kiln::Attrs;
using kiln::Dims;
using kiln::DType;
using kiln::Graph;
using kiln::GraphPtr;
using kiln::OpKind;
using kiln::Tensor;
using kiln::Value;

Tensor str(Dims dims, std::vector<std::string> v) {
  Tensor t(DType::kString, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
  return t;
}
Tensor i64(Dims dims, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v); }
Tensor boolean(bool b) { return Tensor::scalar<uint8_t>(DType::kBool, b ? 1 : 0); }
Value absent() {
  Value v;
  v.kind = kiln::ValueKind::kUnknown;
  return v;
}

// Runs one reference kernel; subgraphs run through the executor. A Value of kind kUnknown = absent input.
kiln::Result<std::vector<Value>> run_op(OpKind op, const std::vector<Value>& inputs, Attrs attrs, size_t num_outputs,
                                        int opset = 21) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = opset;
  std::vector<const Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool present = inputs[i].kind != kiln::ValueKind::kUnknown;
    node.inputs.push_back(present ? "in" + std::to_string(i) : "");
    ptrs.push_back(present ? &inputs[i] : nullptr);
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  kiln::KernelFn fn = kiln::reference_kernels().find(op);
  if (!fn) return kiln::unimplemented("no kernel");
  kiln::Scope outer;
  outer.set("outer_suffix", Value::of(str({}, {"!"})));
  kiln::SubgraphRunner runner = [&](const Graph& g, const std::vector<Value>& in) -> kiln::Result<std::vector<Value>> {
    kiln::Scope child(&outer);
    for (size_t k = 0; k < g.inputs.size() && k < in.size(); ++k) child.set(g.inputs[k].name, in[k]);
    return kiln::execute_graph(g, kiln::reference_kernels(), child);
  };
  kiln::KernelContext ctx(node, ptrs, runner);
  KILN_RETURN_IF_ERROR(fn(ctx));
  return ctx.outputs();
}

std::vector<std::string> strings_of(const Tensor& t) {
  return std::vector<std::string>(t.strings(), t.strings() + t.numel());
}

kiln::Node node_of(OpKind op, std::vector<std::string> ins, std::vector<std::string> outs, Attrs attrs = {}) {
  kiln::Node n;
  n.op = op;
  n.name = outs[0] + "_node";
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  n.attrs = std::move(attrs);
  n.opset = 21;
  return n;
}

GraphPtr graph_of(std::vector<std::string> ins, std::vector<std::string> outs, std::vector<kiln::Node> nodes) {
  auto g = std::make_shared<Graph>();
  g->name = "body";
  for (auto& i : ins) g->inputs.push_back({i, {}});
  for (auto& o : outs) g->outputs.push_back({o, {}});
  g->nodes = std::move(nodes);
  return g;
}

// A branch producing a constant string plus the enclosing graph's "outer_suffix".
GraphPtr constant_branch(const std::string& s) {
  GraphPtr g = graph_of({}, {"r"}, {node_of(OpKind::kStringConcat, {"c", "outer_suffix"}, {"r"})});
  g->initializers["c"] = str({}, {s});
  return g;
}

TEST(ControlIf, PicksBranchAndReadsOuterScope) {
  Attrs a;
  a.set("then_branch", constant_branch("yes"));
  a.set("else_branch", constant_branch("no"));
  auto r = run_op(OpKind::kIf, {Value::of(boolean(true))}, a, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(strings_of((*r)[0].tensor), std::vector<std::string>{"yes!"});
  r = run_op(OpKind::kIf, {Value::of(boolean(false))}, a, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(strings_of((*r)[0].tensor), std::vector<std::string>{"no!"});
}

TEST(ControlIf, RejectsNonScalarCondition) {
  Attrs a;
  a.set("then_branch", constant_branch("yes"));
  a.set("else_branch", constant_branch("no"));
  Tensor cond(DType::kBool, {2});
  EXPECT_FALSE(run_op(OpKind::kIf, {Value::of(cond)}, a, 1).ok());
}

// Loop body: acc_out = acc_in + "a", scan_out = acc_out; cond passes through.
Attrs loop_attrs() {
  GraphPtr body = graph_of({"i", "cond_in", "acc_in"}, {"cond_in", "acc_out", "acc_out"},
                           {node_of(OpKind::kStringConcat, {"acc_in", "a"}, {"acc_out"})});
  body->initializers["a"] = str({}, {"a"});
  Attrs attrs;
  attrs.set("body", body);
  return attrs;
}

TEST(ControlLoop, TripCountWithScanOutputs) {
  auto r = run_op(OpKind::kLoop, {Value::of(i64({}, {3})), absent(), Value::of(str({1}, {"x"}))}, loop_attrs(), 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(strings_of((*r)[0].tensor), std::vector<std::string>{"xaaa"});
  EXPECT_EQ((*r)[1].tensor.dims(), (Dims{3, 1}));
  EXPECT_EQ(strings_of((*r)[1].tensor), (std::vector<std::string>{"xa", "xaa", "xaaa"}));
}

TEST(ControlLoop, FalseConditionRunsZeroTimes) {
  auto r = run_op(OpKind::kLoop, {Value::of(i64({}, {3})), Value::of(boolean(false)), Value::of(str({1}, {"x"}))},
                  loop_attrs(), 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(strings_of((*r)[0].tensor), std::vector<std::string>{"x"});
  EXPECT_EQ((*r)[1].tensor.dims()[0], 0);
}

TEST(ControlLoop, CarriesSequences) {
  GraphPtr body = graph_of({"i", "c", "seq_in"}, {"c", "seq_out"},
                           {node_of(OpKind::kSequenceInsert, {"seq_in", "i"}, {"seq_out"})});
  Attrs attrs;
  attrs.set("body", body);
  auto r = run_op(OpKind::kLoop, {Value::of(i64({}, {4})), absent(), Value::of_sequence({}, DType::kInt64)}, attrs, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)[0].sequence.size(), 4u);
  EXPECT_EQ((*r)[0].sequence[3].as_int64(0), 3);
}

TEST(ControlLoop, RejectsNonIntegerTripCount) {
  Tensor m = Tensor::scalar<float>(DType::kFloat32, 2.f);
  EXPECT_FALSE(run_op(OpKind::kLoop, {Value::of(m), absent(), Value::of(str({1}, {"x"}))}, loop_attrs(), 2).ok());
}

// Scan body: state_out = state_in + x, scan_out = state_out.
GraphPtr scan_body() {
  return graph_of({"s_in", "x"}, {"s_out", "s_out"}, {node_of(OpKind::kStringConcat, {"s_in", "x"}, {"s_out"})});
}

TEST(ControlScan, AxisAndReverseDirections) {
  Attrs a;
  a.set("body", scan_body());
  a.set("num_scan_inputs", int64_t{1});
  a.set("scan_input_axes", std::vector<int64_t>{-1});
  a.set("scan_input_directions", std::vector<int64_t>{1});
  // x is [2, 3]; scanning axis -1 gives slices of shape [2].
  Tensor x = str({2, 3}, {"a", "b", "c", "d", "e", "f"});
  auto r = run_op(OpKind::kScan, {Value::of(str({2}, {"", ""})), Value::of(x)}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(strings_of((*r)[0].tensor), (std::vector<std::string>{"cba", "fed"}));
  EXPECT_EQ((*r)[1].tensor.dims(), (Dims{3, 2}));
  EXPECT_EQ(strings_of((*r)[1].tensor), (std::vector<std::string>{"c", "f", "cb", "fe", "cba", "fed"}));

  a.set("scan_output_axes", std::vector<int64_t>{1});
  r = run_op(OpKind::kScan, {Value::of(str({2}, {"", ""})), Value::of(x)}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[1].tensor.dims(), (Dims{2, 3}));
  EXPECT_EQ(strings_of((*r)[1].tensor), (std::vector<std::string>{"c", "cb", "cba", "f", "fe", "fed"}));
}

TEST(ControlScan, Opset8BatchWithSequenceLengths) {
  Attrs a;
  a.set("body", scan_body());
  a.set("num_scan_inputs", int64_t{1});
  Tensor x = str({2, 3, 1}, {"a", "b", "c", "d", "e", "f"});
  auto r = run_op(OpKind::kScan, {Value::of(i64({2}, {3, 2})), Value::of(str({2, 1}, {"", ""})), Value::of(x)}, a, 2,
                  8);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(strings_of((*r)[0].tensor), (std::vector<std::string>{"abc", "de"}));
  EXPECT_EQ((*r)[1].tensor.dims(), (Dims{2, 3, 1}));
  EXPECT_EQ(strings_of((*r)[1].tensor), (std::vector<std::string>{"a", "ab", "abc", "d", "de", ""}));
}

TEST(ControlScan, RejectsMismatchedScanLengths) {
  Attrs a;
  a.set("body", graph_of({"s", "x", "y"}, {"s"}, {}));
  a.set("num_scan_inputs", int64_t{2});
  auto r = run_op(OpKind::kScan, {Value::of(str({}, {""})), Value::of(str({2}, {"a", "b"})), Value::of(str({3}, {}))},
                  a, 1);
  EXPECT_FALSE(r.ok());
}

TEST(ControlSequenceMap, SequenceAndTensorInputs) {
  Attrs a;
  a.set("body", graph_of({"e", "t"}, {"o"}, {node_of(OpKind::kStringConcat, {"e", "t"}, {"o"})}));
  Value seq = Value::of_sequence({str({1}, {"a"}), str({2}, {"b", "c"})}, DType::kString);
  auto r = run_op(OpKind::kSequenceMap, {seq, Value::of(str({}, {"!"}))}, a, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)[0].sequence.size(), 2u);
  EXPECT_EQ(strings_of((*r)[0].sequence[1]), (std::vector<std::string>{"b!", "c!"}));
  Value short_seq = Value::of_sequence({str({}, {"x"})}, DType::kString);
  EXPECT_FALSE(run_op(OpKind::kSequenceMap, {seq, short_seq}, a, 1).ok());
}

}  // namespace
