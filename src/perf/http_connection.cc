// A keep-alive HTTP/1.1 client connection (POSIX sockets): Content-Length and chunked responses.
#include "perf/http_connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

namespace kiln::perf {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
bool icontains(std::string_view hay, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (strncasecmp(hay.data() + i, needle.data(), needle.size()) == 0) return true;
  return false;
}

// Largest response kiln perf accepts (outputs of a big batch still fit).
constexpr size_t kMaxResponseBytes = size_t{1} << 30;

}  // namespace

std::string url_escape(const std::string& segment) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

HttpConnection::~HttpConnection() { close_socket(); }

void HttpConnection::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
  pos_ = 0;
  server_closes_ = false;
}

Result<int> connect_tcp(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0) return not_found("cannot resolve '" + host + "': " + gai_strerror(rc));
  int err = 0, fd = -1;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    return failed_precondition("cannot connect to " + host + ":" + port_text + ": " +
                               std::strerror(err ? err : ECONNREFUSED));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

Status HttpConnection::connect() {
  close_socket();
  KILN_ASSIGN_OR_RETURN(fd_, connect_tcp(host_, port_));
  return ok_status();
}

std::string HttpConnection::make_get(const std::string& path) const {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host_ + ":" + std::to_string(port_) +
         "\r\nConnection: keep-alive\r\n\r\n";
}

std::string HttpConnection::make_post_head(const std::string& path, const std::string& content_type, size_t body_size,
                                           const std::string& extra) const {
  return "POST " + path + " HTTP/1.1\r\nHost: " + host_ + ":" + std::to_string(port_) +
         "\r\nConnection: keep-alive\r\nContent-Type: " + content_type + "\r\n" + extra +
         "Content-Length: " + std::to_string(body_size) + "\r\n\r\n";
}

Status HttpConnection::send_all(const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed_precondition(std::string("send failed: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return ok_status();
}

Status HttpConnection::fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  const size_t old = buf_.size();
  buf_.resize(old + 65536);
  for (;;) {
    ssize_t n = ::recv(fd_, buf_.data() + old, 65536, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      buf_.resize(old);
      return failed_precondition(n == 0 ? "the server closed the connection"
                                        : std::string("recv failed: ") + std::strerror(errno));
    }
    buf_.resize(old + static_cast<size_t>(n));
    return ok_status();
  }
}

Status HttpConnection::read_response(HttpResponse* response) {
  // Headers.
  size_t header_end;
  bool first = true;
  while ((header_end = buf_.find("\r\n\r\n", pos_)) == std::string::npos) {
    if (buf_.size() - pos_ > 65536) return data_loss("response headers are too long");
    KILN_RETURN_IF_ERROR(fill());
    if (first) response->first_byte_ns = now_ns();
    first = false;
  }
  if (first) response->first_byte_ns = now_ns();
  const char* h = buf_.data() + pos_;
  const size_t hlen = header_end - pos_;
  if (hlen < 12 || std::strncmp(h, "HTTP/1.", 7) != 0) return data_loss("malformed HTTP response");
  response->status = std::atoi(h + 9);
  int64_t content_length = -1;
  bool chunked = false;
  server_closes_ = false;
  // Header lines are scanned in place (no per-response allocation).
  std::string_view headers(h, hlen);
  size_t line = headers.find("\r\n");
  while (line != std::string_view::npos && line + 2 < headers.size()) {
    const size_t next = headers.find("\r\n", line + 2);
    std::string_view l = headers.substr(line + 2, (next == std::string_view::npos ? headers.size() : next) - line - 2);
    const size_t colon = l.find(':');
    if (colon != std::string_view::npos) {
      std::string_view key = l.substr(0, colon);
      std::string_view value = l.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (iequals(key, "Content-Length")) content_length = std::strtoll(value.data(), nullptr, 10);
      if (iequals(key, "Transfer-Encoding") && icontains(value, "chunked")) chunked = true;
      if (iequals(key, "Connection") && icontains(value, "close")) server_closes_ = true;
    }
    line = next;
  }
  pos_ = header_end + 4;
  response->body.clear();
  if (chunked) {
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n", pos_)) == std::string::npos) KILN_RETURN_IF_ERROR(fill());
      const size_t size = std::strtoull(buf_.c_str() + pos_, nullptr, 16);
      pos_ = eol + 2;
      if (response->body.size() + size > kMaxResponseBytes) return data_loss("response too large");
      while (buf_.size() - pos_ < size + 2) KILN_RETURN_IF_ERROR(fill());
      response->body.append(buf_, pos_, size);
      pos_ += size + 2;
      if (size == 0) break;  // (trailers are not used by servers kiln perf talks to)
    }
  } else if (content_length >= 0) {
    if (static_cast<size_t>(content_length) > kMaxResponseBytes) return data_loss("response too large");
    while (buf_.size() - pos_ < static_cast<size_t>(content_length)) KILN_RETURN_IF_ERROR(fill());
    response->body.assign(buf_, pos_, static_cast<size_t>(content_length));
    pos_ += static_cast<size_t>(content_length);
  } else {
    // No length: the body runs to the end of the connection.
    while (fill().ok()) {
    }
    response->body.assign(buf_, pos_, std::string::npos);
    pos_ = buf_.size();
    server_closes_ = true;
  }
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return ok_status();
}

Status HttpConnection::request(const std::string& raw_request, HttpResponse* response) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = fd_ < 0;
    if (fresh) KILN_RETURN_IF_ERROR(connect());
    Status st = send_all(raw_request);
    if (st.ok()) {
      response->sent_ns = now_ns();
      st = read_response(response);
    }
    if (st.ok()) {
      if (server_closes_) close_socket();
      return st;
    }
    close_socket();
    // A reused connection may have been closed by the server while idle: retry once on a fresh one.
    if (fresh) return st.with_context("HTTP " + host_ + ":" + std::to_string(port_));
  }
  return failed_precondition("HTTP " + host_ + ":" + std::to_string(port_) + ": connection lost");
}

}  // namespace kiln::perf
