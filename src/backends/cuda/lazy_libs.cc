// cuBLASLt and NVRTC loaded on first use instead of at program start. Linking them made every `kiln` process (CPU
// engines, `kiln serve` of CPU models, `import kiln`) map libcublasLt at start-up: ~210 MB of resident memory for
// its load-time initialization, before any GPU work (and NVRTC, which only cuDNN frontend graph plans reference,
// another ~30 MB). These definitions of the few entry points Kiln calls resolve the real ones with dlopen/dlsym the
// first time any is called: by soname first (LD_LIBRARY_PATH, the binary's RUNPATH, the loader cache), then at the
// path the build found. When the library cannot be loaded, each call returns the library's own "not initialized"
// error and one line naming the library and dlerror() goes to stderr. No library offers this for the CUDA math
// libraries (NVIDIA's lazy loading is per kernel module, not per shared library), hence this file.
#include <cublasLt.h>
#include <dlfcn.h>
#include <nvrtc.h>

#include <cstdio>
#include <mutex>
#include <string>

#ifndef KILN_CUBLASLT_PATH
#define KILN_CUBLASLT_PATH ""
#endif
#ifndef KILN_NVRTC_PATH
#define KILN_NVRTC_PATH ""
#endif

namespace {

struct LazyLib {
  const char* soname;
  const char* built_path;
  std::once_flag once;
  void* handle = nullptr;

  void* get() {
    std::call_once(once, [this] {
      handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
      if (!handle && built_path[0]) handle = dlopen(built_path, RTLD_NOW | RTLD_LOCAL);
      if (!handle) std::fprintf(stderr, "kiln: %s could not be loaded: %s\n", soname, dlerror());
    });
    return handle;
  }
  template <typename F>
  F sym(const char* name) {
    void* h = get();
    return h ? reinterpret_cast<F>(dlsym(h, name)) : nullptr;
  }
};

LazyLib& cublaslt() {
  static LazyLib lib{"libcublasLt.so." KILN_CUDA_MAJOR_STR, KILN_CUBLASLT_PATH, {}, nullptr};
  return lib;
}
LazyLib& nvrtc() {
  static LazyLib lib{"libnvrtc.so." KILN_CUDA_MAJOR_STR, KILN_NVRTC_PATH, {}, nullptr};
  return lib;
}

}  // namespace

// One forwarding definition per entry point: resolved once, then a plain indirect call.
#define KILN_FORWARD(LIB, FAIL, NAME, PARAMS, ARGS)                                            \
  extern "C" auto NAME PARAMS -> decltype(::NAME ARGS) {                                      \
    static const auto fn = LIB().sym<decltype(&::NAME)>(#NAME);                               \
    if (!fn) return FAIL;                                                                     \
    return fn ARGS;                                                                           \
  }
#define LT_FAIL CUBLAS_STATUS_NOT_INITIALIZED
#define RTC_FAIL NVRTC_ERROR_INTERNAL_ERROR

KILN_FORWARD(cublaslt, LT_FAIL, cublasLtCreate, (cublasLtHandle_t* h), (h))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtDestroy, (cublasLtHandle_t h), (h))
KILN_FORWARD(cublaslt, 0, cublasLtGetVersion, (void), ())
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmul,
             (cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void* alpha, const void* a, cublasLtMatrixLayout_t al,
              const void* b, cublasLtMatrixLayout_t bl, const void* beta, const void* c, cublasLtMatrixLayout_t cl,
              void* dd, cublasLtMatrixLayout_t dl, const cublasLtMatmulAlgo_t* algo, void* ws, size_t wss,
              cudaStream_t s),
             (h, d, alpha, a, al, b, bl, beta, c, cl, dd, dl, algo, ws, wss, s))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulAlgoCapGetAttribute,
             (const cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoCapAttributes_t attr, void* buf, size_t n,
              size_t* written),
             (algo, attr, buf, n, written))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulAlgoCheck,
             (cublasLtHandle_t h, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd, const cublasLtMatmulAlgo_t* algo,
              cublasLtMatmulHeuristicResult_t* result),
             (h, d, a, b, c, dd, algo, result))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulAlgoConfigGetAttribute,
             (const cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoConfigAttributes_t attr, void* buf, size_t n,
              size_t* written),
             (algo, attr, buf, n, written))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulAlgoConfigSetAttribute,
             (cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoConfigAttributes_t attr, const void* buf, size_t n),
             (algo, attr, buf, n))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulAlgoGetHeuristic,
             (cublasLtHandle_t h, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd, cublasLtMatmulPreference_t pref, int requested,
              cublasLtMatmulHeuristicResult_t results[], int* returned),
             (h, d, a, b, c, dd, pref, requested, results, returned))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulDescCreate,
             (cublasLtMatmulDesc_t* d, cublasComputeType_t compute, cudaDataType_t scale), (d, compute, scale))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t d), (d))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulDescSetAttribute,
             (cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const void* buf, size_t n), (d, attr, buf, n))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t* p), (p))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t p), (p))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatmulPreferenceSetAttribute,
             (cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr, const void* buf, size_t n),
             (p, attr, buf, n))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatrixLayoutCreate,
             (cublasLtMatrixLayout_t* l, cudaDataType type, uint64_t rows, uint64_t cols, int64_t ld),
             (l, type, rows, cols, ld))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t l), (l))
KILN_FORWARD(cublaslt, LT_FAIL, cublasLtMatrixLayoutSetAttribute,
             (cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t attr, const void* buf, size_t n),
             (l, attr, buf, n))

KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcCompileProgram, (nvrtcProgram p, int n, const char* const* options), (p, n, options))
KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcCreateProgram,
             (nvrtcProgram* p, const char* src, const char* name, int nh, const char* const* headers,
              const char* const* include_names),
             (p, src, name, nh, headers, include_names))
KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcDestroyProgram, (nvrtcProgram* p), (p))
KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcGetCUBIN, (nvrtcProgram p, char* cubin), (p, cubin))
KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcGetCUBINSize, (nvrtcProgram p, size_t* n), (p, n))
KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcGetProgramLog, (nvrtcProgram p, char* log), (p, log))
KILN_FORWARD(nvrtc, RTC_FAIL, nvrtcGetProgramLogSize, (nvrtcProgram p, size_t* n), (p, n))
