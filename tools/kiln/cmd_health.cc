// kiln health --url URL: a shell-free probe (container HEALTHCHECK): exit 0 when URL answers HTTP 200, else 1.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "tools/kiln/commands.h"

namespace kiln::cli {

namespace {

struct HttpUrl {
  std::string host, port = "80", path = "/";
};

// Parses http://HOST[:PORT][/PATH] (HOST may be [IPv6]). Returns an empty string on success, else what is wrong.
std::string parse_url(const std::string& url, HttpUrl* out) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return "URL must start with http:// (got '" + url + "')";
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out->path = rest.substr(slash);
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return "unterminated [IPv6] host in '" + url + "'";
    out->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "bad text after ] in '" + url + "'";
      out->port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    out->host = authority.substr(0, colon);
    if (colon != std::string::npos) out->port = authority.substr(colon + 1);
  }
  if (out->host.empty()) return "no host in '" + url + "'";
  if (out->port.empty() || out->port.find_first_not_of("0123456789") != std::string::npos || out->port.size() > 5 ||
      std::stoi(out->port) < 1 || std::stoi(out->port) > 65535)
    return "bad port '" + out->port + "' in '" + url + "'";
  return "";
}

// Waits for fd to be ready for `events` until the deadline; false on timeout or error.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(left.count())) == 1 && (p.revents & (events | POLLHUP));
}

// GET url within timeout_ms. Returns the HTTP status code, or -1 with *error set.
int http_get_status(const HttpUrl& u, int timeout_ms, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res); rc != 0) {
    *error = "cannot resolve '" + u.host + "': " + gai_strerror(rc);
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  *error = "cannot connect to " + u.host + ":" + u.port;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    std::unique_ptr<int, void (*)(int*)> close_fd(&fd, [](int* f) { ::close(*f); });
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) continue;
    if (!wait_fd(fd, POLLOUT, deadline)) continue;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) continue;
    const std::string req = "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + "\r\nConnection: close\r\n\r\n";
    size_t sent = 0;
    while (sent < req.size()) {
      if (!wait_fd(fd, POLLOUT, deadline)) return *error = "timed out sending to " + u.host + ":" + u.port, -1;
      ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return *error = "connection to " + u.host + ":" + u.port + " closed while sending", -1;
      sent += static_cast<size_t>(n);
    }
    std::string head;  // the status line is all that is read
    char buf[512];
    while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
      if (!wait_fd(fd, POLLIN, deadline)) return *error = "timed out waiting for " + u.host + ":" + u.port, -1;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    int code = 0;
    if (std::sscanf(head.c_str(), "HTTP/%*d.%*d %d", &code) != 1 || code < 100 || code > 599)
      return *error = "no HTTP status line from " + u.host + ":" + u.port, -1;
    return code;
  }
  return -1;
}

}  // namespace

std::function<int()> add_health_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "health", "Probe a server's health endpoint: exit 0 when it answers HTTP 200, 1 otherwise (container HEALTHCHECK)");
  struct Args {
    std::string url = "http://127.0.0.1:8000/v2/health/ready";
    double timeout_secs = 3;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--url", a->url, "http:// URL to GET (default http://127.0.0.1:8000/v2/health/ready)");
  cmd->add_option("--timeout", a->timeout_secs, "Seconds to wait for the answer (default 3)")
      ->check(CLI::Range(0.001, 3600.0));
  cmd->add_flag("-q,--quiet", a->quiet, "Print nothing when healthy");
  return [a]() {
    HttpUrl u;
    if (std::string bad = parse_url(a->url, &u); !bad.empty()) {
      std::fprintf(stderr, "kiln health: error: %s\n", bad.c_str());
      return 2;
    }
    std::string error;
    int code = http_get_status(u, static_cast<int>(a->timeout_secs * 1000), &error);
    if (code < 0) {
      std::fprintf(stderr, "kiln health: unhealthy: %s\n", error.c_str());
      return 1;
    }
    if (code != 200) {
      std::fprintf(stderr, "kiln health: unhealthy: %s answered HTTP %d\n", a->url.c_str(), code);
      return 1;
    }
    if (!a->quiet) std::printf("kiln health: %s answered HTTP 200\n", a->url.c_str());
    return 0;
  };
}

}  // namespace kiln::cli
