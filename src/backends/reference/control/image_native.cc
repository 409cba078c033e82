// Native readers for the simple uncompressed image formats: BMP, PNM (P2/P3/P5/P6) and baseline TIFF.
#include <cctype>
#include <string>

#include "backends/reference/control/image.h"

namespace kiln::control {

namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 28;

bool dims_ok(int64_t w, int64_t h) { return w > 0 && h > 0 && w <= kMaxPixels / h; }

// Bounds-checked little/big-endian reads.
struct Reader {
  const uint8_t* data;
  size_t size;
  bool big_endian = false;
  bool has(size_t off, size_t n) const { return off <= size && n <= size - off; }
  uint32_t u16(size_t off) const {
    return big_endian ? (data[off] << 8) | data[off + 1] : data[off] | (data[off + 1] << 8);
  }
  uint32_t u32(size_t off) const {
    return big_endian ? (uint32_t{data[off]} << 24) | (data[off + 1] << 16) | (data[off + 2] << 8) | data[off + 3]
                      : data[off] | (data[off + 1] << 8) | (data[off + 2] << 16) | (uint32_t{data[off + 3]} << 24);
  }
};

}  // namespace

Status decode_bmp(const uint8_t* data, size_t size, DecodedImage* out) {
  Reader r{data, size};
  if (!r.has(0, 54)) return invalid_argument("BMP data is truncated (no full header)");
  const uint32_t pixel_off = r.u32(10);
  const uint32_t dib_size = r.u32(14);
  const int32_t w = static_cast<int32_t>(r.u32(18));
  const int32_t h_signed = static_cast<int32_t>(r.u32(22));
  const uint32_t bpp = r.u16(28);
  const uint32_t compression = r.u32(30);
  const bool top_down = h_signed < 0;
  const int64_t h = top_down ? -static_cast<int64_t>(h_signed) : h_signed;
  if (!dims_ok(w, h)) return invalid_argument("BMP has invalid dimensions");
  if (!(compression == 0 || (compression == 3 && bpp == 32)))
    return unimplemented("compressed BMP (compression " + std::to_string(compression) + ") is not supported");
  if (bpp != 8 && bpp != 24 && bpp != 32) return unimplemented("BMP with " + std::to_string(bpp) + " bits per pixel");
  uint8_t palette[256][3] = {};
  if (bpp == 8) {
    uint32_t colors = r.has(46, 4) ? r.u32(46) : 0;
    if (colors == 0 || colors > 256) colors = 256;
    const size_t pal = 14 + static_cast<size_t>(dib_size);
    for (uint32_t c = 0; c < colors; ++c) {
      if (!r.has(pal + 4 * c, 4)) break;
      palette[c][0] = data[pal + 4 * c + 2];
      palette[c][1] = data[pal + 4 * c + 1];
      palette[c][2] = data[pal + 4 * c];
    }
  }
  const size_t stride = ((static_cast<size_t>(w) * bpp + 31) / 32) * 4;
  if (!r.has(pixel_off, stride * static_cast<size_t>(h))) return invalid_argument("BMP pixel data is truncated");
  out->height = h;
  out->width = w;
  out->channels = 3;
  out->pixels.assign(static_cast<size_t>(h * w * 3), 0);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = data + pixel_off + stride * static_cast<size_t>(top_down ? y : h - 1 - y);
    uint8_t* dst = out->pixels.data() + y * w * 3;
    for (int64_t x = 0; x < w; ++x) {
      if (bpp == 8) {
        for (int c = 0; c < 3; ++c) dst[3 * x + c] = palette[row[x]][c];
      } else {
        const uint8_t* p = row + x * (bpp / 8);
        dst[3 * x] = p[2];
        dst[3 * x + 1] = p[1];
        dst[3 * x + 2] = p[0];
      }
    }
  }
  return ok_status();
}

Status decode_pnm(const uint8_t* data, size_t size, DecodedImage* out) {
  if (size < 2 || data[0] != 'P') return invalid_argument("not a PNM image");
  const char kind = static_cast<char>(data[1]);
  if (kind != '2' && kind != '3' && kind != '5' && kind != '6')
    return unimplemented(std::string("PNM variant P") + kind + " is not supported (only P2, P3, P5, P6)");
  size_t pos = 2;
  // Reads the next unsigned decimal header field, skipping whitespace and '#' comments.
  auto next_number = [&](int64_t* v) -> bool {
    while (pos < size) {
      if (data[pos] == '#') {
        while (pos < size && data[pos] != '\n') ++pos;
      } else if (std::isspace(data[pos])) {
        ++pos;
      } else {
        break;
      }
    }
    if (pos >= size || !std::isdigit(data[pos])) return false;
    *v = 0;
    while (pos < size && std::isdigit(data[pos])) {
      *v = *v * 10 + (data[pos++] - '0');
      if (*v > (int64_t{1} << 31)) return false;
    }
    return true;
  };
  int64_t w = 0, h = 0, maxval = 0;
  if (!next_number(&w) || !next_number(&h) || !next_number(&maxval)) return invalid_argument("PNM header is malformed");
  if (!dims_ok(w, h) || maxval <= 0) return invalid_argument("PNM has invalid dimensions or maxval");
  if (maxval > 255) return unimplemented("16-bit PNM images are not supported");
  const int channels = (kind == '3' || kind == '6') ? 3 : 1;
  const int64_t n = w * h * channels;
  out->height = h;
  out->width = w;
  out->channels = channels;
  out->pixels.assign(static_cast<size_t>(n), 0);
  auto scale = [&](int64_t v) { return static_cast<uint8_t>(maxval == 255 ? v : (v * 255 + maxval / 2) / maxval); };
  if (kind == '5' || kind == '6') {
    ++pos;  // the single whitespace byte after maxval
    if (pos > size || size - pos < static_cast<size_t>(n)) return invalid_argument("PNM pixel data is truncated");
    for (int64_t i = 0; i < n; ++i) out->pixels[i] = scale(data[pos + i]);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = 0;
      if (!next_number(&v) || v > maxval) return invalid_argument("PNM ASCII pixel data is malformed");
      out->pixels[i] = scale(v);
    }
  }
  return ok_status();
}

