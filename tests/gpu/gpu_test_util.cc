// One-node graphs run on the reference and the CUDA backend, compared element by element.
#include "tests/gpu/gpu_test_util.h"

#include <cmath>
#include <random>

#include "backends/reference/kernel.h"
#include "ir/shape_inference.h"
#include "kiln/engine.h"
#include "runtime/builder.h"
#include "runtime/engine_access.h"
#include "runtime/executor.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/device_info.h"
#endif

namespace kiln::testing {

bool have_gpu() {
#ifdef KILN_HAVE_CUDA
  static const bool has = !cuda_devices().empty();
  return has;
#else
  return false;
#endif
}

std::string cuda_test_precision = "fp32";

Tolerance default_tolerance(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return {1e-4, 1e-5};
    case DType::kFloat64:
      return {1e-9, 1e-12};
    case DType::kFloat16:
      return {1e-2, 1e-3};
    case DType::kBFloat16:
      return {3e-2, 1e-2};
    default:
      return {0, 0};
  }
}

Tensor random_tensor(DType dtype, const Dims& dims, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  Tensor f(DType::kFloat64, dims);
  bool is_int =
      !(dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kFloat16 || dtype == DType::kBFloat16);
  for (int64_t i = 0; i < f.numel(); ++i) {
    double v;
    if (dtype == DType::kBool) {
      v = static_cast<double>(rng() & 1);
    } else if (is_int) {
      std::uniform_int_distribution<int64_t> u(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
      v = static_cast<double>(u(rng));
    } else {
      std::uniform_real_distribution<double> u(lo, hi);
      v = u(rng);
    }
    f.data<double>()[i] = v;
  }
  if (f.numel() > 0 && dtype != DType::kBool)
    f.data<double>()[0] = is_int ? std::max(1.0, lo) : (lo + hi) / 2 + 0.25 * (hi - lo);
  // Convert through the reference Cast kernel: one conversion rule for every dtype.
  Node cast;
  cast.op = OpKind::kCast;
  cast.name = "to_dtype";
  cast.inputs = {"x"};
  cast.outputs = {"y"};
  cast.attrs.set("to", static_cast<int64_t>(dtype));
  cast.opset = 21;
  Value in = Value::of(f);
  KernelContext kc(cast, {&in}, nullptr);
  Status st = reference_kernels().find(OpKind::kCast)(kc);
  KILN_CHECK(st.ok());
  return kc.outputs()[0].tensor;
}

Node make_test_node(OpKind op, size_t num_inputs, size_t num_outputs, Attrs attrs) {
  Node n;
  n.op = op;
  n.name = std::string("test_") + op_name(op);
  for (size_t i = 0; i < num_inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  n.attrs = std::move(attrs);
  n.opset = 23;
  return n;
}

namespace {

void expect_close(const std::string& what, const Tensor& want, const Tensor& got, const Tolerance& tol) {
  ASSERT_EQ(want.dtype(), got.dtype()) << what;
  ASSERT_EQ(want.dims(), got.dims()) << what;
  int64_t bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = want.as_double(i), b = got.as_double(i);
    const bool equal = (std::isnan(a) && std::isnan(b)) || a == b;
    bool ok = equal || std::fabs(a - b) <= tol.atol + tol.rtol * std::fabs(a);
    if (!ok && bad++ < 5)
      ADD_FAILURE() << what << " element " << i << ": reference " << a << ", cuda " << b << " (rtol " << tol.rtol
                    << ", atol " << tol.atol << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.numel() << " elements differ";
}

}  // namespace

std::vector<Tensor> expect_cuda_matches_reference(const Node& node, const std::vector<Tensor>& inputs,
                                                  const std::vector<size_t>& constant_inputs, const Tolerance* tol) {
  auto g = std::make_shared<Graph>();
  g->name = "one_node";
  g->opsets[""] = node.opset ? node.opset : 23;
  g->opsets["kiln"] = 1;
  Node n = node;
  NamedValues feeds;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i >= inputs.size() || !inputs[i].defined()) {
      n.inputs[i] = "";
      continue;
    }
    bool constant = std::find(constant_inputs.begin(), constant_inputs.end(), i) != constant_inputs.end();
    if (constant) {
      g->initializers[n.inputs[i]] = inputs[i];
    } else {
      ValueInfo vi;
      vi.name = n.inputs[i];
      vi.type.kind = ValueKind::kTensor;
      vi.type.dtype = inputs[i].dtype();
      vi.type.shape.rank_known = true;
      for (int64_t d : inputs[i].dims()) vi.type.shape.dims.push_back(Dim::known(d));
      g->inputs.push_back(vi);
      feeds.emplace_back(vi.name, Value::of(inputs[i]));
    }
  }
  for (const auto& o : n.outputs)
    if (!o.empty()) g->outputs.push_back(ValueInfo{o, {}});
  g->nodes.push_back(n);
  Status inferred = infer_graph_types(*g);
  EXPECT_TRUE(inferred.ok()) << inferred.message();
  if (!inferred.ok()) return {};
  for (auto& o : g->outputs) o.type = *g->type_of(o.name);

  // Reference run on an identical copy.
  Scope scope;
  for (const auto& [name, v] : feeds) scope.set(name, v);
  auto want = execute_graph(*g, reference_kernels(), scope);
  EXPECT_TRUE(want.ok()) << "reference: " << want.status().message();
  if (!want.ok()) return {};

  BuildOptions bo;
  bo.device = "cuda";
  bo.opt_level = 1;  // time tactics, but the one-node graph stays as it is (no fusion passes at level 1)
  bo.precision = cuda_test_precision;
  auto engine = build_engine_from_graph(std::make_shared<Graph>(*g), bo, "one_node");
  EXPECT_TRUE(engine.ok()) << "cuda build: " << engine.status().message();
  if (!engine.ok()) return {};
  const auto& plans = EngineAccess::plans(**engine);
  for (size_t k = 0; k < (*engine)->graph().nodes.size(); ++k)
    EXPECT_TRUE(k < plans.size() && plans[k].backend == "cuda" && plans[k].kernel != "host")
        << (*engine)->graph().nodes[k].describe() << " did not run on the GPU";
  auto ctx = (*engine)->create_context();
  NamedValues outs;
  Status run = ctx->run(feeds, &outs);
  EXPECT_TRUE(run.ok()) << "cuda run: " << run.message();
  if (!run.ok()) return {};
  std::vector<Tensor> got;
  for (size_t k = 0; k < outs.size(); ++k) {
    const Tensor& w = (*want)[k].tensor;
    const Tensor& c = outs[k].second.tensor;
    Tolerance t = tol ? *tol : default_tolerance(w.dtype());
    expect_close(node.describe() + " output " + std::to_string(k), w, c, t);
    got.push_back(c);
  }
  return got;
}

}  // namespace kiln::testing
