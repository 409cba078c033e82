// GPU tests of device-resident inputs (ExecutionContext::bind_inputs with DeviceInputs): the same outputs as host
// inputs, mixed with host inputs, through CUDA graph replays, and clear errors for what is not device memory; and of
// device_output / fetch_outputs(wanted); host copies of outputs reused only when released.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <utility>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "runtime/builder.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

ValueInfo float_input(const std::string& name, const Dims& dims) {
  ValueInfo vi;
  vi.name = name;
  vi.type.kind = ValueKind::kTensor;
  vi.type.dtype = DType::kFloat32;
  vi.type.shape.rank_known = true;
  for (int64_t d : dims) vi.type.shape.dims.push_back(Dim::known(d));
  return vi;
}

// out = (x + w) * y, x and y [4, 33] inputs, w a constant.
std::shared_ptr<Engine> build_add_mul() {
  auto g = std::make_shared<Graph>();
  g->name = "add_mul";
  g->opsets[""] = 18;
  g->inputs = {float_input("x", {4, 33}), float_input("y", {4, 33})};
  g->initializers["w"] = random_tensor(DType::kFloat32, {4, 33}, 7);
  Node add = make_test_node(OpKind::kAdd, 2, 1);
  add.name = "add";
  add.inputs = {"x", "w"};
  add.outputs = {"s"};
  Node mul = make_test_node(OpKind::kMul, 2, 1);
  mul.name = "mul";
  mul.inputs = {"s", "y"};
  mul.outputs = {"out"};
  g->nodes = {add, mul};
  g->outputs.push_back(ValueInfo{"out", {}});
  EXPECT_TRUE(infer_graph_types(*g).ok());
  for (auto& o : g->outputs) o.type = *g->type_of(o.name);
  BuildOptions bo;
  bo.device = "cuda";
  auto engine = build_engine_from_graph(g, bo, "add_mul");
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  return engine.ok() ? *engine : nullptr;
}

// A device copy of `t`, freed with the returned pointer.
std::shared_ptr<void> to_device(const Tensor& t) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, t.nbytes()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice), cudaSuccess);
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

// The add_mul inputs of run `seed`: x from seed, y from seed + 100.
std::pair<Tensor, Tensor> add_mul_inputs(uint64_t seed) {
  return {random_tensor(DType::kFloat32, {4, 33}, seed), random_tensor(DType::kFloat32, {4, 33}, seed + 100)};
}

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes()));
}

TEST(CudaDeviceInputs, SameOutputsAsHostInputs) {
  KILN_REQUIRE_GPU();
  auto engine = build_add_mul();
  ASSERT_TRUE(engine);
  for (bool graphs : {false, true}) {
    auto ctx = engine->create_context();
    ctx->set_cuda_graph(graphs);
    for (uint64_t seed = 1; seed <= 4; ++seed) {  // new bytes each run: a replayed graph must read them
      const auto [x, y] = add_mul_inputs(seed);
      NamedValues want, got_both, got_one;
      ASSERT_TRUE(ctx->run({{"x", Value::of(x)}, {"y", Value::of(y)}}, &want).ok());
      auto dx = to_device(x), dy = to_device(y);
      Status st = ctx->run({}, {{"x", {DType::kFloat32, {4, 33}, dx.get()}}, {"y", {DType::kFloat32, {4, 33}, dy.get()}}},
                           &got_both);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_same(want[0].second.tensor, got_both[0].second.tensor);
      st = ctx->run({{"y", Value::of(y)}}, {{"x", {DType::kFloat32, {4, 33}, dx.get()}}}, &got_one);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_same(want[0].second.tensor, got_one[0].second.tensor);
    }
  }
}

