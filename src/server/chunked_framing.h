// Strict chunked-body framing (RFC 9112 section 7.1), checked from what evhttp consumes of a connection's input.
// evhttp 2.1 reads chunk sizes with strtoll(.., 16) and is lenient where a proxy in front of Kiln may not be: it takes
// "0x2", "+2", " 2" and "2 junk" as sizes, skips empty lines where a size belongs and does not need the CRLF after a
// chunk's data. Two parsers that disagree on where a body ends are how requests are smuggled, so the HTTP front end
// refuses (400, connection closed) any chunked request whose framing this class does not find exact.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::server {

class ChunkedFraming {
 public:
  // One removal from the connection's input buffer, in order: `n` bytes, of which the first `known` (<= n) are in
  // `bytes`. evhttp removes a line as two removals (its content, then its CR LF or LF) and a chunk's data as one.
  void consumed(const char* bytes, size_t n, size_t known);
  // The request was handed over (or answered): the next removal belongs to a new request line.
  void reset();
  // Whether the last request's chunked body was framed exactly: 1-16 hex digits, CR LF, exactly
  // that many bytes, CR LF, ... "0" CR LF, trailer lines, CR LF. Only meaningful for a chunked request.
  bool exact() const { return phase_ == Phase::kDone; }
  // What was wrong (empty while nothing was): "chunk size line '0x2' is not hex digits", ...
  const std::string& error() const { return error_; }

 private:
  enum class Phase { kHead, kSize, kSizeEol, kData, kDataEol, kTrailers, kDone, kInvalid };
  void fail(std::string why);
  void size_line(const char* bytes, size_t n, size_t known);

  Phase phase_ = Phase::kHead;
  bool last_was_eol_ = false;  // the previous removal ended a line
  bool seen_line_ = false;     // a request line was read (empty lines before it are skipped)
  uint64_t remaining_ = 0;     // the chunk size being read
  std::string error_;
};

}  // namespace kiln::server
