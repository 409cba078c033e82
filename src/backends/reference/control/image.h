// Image decoding for the ImageDecoder kernel: native BMP/PNM/TIFF readers and JPEG/PNG/WebP through the
// system codec libraries (loaded at run time, so the build does not depend on them).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::control {

struct DecodedImage {
  int64_t height = 0;
  int64_t width = 0;
  int channels = 3;             // 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;  // height * width * channels, row-major
};

// Each returns an error message (non-ok Status) for malformed or unsupported data; never reads out of bounds.
Status decode_bmp(const uint8_t* data, size_t size, DecodedImage* out);
Status decode_pnm(const uint8_t* data, size_t size, DecodedImage* out);
Status decode_tiff(const uint8_t* data, size_t size, DecodedImage* out);
Status decode_jpeg(const uint8_t* data, size_t size, DecodedImage* out);
Status decode_png(const uint8_t* data, size_t size, DecodedImage* out);
Status decode_webp(const uint8_t* data, size_t size, DecodedImage* out);

}  // namespace kiln::control
