// zlib-backed HTTP content codings: bounded inflate of request bodies, deflate/gzip of responses.
#include "server/http_compression.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace kiln::server {

namespace {

std::string trim_lower(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out = s.substr(b, e - b);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One inflate pass with the given windowBits. Z_DATA_ERROR before any output lets the caller retry raw deflate.
ServerStatus inflate_with(int window_bits, const char* data, size_t size, size_t max_size, std::string* out,
                          bool* header_error) {
  *header_error = false;
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return server_error(ServerCode::kInternal, "cannot start zlib");
  out->clear();
  const size_t chunk = 256 * 1024;
  size_t fed = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0 && fed < size) {
      size_t n = std::min<size_t>(size - fed, std::numeric_limits<uInt>::max());
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data + fed));
      zs.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    if (out->size() >= max_size) {
      // Room is exhausted: any further output means the body is over the cap.
      char probe;
      zs.next_out = reinterpret_cast<Bytef*>(&probe);
      zs.avail_out = 1;
      rc = inflate(&zs, Z_NO_FLUSH);
      if (zs.avail_out == 0) {
        inflateEnd(&zs);
        return server_error(ServerCode::kPayloadTooLarge,
                            "decompressed request body is larger than the server's limit (--http-max-body-size " +
                                std::to_string(max_size) + " bytes)");
      }
    } else {
      size_t old = out->size();
      size_t grow = std::min(chunk, max_size - old);
      out->resize(old + grow);
      zs.next_out = reinterpret_cast<Bytef*>(out->data() + old);
      zs.avail_out = static_cast<uInt>(grow);
      rc = inflate(&zs, Z_NO_FLUSH);
      out->resize(old + grow - zs.avail_out);
    }
    if (rc == Z_STREAM_END) break;
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR) {
      *header_error = rc == Z_DATA_ERROR && zs.total_out == 0;
      std::string msg = zs.msg ? zs.msg : "corrupt data";
      inflateEnd(&zs);
      return server_error(ServerCode::kInvalidArgument, "cannot decompress the request body: " + msg);
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && fed >= size) {
      inflateEnd(&zs);
      return server_error(ServerCode::kInvalidArgument, "cannot decompress the request body: it is truncated");
    }
  }
  inflateEnd(&zs);
  return {};
}

}  // namespace

bool parse_content_encoding(const char* value, HttpEncoding* out) {
  std::string v = trim_lower(value ? value : "");
  if (v.empty() || v == "identity") {
    *out = HttpEncoding::kIdentity;
  } else if (v == "gzip" || v == "x-gzip") {
    *out = HttpEncoding::kGzip;
  } else if (v == "deflate") {
    *out = HttpEncoding::kDeflate;
  } else {
    return false;
  }
  return true;
}

HttpEncoding choose_response_encoding(const char* accept_encoding) {
  if (!accept_encoding || !*accept_encoding) return HttpEncoding::kIdentity;
  double q_gzip = -1, q_deflate = -1, q_star = -1;  // -1 = not named
  std::string header(accept_encoding);
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string::npos) comma = header.size();
    std::string item = header.substr(pos, comma - pos);
    pos = comma + 1;
    size_t semi = item.find(';');
    std::string coding = trim_lower(item.substr(0, semi));
    double q = 1.0;
    while (semi != std::string::npos) {  // parameters: only q matters
      size_t next = item.find(';', semi + 1);
      std::string param =
          trim_lower(item.substr(semi + 1, next == std::string::npos ? std::string::npos : next - semi - 1));
      if (param.rfind("q=", 0) == 0) q = std::strtod(param.c_str() + 2, nullptr);
      semi = next;
    }
    if (coding == "gzip" || coding == "x-gzip")
      q_gzip = std::max(q_gzip, q);
    else if (coding == "deflate")
      q_deflate = q;
    else if (coding == "*")
      q_star = q;
  }
  if (q_gzip < 0) q_gzip = q_star;
  if (q_deflate < 0) q_deflate = q_star;
  if (q_gzip <= 0 && q_deflate <= 0) return HttpEncoding::kIdentity;
  return q_gzip >= q_deflate ? HttpEncoding::kGzip : HttpEncoding::kDeflate;
}

const char* encoding_name(HttpEncoding encoding) {
  switch (encoding) {
    case HttpEncoding::kGzip:
      return "gzip";
    case HttpEncoding::kDeflate:
      return "deflate";
    case HttpEncoding::kIdentity:
      break;
  }
  return "identity";
}

ServerStatus decompress_body(HttpEncoding encoding, const char* data, size_t size, size_t max_size, std::string* out) {
  if (encoding == HttpEncoding::kIdentity) {
    if (size > max_size)
      return server_error(ServerCode::kPayloadTooLarge, "request body is larger than the server's limit");
    out->assign(data, size);
    return {};
  }
  bool header_error = false;
  // 15 + 16: gzip only; 15 + 32: zlib or gzip (auto-detected); -15: raw deflate.
  int bits = encoding == HttpEncoding::kGzip ? 15 + 16 : 15 + 32;
  ServerStatus st = inflate_with(bits, data, size, max_size, out, &header_error);
  if (!st.ok() && header_error && encoding == HttpEncoding::kDeflate)
    st = inflate_with(-15, data, size, max_size, out, &header_error);
  if (!st.ok() && st.code == ServerCode::kInvalidArgument)
    st.message = std::string(encoding_name(encoding)) + ": " + st.message;
  return st;
}

bool compress_body(HttpEncoding encoding, const char* in, size_t size, std::string* out) {
  if (encoding == HttpEncoding::kIdentity || size > std::numeric_limits<uInt>::max() / 2) return false;
  z_stream zs{};
  int bits = encoding == HttpEncoding::kGzip ? 15 + 16 : 15;
  if (deflateInit2(&zs, 1, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out->resize(deflateBound(&zs, static_cast<uLong>(size)));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  int rc = deflate(&zs, Z_FINISH);
  out->resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

}  // namespace kiln::server