Status decode_tiff(const uint8_t* data, size_t size, DecodedImage* out) {
  Reader r{data, size};
  if (!r.has(0, 8)) return invalid_argument("TIFF data is truncated");
  if (data[0] == 'M' && data[1] == 'M') r.big_endian = true;
  else if (!(data[0] == 'I' && data[1] == 'I')) return invalid_argument("not a TIFF image");
  if (r.u16(2) != 42) return unimplemented("BigTIFF and non-standard TIFF variants are not supported");
  const size_t ifd = r.u32(4);
  if (!r.has(ifd, 2)) return invalid_argument("TIFF directory offset is out of range");
  const uint32_t entries = r.u16(ifd);
  if (!r.has(ifd + 2, entries * size_t{12})) return invalid_argument("TIFF directory is truncated");
  int64_t w = 0, h = 0, rows_per_strip = 0;
  uint32_t compression = 1, photometric = 2, spp = 1, planar = 1, bits = 8;
  std::vector<uint32_t> strip_offsets, strip_counts;
  // Reads all values of a SHORT/LONG entry.
  auto values = [&](size_t e, std::vector<uint32_t>* v) -> bool {
    const uint32_t type = r.u16(e + 2), count = r.u32(e + 4);
    const size_t width = type == 3 ? 2 : type == 4 ? 4 : 0;
    if (width == 0 || count > (1u << 24)) return false;
    size_t off = count * width <= 4 ? e + 8 : r.u32(e + 8);
    if (!r.has(off, count * width)) return false;
    v->clear();
    for (uint32_t i = 0; i < count; ++i) v->push_back(width == 2 ? r.u16(off + 2 * i) : r.u32(off + 4 * i));
    return true;
  };
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * size_t{i};
    const uint32_t tag = r.u16(e);
    std::vector<uint32_t> v;
    if (!values(e, &v) || v.empty()) continue;  // tags of other types are not needed
    switch (tag) {
      case 256: w = v[0]; break;
      case 257: h = v[0]; break;
      case 258: bits = v[0]; break;
      case 259: compression = v[0]; break;
      case 262: photometric = v[0]; break;
      case 273: strip_offsets = v; break;
      case 277: spp = v[0]; break;
      case 278: rows_per_strip = v[0]; break;
      case 279: strip_counts = v; break;
      case 284: planar = v[0]; break;
      default: break;
    }
  }
  if (!dims_ok(w, h)) return invalid_argument("TIFF has invalid dimensions");
  if (compression != 1) return unimplemented("compressed TIFF (compression " + std::to_string(compression) + ")");
  if (bits != 8 || planar != 1 || (spp != 1 && spp != 3 && spp != 4) || photometric > 2)
    return unimplemented("only 8-bit chunky gray/RGB(A) TIFF images are supported");
  if (strip_offsets.empty() || strip_offsets.size() != strip_counts.size())
    return invalid_argument("TIFF strip tables are missing or inconsistent");
  std::vector<uint8_t> raw;
  const size_t need = static_cast<size_t>(w * h * spp);
  for (size_t s = 0; s < strip_offsets.size() && raw.size() < need; ++s) {
    if (!r.has(strip_offsets[s], strip_counts[s])) return invalid_argument("TIFF strip is out of range");
    raw.insert(raw.end(), data + strip_offsets[s], data + strip_offsets[s] + strip_counts[s]);
  }
  (void)rows_per_strip;
  if (raw.size() < need) return invalid_argument("TIFF pixel data is truncated");
  out->height = h;
  out->width = w;
  out->channels = spp == 1 ? 1 : 3;
  out->pixels.assign(static_cast<size_t>(h * w * out->channels), 0);
  for (int64_t p = 0; p < h * w; ++p) {
    if (spp == 1) {
      out->pixels[p] = photometric == 0 ? 255 - raw[p] : raw[p];
    } else {
      for (int c = 0; c < 3; ++c) out->pixels[3 * p + c] = raw[p * spp + c];
    }
  }
  return ok_status();
}

}  // namespace kiln::control
