// Reference kernel for ImageDecoder: detects the format from the leading bytes, decodes to RGB or gray
// (see image.h), then converts to the requested pixel_format (RGB, BGR or Grayscale) as [H, W, C] uint8.
#include <cstring>
#include <string>

#include "backends/reference/control/control_util.h"
#include "backends/reference/control/image.h"

namespace kiln {

namespace {

bool starts_with(const Tensor& t, const char* magic, size_t at = 0) {
  const size_t n = std::strlen(magic);
  return static_cast<size_t>(t.numel()) >= at + n && std::memcmp(t.data<uint8_t>() + at, magic, n) == 0;
}

}  // namespace

Status image_decoder_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& in = ctx.input(0);
  if (in.dtype() != DType::kUInt8 || in.rank() != 1)
    return ctx.error("input 0 must be a 1-D uint8 tensor of encoded bytes, got " + control::describe_tensor(in));
  const std::string format = ctx.attrs().get_string("pixel_format", "RGB");
  if (format != "RGB" && format != "BGR" && format != "Grayscale")
    return ctx.error("attribute 'pixel_format' must be RGB, BGR or Grayscale, got '" + format + "'");
  const uint8_t* data = in.data<uint8_t>();
  const size_t size = static_cast<size_t>(in.numel());
  control::DecodedImage img;
  Status st;
  if (starts_with(in, "\xFF\xD8\xFF")) st = control::decode_jpeg(data, size, &img);
  else if (starts_with(in, "\x89PNG\r\n\x1A\n")) st = control::decode_png(data, size, &img);
  else if (starts_with(in, "BM")) st = control::decode_bmp(data, size, &img);
  else if (starts_with(in, "RIFF") && starts_with(in, "WEBP", 8)) st = control::decode_webp(data, size, &img);
  else if (starts_with(in, "II*") || starts_with(in, "MM\x00*")) st = control::decode_tiff(data, size, &img);
  else if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7') st = control::decode_pnm(data, size, &img);
  else if (starts_with(in, "\x00\x00\x00\x0CjP  ") || starts_with(in, "\xFF\x4F\xFF\x51"))
    return ctx.unsupported("JPEG 2000 images are not supported (no JPEG 2000 codec)");
  else
    return ctx.unsupported("the image format is not recognized (supported: JPEG, PNG, BMP, WebP, TIFF, PNM)");
  if (!st.ok()) return st.code() == StatusCode::kUnimplemented ? ctx.unsupported(st.message()) : ctx.error(st.message());

  const int64_t pixels = img.height * img.width;
  const int64_t c_out = format == "Grayscale" ? 1 : 3;
  Tensor out(DType::kUInt8, {img.height, img.width, c_out});
  uint8_t* o = out.data<uint8_t>();
  for (int64_t p = 0; p < pixels; ++p) {
    const uint8_t* s = img.pixels.data() + p * img.channels;
    const uint8_t r = s[0], g = img.channels == 3 ? s[1] : s[0], b = img.channels == 3 ? s[2] : s[0];
    if (c_out == 1) {
      // ITU-R 601-2 luma in 16-bit fixed point, rounded (the usual RGB -> L conversion).
      o[p] = img.channels == 1 ? r : static_cast<uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    } else if (format == "RGB") {
      o[3 * p] = r, o[3 * p + 1] = g, o[3 * p + 2] = b;
    } else {
      o[3 * p] = b, o[3 * p + 1] = g, o[3 * p + 2] = r;
    }
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
