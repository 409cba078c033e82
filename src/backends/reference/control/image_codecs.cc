// JPEG, PNG and WebP decoding through the system codec libraries (libjpeg, libpng, libwebp), opened with
// dlopen at first use: the build needs only their headers, and a machine without them reports unsupported.
#include <dlfcn.h>

#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backends/reference/control/image.h"

#if __has_include(<jpeglib.h>)
#include <jpeglib.h>
#define KILN_HAVE_JPEG_HEADER 1
#endif
#if __has_include(<png.h>)
#include <png.h>
#define KILN_HAVE_PNG_HEADER 1
#endif

namespace kiln::control {

namespace {

// dlopen()s the first library of `names` that loads; nullptr if none does.
void* open_library(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) return h;
  return nullptr;
}

template <typename Fn>
bool bind(void* lib, const char* name, Fn* fn) {
  *fn = lib ? reinterpret_cast<Fn>(dlsym(lib, name)) : nullptr;
  return *fn != nullptr;
}

}  // namespace

#ifdef KILN_HAVE_JPEG_HEADER
namespace {

struct JpegApi {
  bool ok = false;
  decltype(&jpeg_std_error) std_error;
  decltype(&jpeg_CreateDecompress) create;
  decltype(&jpeg_mem_src) mem_src;
  decltype(&jpeg_read_header) read_header;
  decltype(&jpeg_start_decompress) start;
  decltype(&jpeg_read_scanlines) read_scanlines;
  decltype(&jpeg_finish_decompress) finish;
  decltype(&jpeg_destroy_decompress) destroy;
};

const JpegApi& jpeg_api() {
  static const JpegApi api = [] {
    JpegApi a;
    void* lib = open_library({"libjpeg.so.62", "libjpeg.so.8", "libjpeg.so"});
    a.ok = bind(lib, "jpeg_std_error", &a.std_error) && bind(lib, "jpeg_CreateDecompress", &a.create) &&
           bind(lib, "jpeg_mem_src", &a.mem_src) && bind(lib, "jpeg_read_header", &a.read_header) &&
           bind(lib, "jpeg_start_decompress", &a.start) && bind(lib, "jpeg_read_scanlines", &a.read_scanlines) &&
           bind(lib, "jpeg_finish_decompress", &a.finish) && bind(lib, "jpeg_destroy_decompress", &a.destroy);
    return a;
  }();
  return api;
}

// libjpeg reports fatal errors through error_exit, which must not return: jump back to the decoder.
struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

void jpeg_quiet(j_common_ptr) {}

// Only trivially destructible locals live in this frame (setjmp/longjmp); pixels go to `out`.
bool jpeg_decode_frame(const JpegApi& api, const uint8_t* data, size_t size, DecodedImage* out, JpegError* err) {
  jpeg_decompress_struct cinfo;
  cinfo.err = api.std_error(&err->mgr);
  err->mgr.error_exit = jpeg_fail;
  err->mgr.output_message = jpeg_quiet;
  if (setjmp(err->jump)) {
    api.destroy(&cinfo);
    return false;
  }
  api.create(&cinfo, JPEG_LIB_VERSION, sizeof(jpeg_decompress_struct));
  api.mem_src(&cinfo, data, static_cast<unsigned long>(size));
  api.read_header(&cinfo, TRUE);
  if (static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > (int64_t{1} << 28)) {
    std::snprintf(err->message, sizeof(err->message), "image of %ux%u pixels is too large", cinfo.image_width,
                  cinfo.image_height);
    api.destroy(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  api.start(&cinfo);
  out->width = cinfo.output_width;
  out->height = cinfo.output_height;
  out->channels = cinfo.output_components;
  out->pixels.resize(static_cast<size_t>(out->width * out->height * out->channels));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->pixels.data() + static_cast<size_t>(cinfo.output_scanline) * out->width * out->channels;
    api.read_scanlines(&cinfo, &row, 1);
  }
  api.finish(&cinfo);
  api.destroy(&cinfo);
  return true;
}

}  // namespace

Status decode_jpeg(const uint8_t* data, size_t size, DecodedImage* out) {
  const JpegApi& api = jpeg_api();
  if (!api.ok) return unimplemented("JPEG decoding needs libjpeg (libjpeg.so.62), which could not be loaded");
  JpegError err{};
  if (!jpeg_decode_frame(api, data, size, out, &err))
    return invalid_argument(std::string("JPEG data could not be decoded: ") + err.message);
  if (out->channels != 1 && out->channels != 3) return unimplemented("JPEG with unusual color components");
  return ok_status();
}
#else
Status decode_jpeg(const uint8_t*, size_t, DecodedImage*) {
  return unimplemented("JPEG decoding is not available: this build had no libjpeg headers");
}
#endif

#ifdef KILN_HAVE_PNG_HEADER
namespace {

struct PngApi {
  bool ok = false;
  decltype(&png_image_begin_read_from_memory) begin;
  decltype(&png_image_finish_read) finish;
  decltype(&png_image_free) free_image;
};

const PngApi& png_api() {
  static const PngApi api = [] {
    PngApi a;
    void* lib = open_library({"libpng16.so.16", "libpng16.so", "libpng.so"});
    a.ok = bind(lib, "png_image_begin_read_from_memory", &a.begin) && bind(lib, "png_image_finish_read", &a.finish) &&
           bind(lib, "png_image_free", &a.free_image);
    return a;
  }();
  return api;
}

}  // namespace

Status decode_png(const uint8_t* data, size_t size, DecodedImage* out) {
  const PngApi& api = png_api();
  if (!api.ok) return unimplemented("PNG decoding needs libpng16, which could not be loaded");
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!api.begin(&image, data, size)) return invalid_argument(std::string("PNG data is malformed: ") + image.message);
  const bool gray = (image.format & PNG_FORMAT_FLAG_COLOR) == 0;
  image.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  out->width = image.width;
  out->height = image.height;
  out->channels = gray ? 1 : 3;
  if (out->width <= 0 || out->height <= 0 || out->width > (int64_t{1} << 28) / out->height) {
    api.free_image(&image);
    return invalid_argument("PNG has invalid dimensions");
  }
  out->pixels.resize(PNG_IMAGE_SIZE(image));
  if (!api.finish(&image, nullptr, out->pixels.data(), 0, nullptr)) {
    std::string msg = image.message;
    api.free_image(&image);
    return invalid_argument("PNG data could not be decoded: " + msg);
  }
  api.free_image(&image);
  return ok_status();
}
#else
Status decode_png(const uint8_t*, size_t, DecodedImage*) {
  return unimplemented("PNG decoding is not available: this build had no libpng headers");
}
#endif

Status decode_webp(const uint8_t* data, size_t size, DecodedImage* out) {
  // libwebp's simple decoding API (stable C ABI): WebPDecodeRGB and WebPFree.
  using DecodeFn = uint8_t* (*)(const uint8_t*, size_t, int*, int*);
  using FreeFn = void (*)(void*);
  static void* lib = open_library({"libwebp.so.7", "libwebp.so.6", "libwebp.so"});
  DecodeFn decode = nullptr;
  FreeFn release = nullptr;
  if (!bind(lib, "WebPDecodeRGB", &decode)) return unimplemented("WebP decoding needs libwebp, which could not be loaded");
  if (!bind(lib, "WebPFree", &release)) release = std::free;
  int w = 0, h = 0;
  uint8_t* rgb = decode(data, size, &w, &h);
  if (!rgb) return invalid_argument("WebP data could not be decoded");
  out->width = w;
  out->height = h;
  out->channels = 3;
  out->pixels.assign(rgb, rgb + static_cast<size_t>(w) * h * 3);
  release(rgb);
  return ok_status();
}

}  // namespace kiln::control
