// Denormal floats as zero while CPU-backend kernels run (MXCSR flush-to-zero and denormals-are-zero).
// On x86 an operation that reads or writes a denormal float takes a microcode assist of ~100 cycles: a layer whose
// activations underflow runs up to 100x slower (PP-OCRv6's text detector on a random image: two 1x1 convolutions
// took 265 of its 420 ms). With the flags a denormal reads and is written as zero, a change below 1.2e-38 in
// absolute value. The reference backend's kernels (the oracle, and nodes the CPU kernels leave to it) run with the
// caller's own mode. KILN_CPU_DENORMALS=keep leaves the modes alone. No-op off x86.
#pragma once

namespace kiln::cpu {

// Whether CPU engines flush denormals (default yes; KILN_CPU_DENORMALS=keep: no), read once.
bool flush_denormals();

// Sets both flags on the calling thread for its lifetime (restoring the caller's MXCSR after) and, the first time a
// thread runs a team of `threads`, on the OpenMP workers of that thread's team (they keep them: libgomp reuses a
// master thread's workers, so later runs pay nothing).
class DenormalsAsZero {
 public:
  explicit DenormalsAsZero(int threads);
  ~DenormalsAsZero();
  DenormalsAsZero(const DenormalsAsZero&) = delete;
  DenormalsAsZero& operator=(const DenormalsAsZero&) = delete;

  // The caller's own mode on this thread until the returned guard ends (a reference step).
  class CallerMode {
   public:
    explicit CallerMode(const DenormalsAsZero& outer);
    ~CallerMode();
    CallerMode(const CallerMode&) = delete;
    CallerMode& operator=(const CallerMode&) = delete;

   private:
    const DenormalsAsZero& outer_;
  };

 private:
  unsigned caller_ = 0;
  bool active_ = false;
};

}  // namespace kiln::cpu
