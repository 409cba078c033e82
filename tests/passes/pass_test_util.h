// Helpers for pass tests: build small IR graphs in C++, run a pass with the verifier, compare reference outputs.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "ir/shape_inference.h"
#include "passes/pass.h"
#include "passes/pass_manager.h"
#include "passes/pass_util.h"
#include "runtime/executor.h"

namespace kiln_pass_test {

using namespace kiln;  // NOLINT

// Builds a Graph node by node; finish() infers types and verifies.
class GraphBuilder {
 public:
  explicit GraphBuilder(int opset = 17) : opset_(opset) {
    g_.name = "fixture";
    g_.opsets[""] = opset;
  }
  // A float32 (or other dtype) runtime input of static shape.
  GraphBuilder& input(const std::string& name, const std::vector<int64_t>& dims, DType dt = DType::kFloat32) {
    g_.inputs.push_back(ValueInfo{name, TypeInfo::tensor(dt, Shape::of(dims))});
    return *this;
  }
  // An input whose first dim is the symbol "batch" (the rest static).
  GraphBuilder& batched_input(const std::string& name, const std::vector<int64_t>& rest) {
    std::vector<Dim> d{Dim::named("batch")};
    for (int64_t x : rest) d.push_back(Dim::known(x));
    g_.inputs.push_back(ValueInfo{name, TypeInfo::tensor(DType::kFloat32, Shape::of_dims(d))});
    return *this;
  }
  GraphBuilder& constant(const std::string& name, Tensor t) {
    g_.initializers[name] = std::move(t);
    return *this;
  }
  GraphBuilder& floats(const std::string& name, const std::vector<int64_t>& dims, unsigned seed = 7) {
    return constant(name, random_tensor(dims, seed));
  }
  GraphBuilder& ints(const std::string& name, const std::vector<int64_t>& values) {
    return constant(name, Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(values.size())}, values));
  }
  // Adds a node; returns it for setting attributes (valid until the next node is added).
  Node& node(OpKind op, std::vector<std::string> ins, std::vector<std::string> outs, int opset = 0) {
    Node n;
    n.op = op;
    n.name = "n" + std::to_string(g_.nodes.size()) + "_" + op_name(op);
    n.inputs = std::move(ins);
    n.outputs = std::move(outs);
    n.opset = opset ? opset : opset_;
    g_.nodes.push_back(std::move(n));
    return g_.nodes.back();
  }
  GraphBuilder& output(const std::string& name) {
    g_.outputs.push_back(ValueInfo{name, TypeInfo{}});
    return *this;
  }
  Graph finish() {
    Status st = infer_graph_types(g_);
    EXPECT_TRUE(st.ok()) << st.message();
    st = verify_graph(g_);
    EXPECT_TRUE(st.ok()) << st.message();
    return g_;
  }

  static Tensor random_tensor(const std::vector<int64_t>& dims, unsigned seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    int64_t n = 1;
    for (int64_t x : dims) n *= x;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = d(gen);
    return Tensor::from_vector<float>(DType::kFloat32, dims, v);
  }

 private:
  Graph g_;
  int opset_;
};

inline int count_ops(const Graph& g, OpKind op) {
  int c = 0;
  for (const Node& n : g.nodes) c += n.op == op;
  return c;
}

// Runs one pass the way the manager does in tests: then the verifier and the "every value typed" contract.
inline bool run_pass_checked(Pass& pass, Graph& g, const PassOptions& options = {}) {
  Result<bool> r = pass.run(g, options);
  EXPECT_TRUE(r.ok()) << pass.name() << ": " << r.status().message();
  if (!r.ok()) return false;
  Status st = verify_graph(g);
  EXPECT_TRUE(st.ok()) << "after " << pass.name() << ": " << st.message() << "\n" << print_graph(g);
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) EXPECT_NE(g.type_of(o), nullptr) << "after " << pass.name() << ": '" << o << "' has no type";
  return r.value();
}

// Random float32 inputs for every graph input (static shapes; a "batch" dim becomes `batch`).
inline std::vector<Tensor> random_inputs(const Graph& g, unsigned seed = 1, int64_t batch = 2) {
  std::vector<Tensor> out;
  for (const auto& vi : g.inputs) {
    std::vector<int64_t> dims;
    for (const Dim& d : vi.type.shape.dims) dims.push_back(d.is_known() ? d.value : batch);
    out.push_back(GraphBuilder::random_tensor(dims, seed++));
  }
  return out;
}

inline Result<std::vector<Value>> run_graph(const Graph& g, const std::vector<Tensor>& inputs) {
  Scope scope;
  for (size_t i = 0; i < g.inputs.size() && i < inputs.size(); ++i) scope.set(g.inputs[i].name, Value::of(inputs[i]));
  return execute_graph(g, reference_kernels(), scope);
}

// Both graphs run on the same random inputs and give the same outputs (float tolerance `tol`).
inline void expect_same_outputs(const Graph& before, const Graph& after, double tol = 1e-5, unsigned seed = 1) {
  auto inputs = random_inputs(before, seed);
  auto a = run_graph(before, inputs);
  auto b = run_graph(after, inputs);
  ASSERT_TRUE(a.ok()) << "original: " << a.status().message();
  ASSERT_TRUE(b.ok()) << "optimized: " << b.status().message() << "\n" << print_graph(after);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    const Tensor& x = (*a)[i].tensor;
    const Tensor& y = (*b)[i].tensor;
    ASSERT_EQ(x.dtype(), y.dtype()) << "output " << i;
    ASSERT_EQ(x.dims(), y.dims()) << "output " << i;
    for (int64_t k = 0; k < x.numel(); ++k)
      ASSERT_NEAR(x.as_double(k), y.as_double(k), tol * (1 + std::fabs(x.as_double(k))))
          << "output " << i << " at " << k;
  }
}

}  // namespace kiln_pass_test
