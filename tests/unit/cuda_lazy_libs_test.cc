// cuBLASLt and NVRTC are loaded on first use (src/backends/cuda/lazy_libs.cc): the forwarding entry points find the
// real libraries and work without a GPU (cuBLASLt's version, an NVRTC compile of a trivial kernel); a process that
// has not called them has not mapped them.
#include <gtest/gtest.h>

#ifdef KILN_HAVE_CUDA
#include <cublasLt.h>
#include <nvrtc.h>

#include <fstream>
#include <string>

namespace {

bool mapped(const std::string& lib) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(lib) != std::string::npos) return true;
  return false;
}

TEST(CudaLazyLibs, LoadedOnFirstUse) {
  const bool before = mapped("libcublasLt");
  EXPECT_GT(cublasLtGetVersion(), 0u);
  EXPECT_TRUE(mapped("libcublasLt")) << "cublasLtGetVersion answered without loading libcublasLt";
  if (before) GTEST_LOG_(INFO) << "libcublasLt was already mapped (an earlier test in this process used it)";
  nvrtcProgram prog = nullptr;
  ASSERT_EQ(nvrtcCreateProgram(&prog, "extern \"C\" __global__ void k(float* x) { x[0] = 1.f; }", "k.cu", 0, nullptr,
                               nullptr),
            NVRTC_SUCCESS);
  const char* opts[] = {"--gpu-architecture=sm_90"};
  EXPECT_EQ(nvrtcCompileProgram(prog, 1, opts), NVRTC_SUCCESS);
  size_t n = 0;
  EXPECT_EQ(nvrtcGetCUBINSize(prog, &n), NVRTC_SUCCESS);
  EXPECT_GT(n, 0u);
  EXPECT_EQ(nvrtcDestroyProgram(&prog), NVRTC_SUCCESS);
  EXPECT_TRUE(mapped("libnvrtc"));
}

}  // namespace
#endif
