// Reference kernel for ImageDecoder: not available in this build (no image codec library is linked).
#include "backends/reference/kernel.h"

namespace kiln {

Status image_decoder_kernel(KernelContext& ctx) {
  return ctx.unsupported("ImageDecoder needs an image codec (libjpeg/libpng), which this build does not link");
}

}  // namespace kiln
