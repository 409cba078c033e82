// Global average/max pooling over channels-last and plain float32 tensors (see global_pool.h).
#include "backends/cpu/kernels/global_pool.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/vec_math.h"

namespace kiln::cpu::kern {

namespace {

// Pixels per partial sum: partials stay in L1 (C floats) and the chunk count depends only on the shape.
constexpr int64_t kChunkPixels = 512;

// acc[c] (+= or max=) rows[p * channels + c] over `count` pixels.
KILN_CPU_CLONES void accumulate_rows(const float* rows, int64_t count, int64_t channels, float* acc, bool max) {
  for (int64_t p = 0; p < count; ++p) {
    const float* r = rows + p * channels;
    if (max) {
      for (int64_t c = 0; c < channels; ++c) acc[c] = r[c] > acc[c] || r[c] != r[c] ? r[c] : acc[c];  // NaN propagates
    } else {
      for (int64_t c = 0; c < channels; ++c) acc[c] += r[c];
    }
  }
}

// Sum (or max) of x[0..n) in 16 independent lanes, combined in a fixed order.
KILN_CPU_CLONES float reduce_row(const float* x, int64_t n, bool max) {
  float lane[16];
  const float init = max ? -std::numeric_limits<float>::infinity() : 0.f;
  for (float& l : lane) l = init;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k)
      lane[k] = max ? (x[i + k] > lane[k] || x[i + k] != x[i + k] ? x[i + k] : lane[k]) : lane[k] + x[i + k];
  for (int k = 0; i < n; ++i, ++k) lane[k] = max ? (x[i] > lane[k] || x[i] != x[i] ? x[i] : lane[k]) : lane[k] + x[i];
  float r = lane[0];
  for (int k = 1; k < 16; ++k) r = max ? (lane[k] > r || lane[k] != lane[k] ? lane[k] : r) : r + lane[k];
  return r;
}

}  // namespace

void global_pool_channels_last(const float* x, float* y, int64_t images, int64_t channels, int64_t pixels, bool max,
                               int threads) {
  const int64_t chunks = std::max<int64_t>(1, (pixels + kChunkPixels - 1) / kChunkPixels);
  const float init = max ? -std::numeric_limits<float>::infinity() : 0.f;
  std::vector<float> partial(static_cast<size_t>(images * chunks * channels), init);
  parallel_range(std::min<int64_t>(threads, images * chunks), images * chunks, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t img = it / chunks, k = it % chunks;
      const int64_t p0 = k * kChunkPixels, count = std::min(pixels, p0 + kChunkPixels) - p0;
      accumulate_rows(x + (img * pixels + p0) * channels, count, channels, partial.data() + it * channels, max);
    }
  });
  const float scale = max ? 1.f : 1.f / static_cast<float>(pixels);
  for (int64_t img = 0; img < images; ++img) {
    float* out = y + img * channels;
    std::copy_n(partial.data() + img * chunks * channels, channels, out);
    for (int64_t k = 1; k < chunks; ++k) accumulate_rows(partial.data() + (img * chunks + k) * channels, 1, channels,
                                                         out, max);
    if (!max)
      for (int64_t c = 0; c < channels; ++c) out[c] *= scale;
  }
}

void global_pool_plain(const float* x, float* y, int64_t rows, int64_t pixels, bool max, int threads) {
  const float scale = max ? 1.f : 1.f / static_cast<float>(pixels);
  parallel_range(std::min<int64_t>(threads, rows), rows, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) y[r] = reduce_row(x + r * pixels, pixels, max) * scale;
  });
}

}  // namespace kiln::cpu::kern