// Host copies of outputs come from one page-locked buffer per output that a run reuses only when the caller let go
// of the previous run's output: a kept output keeps its values while later runs write others.
TEST(CudaHostOutputs, ReusedOnlyWhenReleased) {
  KILN_REQUIRE_GPU();
  auto engine = build_add_mul();
  ASSERT_TRUE(engine);
  for (bool graphs : {false, true}) {
    auto ctx = engine->create_context();
    ctx->set_cuda_graph(graphs);
    auto run = [&](uint64_t seed, NamedValues* out) {
      const auto [x, y] = add_mul_inputs(seed);
      Status st = ctx->run({{"x", Value::of(x)}, {"y", Value::of(y)}}, out);
      ASSERT_TRUE(st.ok()) << st.message();
    };
    NamedValues kept, first_copy, later;
    run(1, &kept);
    const Tensor kept_bytes = kept[0].second.tensor.clone();
    for (uint64_t seed = 2; seed <= 4; ++seed) {
      later.clear();
      run(seed, &later);
      expect_same(kept[0].second.tensor, kept_bytes);  // not overwritten by later runs
      EXPECT_NE(0, std::memcmp(later[0].second.tensor.raw(), kept_bytes.raw(), kept_bytes.nbytes()));
    }
    kept.clear();  // every output released: the next runs write into the same page-locked bytes
    later.clear();
    run(5, &later);
    const void* reused = later[0].second.tensor.raw();
    EXPECT_TRUE(is_pinned_host_memory(reused));
    later.clear();
    run(6, &later);
    EXPECT_EQ(later[0].second.tensor.raw(), reused);
    NamedValues reference;  // the same run's values through a second context
    auto other = engine->create_context();
    const auto [x, y] = add_mul_inputs(6);
    ASSERT_TRUE(other->run({{"x", Value::of(x)}, {"y", Value::of(y)}}, &reference).ok());
    expect_same(later[0].second.tensor, reference[0].second.tensor);
  }
}

TEST(CudaDeviceInputs, ClearErrors) {
  KILN_REQUIRE_GPU();
  auto engine = build_add_mul();
  ASSERT_TRUE(engine);
  auto ctx = engine->create_context();
  Tensor y = random_tensor(DType::kFloat32, {4, 33}, 3);
  auto dy = to_device(y);
  NamedValues out;
  // A host address named as device memory.
  Status st = ctx->run({{"y", Value::of(y)}}, {{"x", {DType::kFloat32, {4, 33}, y.raw()}}}, &out);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("input 'x': address is not CUDA device memory"), std::string::npos) << st.message();
  // Shape and dtype are checked as for host inputs.
  st = ctx->run({{"y", Value::of(y)}}, {{"x", {DType::kFloat32, {4, 32}, dy.get()}}}, &out);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("input 'x' dim 1: expected 33, got 32"), std::string::npos) << st.message();
  st = ctx->run({{"y", Value::of(y)}}, {{"x", {DType::kFloat16, {4, 33}, dy.get()}}}, &out);
  EXPECT_NE(st.message().find("input 'x': expected dtype float32, got float16"), std::string::npos) << st.message();
  // The same name in both lists.
  st = ctx->run({{"x", Value::of(y)}, {"y", Value::of(y)}}, {{"x", {DType::kFloat32, {4, 33}, dy.get()}}}, &out);
  EXPECT_NE(st.message().find("input 'x' given twice"), std::string::npos) << st.message();
  RunOptions finite;
  finite.check_finite = true;
  st = ctx->run({{"y", Value::of(y)}}, {{"x", {DType::kFloat32, {4, 33}, dy.get()}}}, &out, finite);
  EXPECT_NE(st.message().find("check_finite reads inputs on the host"), std::string::npos) << st.message();
  // The context still runs afterwards.
  st = ctx->run({{"y", Value::of(y)}}, {{"x", {DType::kFloat32, {4, 33}, dy.get()}}}, &out);
  EXPECT_TRUE(st.ok()) << st.message();
}

// device_output: the bytes fetch_outputs would copy, read where they lie on the GPU (plain runs and graph
// replays); fetch_outputs(wanted) leaves the unwanted output undefined.
TEST(CudaDeviceOutputs, SameBytesAsFetched) {
  KILN_REQUIRE_GPU();
  auto engine = build_add_mul();
  ASSERT_TRUE(engine);
  for (bool graphs : {false, true}) {
    auto ctx = engine->create_context();
    ctx->set_cuda_graph(graphs);
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      Tensor x = random_tensor(DType::kFloat32, {4, 33}, seed), y = random_tensor(DType::kFloat32, {4, 33}, seed + 9);
      NamedValues fetched, none;
      ASSERT_TRUE(ctx->run({{"x", Value::of(x)}, {"y", Value::of(y)}}, &fetched).ok());
      auto dev = ctx->device_output(0);
      ASSERT_TRUE(dev.ok()) << dev.status().message();
      EXPECT_EQ(dev->dtype, DType::kFloat32);
      EXPECT_EQ(dev->dims, (Dims{4, 33}));
      Tensor copy(DType::kFloat32, {4, 33});
      ASSERT_EQ(cudaMemcpy(copy.raw(), dev->data, copy.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
      expect_same(fetched[0].second.tensor, copy);
      ASSERT_TRUE(ctx->fetch_outputs(&none, {false}).ok());
      EXPECT_FALSE(none[0].second.tensor.defined());
    }
  }
}

}  // namespace
}  // namespace kiln::testing
