// ChunkedFraming: the strict chunked-body check, fed the removals evhttp 2.1 makes (a line: its content, then its
// EOL; a chunk's data: one removal), simulated here from raw requests.
#include "server/chunked_framing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln::server {
namespace {

struct Removal {
  std::string bytes;
};

// The removals evhttp makes reading `request` (request line, headers, then a chunked body with its lenient
// strtoll sizes), stopping where evhttp would fail. Each removal's bytes are all known (the front end saves 64).
std::vector<Removal> evhttp_removals(const std::string& request) {
  std::vector<Removal> out;
  size_t pos = 0;
  auto line = [&](bool* ok) {
    size_t nl = request.find('\n', pos);
    if (nl == std::string::npos) {
      *ok = false;
      return std::string();
    }
    size_t end = nl > pos && request[nl - 1] == '\r' ? nl - 1 : nl;
    std::string content = request.substr(pos, end - pos);
    if (!content.empty()) out.push_back({content});
    out.push_back({request.substr(end, nl + 1 - end)});
    pos = nl + 1;
    *ok = true;
    return content;
  };
  bool ok = true;
  while (ok && line(&ok).empty()) {  // empty lines before the request line are skipped
  }
  while (ok && !line(&ok).empty()) {  // header lines
  }
  while (ok) {  // evhttp_handle_chunked_read
    std::string size = line(&ok);
    if (!ok) break;
    if (size.empty()) continue;
    char* endp = nullptr;
    long long n = std::strtoll(size.c_str(), &endp, 16);
    if (*endp != '\0' && *endp != ' ') break;  // evhttp: DATA_CORRUPTED
    if (n <= 0) {
      while (ok && !line(&ok).empty()) {  // trailers
      }
      break;
    }
    if (request.size() - pos < static_cast<size_t>(n)) break;
    out.push_back({request.substr(pos, static_cast<size_t>(n))});
    pos += static_cast<size_t>(n);
  }
  return out;
}

ChunkedFraming feed(const std::string& request, size_t known_cap = 64) {
  ChunkedFraming f;
  for (const Removal& r : evhttp_removals(request))
    f.consumed(r.bytes.data(), r.bytes.size(), std::min(r.bytes.size(), known_cap));
  return f;
}

const std::string kHead = "POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(ChunkedFraming, ExactBodiesPass) {
  const std::string big(300, 'q');
  for (const std::string& body :
       {std::string("0\r\n\r\n"), std::string("2\r\n{}\r\n0\r\n\r\n"), std::string("A\r\n0123456789\r\n0\r\n\r\n"),
std::string("12c\r\n") + big + "\r\n0\r\n\r\n",
        std::string("2\r\n\r\n\r\n0\r\n\r\n"),  // data that is itself CR LF
        std::string("1\r\nx\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n"), std::string("00000001\r\nx\r\n000\r\n\r\n")}) {
    ChunkedFraming f = feed(kHead + body);
    EXPECT_TRUE(f.exact()) << body << ": " << f.error();
    EXPECT_EQ(f.error(), "") << body;
  }
}

TEST(ChunkedFraming, LenientSizesAndFramingAreNamed) {
  struct Case {
    std::string body, error;
  };
  for (const Case& c : std::vector<Case>{
           {"0x2\r\n{}\r\n0\r\n\r\n", "chunk size line '0x2' is not hex digits"},
           {"+2\r\n{}\r\n0\r\n\r\n", "chunk size line '+2' is not hex digits"},
           {" 2\r\n{}\r\n0\r\n\r\n", "chunk size line ' 2' is not hex digits"},
           {"2 junk\r\n{}\r\n0\r\n\r\n", "chunk size line '2 junk' is not hex digits"},
           {"2 \r\n{}\r\n0\r\n\r\n", "chunk size line '2 ' is not hex digits"},  // evhttp takes it; RFC 9112 does not
           {"-0\r\n\r\n", "chunk size line '-0' is not hex digits"},
           {"2;name=value\r\n{}\r\n0\r\n\r\n", "chunk size line '2;name=value' has a chunk extension (not supported)"},
           {"\r\n2\r\n{}\r\n0\r\n\r\n", "empty line where a chunk size line belongs"},
           {"2\r\n{}1\r\nx\r\n0\r\n\r\n", "chunk data not followed by CR LF"},
           {"2\n{}\r\n0\r\n\r\n", "chunk size line not ended by CR LF"},
           {"00000000000000001\r\nx\r\n0\r\n\r\n", "chunk size line '00000000000000001' has more than 16 hex digits"},
           {std::string(70, '0') + "1\r\nx\r\n0\r\n\r\n", "chunk size line longer than 64 bytes"},
           {"2\x01\r\n{}\r\n0\r\n\r\n", "chunk size line '2\\x01' is not hex digits"},
       }) {
    ChunkedFraming f = feed(kHead + c.body);
    EXPECT_FALSE(f.exact()) << c.body;
    EXPECT_EQ(f.error(), c.error) << c.body;
  }
}

TEST(ChunkedFraming, UnknownBytesOfALongSizeLineAreRefused) {
  ChunkedFraming f = feed(kHead + "1" + std::string(40, ' ') + "\r\nx\r\n0\r\n\r\n", 16);
  EXPECT_EQ(f.error(), "chunk size line longer than 64 bytes");
}

TEST(ChunkedFraming, ResetsPerRequestAndLeadingEmptyLinesAreSkipped) {
  ChunkedFraming f = feed(kHead + "0x1\r\nx\r\n0\r\n\r\n");
  EXPECT_FALSE(f.exact());
  f.reset();
  for (const Removal& r : evhttp_removals("\r\n" + kHead + "3\r\nabc\r\n0\r\n\r\n"))
    f.consumed(r.bytes.data(), r.bytes.size(), r.bytes.size());
  EXPECT_TRUE(f.exact()) << f.error();
  // A removal after a complete body starts the next request (no reset in between).
  for (const Removal& r : evhttp_removals(kHead + "1\r\n\n\r\n0\r\n\r\n"))
    f.consumed(r.bytes.data(), r.bytes.size(), r.bytes.size());
  EXPECT_TRUE(f.exact()) << f.error();
}

TEST(ChunkedFraming, HeaderLinesNeverCountAsBody) {
  // Long header lines (unknown bytes) and header values that look like sizes.
  const std::string head = "POST /x HTTP/1.1\r\nX-Long: " + std::string(200, 'h') + "\r\nX-Size: 0x2\r\n" +
                           "Transfer-Encoding: chunked\r\n\r\n";
  ChunkedFraming f = feed(head + "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(f.exact()) << f.error();
}

}  // namespace
}  // namespace kiln::server
