// ChunkedFraming: a strict chunked-body state machine fed by evhttp's removals from the input buffer.
#include "server/chunked_framing.h"

#include <cctype>

namespace kiln::server {

namespace {

constexpr size_t kMaxSizeLine = 64;  // hex digits and blanks; longer size lines are refused

bool is_crlf(const char* b, size_t n, size_t known) { return n == 2 && known == 2 && b[0] == '\r' && b[1] == '\n'; }
bool is_eol(const char* b, size_t n, size_t known) { return is_crlf(b, n, known) || (n == 1 && known == 1 && b[0] == '\n'); }

// The line as printable ASCII for an error message (other bytes as \xHH).
std::string printable(const char* b, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(b[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

void ChunkedFraming::reset() {
  phase_ = Phase::kHead;
  last_was_eol_ = false;
  seen_line_ = false;
  remaining_ = 0;
  error_.clear();
}

void ChunkedFraming::fail(std::string why) {
  phase_ = Phase::kInvalid;
  error_ = std::move(why);
}

void ChunkedFraming::size_line(const char* bytes, size_t n, size_t known) {
  if (known < n || n > kMaxSizeLine) return fail("chunk size line longer than 64 bytes");
  size_t digits = 0;
  uint64_t value = 0;
  while (digits < n && std::isxdigit(static_cast<unsigned char>(bytes[digits]))) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(bytes[digits])));
    value = value * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    ++digits;
  }
  size_t rest = digits;  // blanks are allowed only before a chunk extension's ';' (BWS)
  while (rest < n && (bytes[rest] == ' ' || bytes[rest] == '\t')) ++rest;
  const std::string line = "chunk size line '" + printable(bytes, n) + "'";
  if (digits == 0 || (digits < n && (rest == n || bytes[rest] != ';'))) return fail(line + " is not hex digits");
  if (digits < n) return fail(line + " has a chunk extension (not supported)");
  if (digits > 16) return fail(line + " has more than 16 hex digits");
  remaining_ = value;
  phase_ = Phase::kSizeEol;
}

void ChunkedFraming::consumed(const char* bytes, size_t n, size_t known) {
  if (n == 0) return;
  if (known > n) known = n;
  const bool eol = is_eol(bytes, n, known);
  switch (phase_) {
    case Phase::kHead:  // request line and header lines; the empty line after them starts the body
      if (eol && seen_line_ && last_was_eol_) phase_ = Phase::kSize;
      if (!eol) seen_line_ = true;
      break;
    case Phase::kSize:
      if (eol) return fail("empty line where a chunk size line belongs");
      size_line(bytes, n, known);
      break;
    case Phase::kSizeEol:
      if (!is_crlf(bytes, n, known)) return fail("chunk size line not ended by CR LF");
      phase_ = remaining_ == 0 ? Phase::kTrailers : Phase::kData;
      break;
    case Phase::kData:
      if (n != remaining_) return fail("chunk data of " + std::to_string(n) + " bytes read for a size of " +
                                       std::to_string(remaining_));
      phase_ = Phase::kDataEol;
      break;
    case Phase::kDataEol:
      if (!is_crlf(bytes, n, known)) return fail("chunk data not followed by CR LF");
      phase_ = Phase::kSize;
      break;
    case Phase::kTrailers:  // trailer lines until an empty one
      if (eol && last_was_eol_) phase_ = Phase::kDone;
      break;
    case Phase::kDone:  // nothing of the request is left: a removal now is the next request's
      reset();
      consumed(bytes, n, known);
      return;
    case Phase::kInvalid:
      return;
  }
  last_was_eol_ = eol;
}

}  // namespace kiln::server
