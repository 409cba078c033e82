// Server instance placement (src/server/placement.cc): instance groups + visible GPU count -> instances.
#include "server/placement.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kiln::server {
namespace {

InstanceGroupSpec gpu_group(int count, std::vector<int> gpus = {}) { return {InstanceKind::kGpu, count, gpus}; }

std::vector<int> devices(const std::vector<PlacedInstance>& v) {
  std::vector<int> d;
  for (const auto& p : v) d.push_back(p.device);
  return d;
}

TEST(Placement, CountOnEachListedGpuRoundRobin) {
  auto r = place_instances({gpu_group(2, {0, 1})}, 2, "m/config.pbtxt");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(devices(*r), (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ((*r)[1].label(), "gpu1");
  EXPECT_EQ(devices_of(*r), (std::vector<int>{0, 1}));
}

TEST(Placement, GpusAbsentMeansAllGpus) {
  auto r = place_instances({gpu_group(1)}, 4, "c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(devices(*r), (std::vector<int>{0, 1, 2, 3}));
}

TEST(Placement, GroupsAddUp) {
  auto r = place_instances({gpu_group(1, {1}), gpu_group(2, {0})}, 2, "c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 3u);
  EXPECT_EQ(devices(*r), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ((*r)[0].group, 0);
  EXPECT_EQ((*r)[2].group, 1);
}

TEST(Placement, CountZeroMeansOne) {
  auto r = place_instances({gpu_group(0, {1})}, 2, "c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(devices(*r), (std::vector<int>{1}));
}

TEST(Placement, MissingGpuIsAConfigErrorNamingFileAndField) {
  auto r = place_instances({gpu_group(1, {0}), gpu_group(1, {0, 5})}, 2, "repo/m/config.pbtxt");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("repo/m/config.pbtxt: field instance_group[1].gpus: GPU 5 does not exist"),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(place_instances({gpu_group(1, {-1})}, 2, "c").ok());
  EXPECT_FALSE(place_instances({gpu_group(1, {1, 1})}, 2, "c").ok());  // listed twice
}

TEST(Placement, KindGpuWithoutGpus) {
  auto r = place_instances({gpu_group(1)}, 0, "c");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("field instance_group[0].kind"), std::string::npos);
  EXPECT_NE(r.status().message().find("for device cuda"), std::string::npos);
  auto listed = place_instances({gpu_group(2, {0})}, 0, "c");
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.status().message().find("field instance_group[0].gpus"), std::string::npos);
  EXPECT_NE(listed.status().message().find("for device cuda"), std::string::npos);
}

TEST(Placement, CpuAndAuto) {
  auto cpu = place_instances({{InstanceKind::kCpu, 3, {}}}, 2, "c");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(devices(*cpu), (std::vector<int>{-1, -1, -1}));
  EXPECT_EQ((*cpu)[0].label(), "cpu");
  EXPECT_FALSE(place_instances({{InstanceKind::kCpu, 1, {0}}}, 2, "c").ok());  // gpus with KIND_CPU
  auto auto_gpu = place_instances({{InstanceKind::kAuto, 1, {}}}, 2, "c");     // GPU if any ...
  ASSERT_TRUE(auto_gpu.ok());
  EXPECT_EQ(devices(*auto_gpu), (std::vector<int>{0, 1}));
  auto auto_cpu = place_instances({{InstanceKind::kAuto, 2, {}}}, 0, "c");  // ... else CPU
  ASSERT_TRUE(auto_cpu.ok());
  EXPECT_EQ(devices(*auto_cpu), (std::vector<int>{-1, -1}));
  auto none = place_instances({}, 2, "c");  // no instance_group: one CPU instance
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(devices(*none), (std::vector<int>{-1}));
}

TEST(Placement, MixingGpuAndCpuAfterAutoIsAnError) {
  auto r = place_instances({{InstanceKind::kAuto, 1, {}}, {InstanceKind::kCpu, 1, {}}}, 1, "c");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mixing GPU and CPU"), std::string::npos);
}

TEST(Placement, SimulatedGpuCount) {
  bool simulated = false;
  ::setenv("KILN_SIMULATED_GPUS", "3", 1);
  EXPECT_EQ(placement_gpu_count(&simulated), 3);
  EXPECT_TRUE(simulated);
  ::unsetenv("KILN_SIMULATED_GPUS");
  placement_gpu_count(&simulated);
  EXPECT_FALSE(simulated);
}

}  // namespace
}  // namespace kiln::server
