// A minimal keep-alive HTTP/1.1 client connection over a POSIX socket, for kiln perf.
#pragma once
#include <cstdint>
#include <string>

#include "kiln/status.h"

namespace kiln::perf {

struct HttpResponse {
  int status = 0;
  std::string body;           // reused between calls: its capacity stays
  int64_t sent_ns = 0;        // steady clock when the request was fully written
  int64_t first_byte_ns = 0;  // steady clock when the first response byte arrived
};

// One TCP connection. request() sends a complete, prebuilt HTTP request and reads one response; when the
// server closed an idle keep-alive connection, it reconnects and resends once. Not thread-safe.
class HttpConnection {
 public:
  HttpConnection(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  Status connect();
  Status request(const std::string& raw_request, HttpResponse* response);
  // A prebuilt GET request for `path`.
  std::string make_get(const std::string& path) const;
  // The request line and headers for a POST of `body_size` bytes; `extra` is more header lines ("K: V\r\n").
  std::string make_post_head(const std::string& path, const std::string& content_type, size_t body_size,
                             const std::string& extra) const;
  const std::string& host() const { return host_; }
  int port() const { return port_; }

 private:
  Status send_all(const std::string& data);
  Status read_response(HttpResponse* response);
  Status fill();  // reads more bytes into buf_
  void close_socket();

  std::string host_;
  int port_;
  int fd_ = -1;
  std::string buf_;  // received, not yet consumed bytes
  size_t pos_ = 0;   // consumed prefix of buf_
  bool server_closes_ = false;
};

// A connected TCP socket (blocking, TCP_NODELAY) to host:port.
Result<int> connect_tcp(const std::string& host, int port);

// Percent-encodes a path segment (model names are user data).
std::string url_escape(const std::string& segment);

}  // namespace kiln::perf
