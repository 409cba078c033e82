// GPU tests of device selection: kiln::cuda_device_count / cuda_device, Engine::load(path, LoadOptions{gpu}),
// the compatibility check against the chosen device, and contexts of one engine per device run from threads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/engine.h"
#include "runtime/builder.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

// y = x + c, float32 [4]: built for device cuda on `gpu` and saved to a temporary file.
std::string build_add_engine(int gpu) {
  auto g = std::make_shared<Graph>();
  g->name = "add";
  g->opsets[""] = 17;
  Tensor c = random_tensor(DType::kFloat32, {4}, 3);
  g->initializers["c"] = c;
  ValueInfo vi;
  vi.name = "x";
  vi.type.kind = ValueKind::kTensor;
  vi.type.dtype = DType::kFloat32;
  vi.type.shape.rank_known = true;
  vi.type.shape.dims.push_back(Dim::known(4));
  g->inputs.push_back(vi);
  Node n;
  n.op = OpKind::kAdd;
  n.name = "add";
  n.inputs = {"x", "c"};
  n.outputs = {"y"};
  g->nodes.push_back(n);
  g->outputs.push_back(ValueInfo{"y", {}});
  EXPECT_TRUE(infer_graph_types(*g).ok());
  for (auto& o : g->outputs) o.type = *g->type_of(o.name);
  BuildOptions bo;
  bo.device = "cuda";
  bo.gpu = gpu;
  bo.opt_level = 1;
  auto e = build_engine_from_graph(g, bo, "add");
  EXPECT_TRUE(e.ok()) << e.status().message();
  if (!e.ok()) return "";
  EXPECT_EQ((*e)->device(), gpu);
  std::string path = "/tmp/kiln_devices_test_" + std::to_string(::getpid()) + "_" + std::to_string(gpu) + ".kiln";
  EXPECT_TRUE((*e)->save(path).ok());
  return path;
}

TEST(CudaDevices, DescriptionOfEveryDevice) {
  KILN_REQUIRE_GPU();
  int n = cuda_device_count();
  ASSERT_GE(n, 1);
  for (int i = 0; i < n; ++i) {
    auto d = cuda_device(i);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->index, i);
    EXPECT_FALSE(d->name.empty());
    EXPECT_EQ(d->uuid.rfind("GPU-", 0), 0u) << d->uuid;
    EXPECT_GT(d->total_memory, 0u);
    EXPECT_EQ(d->compat.at("gpu_arch"), d->arch);
    EXPECT_NE(d->compat_key().find("cudnn="), std::string::npos);
  }
  auto missing = cuda_device(n);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);
}

TEST(CudaDevices, LoadOnEveryDeviceAndRunConcurrently) {
  KILN_REQUIRE_GPU();
  int n = cuda_device_count();
  std::string path = build_add_engine(0);
  ASSERT_FALSE(path.empty());
  std::vector<std::shared_ptr<Engine>> engines;
  for (int d = 0; d < n; ++d) {
    auto dev = cuda_device(d);
    ASSERT_TRUE(dev.ok());
    if (dev->compat_key() != cuda_device(0)->compat_key()) continue;  // another GPU model: covered below
    LoadOptions lo;
    lo.gpu = d;
    auto e = Engine::load(path, lo);
    ASSERT_TRUE(e.ok()) << e.status().message();
    EXPECT_EQ((*e)->device(), d);
    engines.push_back(*e);
  }
  Tensor x = random_tensor(DType::kFloat32, {4}, 9);
  std::vector<NamedValues> outs(engines.size());
  std::vector<Status> st(engines.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < engines.size(); ++i)
    threads.emplace_back([&, i] {
      auto ctx = engines[i]->create_context();
      for (int rep = 0; rep < 20 && st[i].ok(); ++rep) st[i] = ctx->run({{"x", Value::of(x)}}, &outs[i]);
      EXPECT_EQ(ctx->memory().weights > 0, true);
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < engines.size(); ++i) {
    ASSERT_TRUE(st[i].ok()) << st[i].message();
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(outs[i][0].second.tensor.data<float>()[k], outs[0][0].second.tensor.data<float>()[k]);
  }
  LoadOptions missing;
  missing.gpu = n;
  auto bad = Engine::load(path, missing);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("GPU " + std::to_string(n) + " does not exist"), std::string::npos)
      << bad.status().message();
  std::remove(path.c_str());
}

TEST(CudaDevices, IncompatibleDeviceFailsWithTheRebuildMessage) {
  KILN_REQUIRE_GPU();
  std::string path = build_add_engine(0);
  ASSERT_FALSE(path.empty());
  auto e = Engine::load_unchecked(path);
  ASSERT_TRUE(e.ok());
  EngineInfo info = (*e)->info();
  info.compat["gpu_arch"] = "sm_10";  // a GPU nobody has
  auto other = std::make_shared<Engine>(std::make_shared<Graph>((*e)->graph()), info, (*e)->profiles());
  ASSERT_TRUE(other->save(path).ok());
  LoadOptions lo;
  lo.gpu = 0;
  auto bad = Engine::load(path, lo);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("rebuild it on this machine"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("GPU 0"), std::string::npos) << bad.status().message();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kiln::testing
