// DenormalsAsZero: MXCSR's FTZ (bit 15) and DAZ (bit 6) around CPU-backend execution (denormals.h).
#include "backends/cpu/denormals.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define KILN_HAVE_MXCSR 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiln::cpu {

namespace {
constexpr unsigned kFtzDaz = 0x8040;
// The largest team this thread's OpenMP workers were switched for.
thread_local int flushed_team = 1;
}  // namespace

bool flush_denormals() {
  static const bool on = [] {
    const char* e = std::getenv("KILN_CPU_DENORMALS");
    return !(e && std::string(e) == "keep");
  }();
  return on;
}

DenormalsAsZero::DenormalsAsZero(int threads) {
#ifdef KILN_HAVE_MXCSR
  if (!flush_denormals()) return;
  caller_ = _mm_getcsr();
  active_ = true;
  _mm_setcsr(caller_ | kFtzDaz);
#ifdef _OPENMP
  if (threads > flushed_team) {
#pragma omp parallel num_threads(threads)
    _mm_setcsr(_mm_getcsr() | kFtzDaz);
    flushed_team = threads;
  }
#endif
#else
  (void)threads;
#endif
}

DenormalsAsZero::~DenormalsAsZero() {
#ifdef KILN_HAVE_MXCSR
  if (active_) _mm_setcsr(caller_);
#endif
}

DenormalsAsZero::CallerMode::CallerMode(const DenormalsAsZero& outer) : outer_(outer) {
#ifdef KILN_HAVE_MXCSR
  if (outer_.active_) _mm_setcsr(outer_.caller_);
#endif
}

DenormalsAsZero::CallerMode::~CallerMode() {
#ifdef KILN_HAVE_MXCSR
  if (outer_.active_) _mm_setcsr(outer_.caller_ | kFtzDaz);
#endif
}

}  // namespace kiln::cpu
