// Global average/max pooling over float32 tensors in either layout a oneDNN producer hands off: channels-last
// (each pixel a row of C channels) or plain (each channel a row of pixels). Written by hand because oneDNN's
// global pools split work only over images and channel blocks: at batch 1 a squeeze-excitation's pool over 112x112
// pixels ran on one thread, and slower on two.
#pragma once
#include <cstdint>

namespace kiln::cpu::kern {

// y[n, c] = mean (or max) over p of x[(n * pixels + p) * channels + c]. Pixels are summed in fixed chunks (the same
// bits at every thread count); threads share images x chunks.
void global_pool_channels_last(const float* x, float* y, int64_t images, int64_t channels, int64_t pixels, bool max,
                               int threads);
// y[r] = mean (or max) of x[r * pixels .. (r + 1) * pixels); threads share the rows.
void global_pool_plain(const float* x, float* y, int64_t rows, int64_t pixels, bool max, int threads);

}  // namespace kiln::cpu::kern
