// HTTP content codings for kiln serve (gzip and deflate via zlib): request-body decompression with a size cap,
// response compression, and Accept-Encoding negotiation.
#pragma once
#include <cstddef>
#include <string>

#include "server/inference_server.h"

namespace kiln::server {

enum class HttpEncoding { kIdentity, kGzip, kDeflate };

// Content-Encoding header value -> encoding ("gzip", "x-gzip", "deflate", "identity"; case-insensitive, surrounding
// blanks ignored). false for anything else (the caller answers 415 naming the value).
bool parse_content_encoding(const char* value, HttpEncoding* out);

// The response coding an Accept-Encoding header allows: gzip preferred over deflate when both have the same
// q-value, q=0 excludes a coding, "*" stands for any coding not named. nullptr/empty header -> kIdentity.
HttpEncoding choose_response_encoding(const char* accept_encoding);

const char* encoding_name(HttpEncoding encoding);

// Decompresses `data` into *out. Never produces more than `max_size` bytes: a larger result is kPayloadTooLarge
// (a decompression bomb costs at most max_size bytes). Corrupt or truncated data is kInvalidArgument. "deflate"
// accepts the zlib format (RFC 1950, what HTTP means and tritonclient sends) and raw deflate (RFC 1951).
ServerStatus decompress_body(HttpEncoding encoding, const char* data, size_t size, size_t max_size, std::string* out);

// Compresses `in` (fast level) into *out as gzip or zlib-wrapped deflate. false on a zlib failure.
bool compress_body(HttpEncoding encoding, const char* in, size_t size, std::string* out);

}  // namespace kiln::server
