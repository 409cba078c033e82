// HTTP plumbing below evhttp's request handling: listening sockets, the open-file limit and connection cap,
// request path splitting, framing checks, and the per-connection buffer watchers (chunk-size sniffing, evhttp's own
// HTML error pages rewritten as the protocol's JSON errors).
#include "server/http_connection.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "server/http_codec.h"

namespace kiln::server {

// reuseport: every loop binds its own socket to the same port. Without it the bind fails when any other
// socket holds the port, which is how a busy port is detected before the shared binds.
Result<int> make_listener(const std::string& host, int port, bool reuseport) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return invalid_argument("cannot resolve host '" + host + "': " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return invalid_argument("cannot listen on " + host + ":" + std::to_string(port) + ": " + last_error);
}

int bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// Raises RLIMIT_NOFILE's soft limit to the hard limit once per process; returns the soft limit in effect.
int open_file_limit() {
  static const int limit = [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : std::min<rlim_t>(rl.rlim_max, rlim_t{1} << 20);
    if (rl.rlim_cur < want) {
      rlim_t old = rl.rlim_cur;
      rl.rlim_cur = want;
      if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_json("info", "raised the open-file limit", {{"from", std::to_string(old)}, {"to", std::to_string(want)}});
      else
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, INT_MAX));
  }();
  return limit;
}

// The HTTP connection cap: the asked cap, lowered so that gRPC, model files and shared-memory regions keep
// max(256, limit/4) descriptors.
int connection_cap(int asked) {
  int limit = open_file_limit();
  int allowed = std::max(16, limit - std::max(256, limit / 4));
  return std::max(1, std::min(asked, allowed));
}

std::vector<std::string> split_path(const char* path) {
  std::vector<std::string> out;
  if (!path) return out;
  std::string p(path);
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) {
      size_t n = 0;
      char* dec = evhttp_uridecode(p.substr(i, j - i).c_str(), 0, &n);
      out.emplace_back(dec ? std::string(dec, n) : p.substr(i, j - i));
      std::free(dec);
    }
    i = j;
  }
  return out;
}

bool shm_path_parts(const std::vector<std::string>& seg, std::string* name, std::string* action) {
  if (seg.size() == 3) {
    *action = seg[2];
  } else if (seg.size() == 5 && seg[2] == "region") {
    *name = seg[3];
    *action = seg[4];
  } else {
    return false;
  }
  return true;
}

bool duplicate_content_length(evhttp_request* req) {
  int count = 0;
  for (evkeyval* h = evhttp_request_get_input_headers(req)->tqh_first; h; h = h->next.tqe_next)
    if (evutil_ascii_strcasecmp(h->key, "Content-Length") == 0) ++count;
  return count > 1;
}


// Input-buffer callback: hands each removal, with the bytes it removed where the saved head holds them, to the
// connection's chunked-framing check, then saves the new head (64 bytes per change).
void sniff_input(evbuffer* buf, const evbuffer_cb_info* info, void* arg) {
  auto* c = static_cast<ConnState*>(arg);
  if (info->n_deleted > 0) c->framing.consumed(c->head, info->n_deleted, std::min(info->n_deleted, c->head_len));
  ev_ssize_t got = evbuffer_copyout(buf, c->head, sizeof c->head);
  c->head_len = got > 0 ? static_cast<size_t>(got) : 0;
}

// evhttp answers some errors itself, before any callback of ours runs: 413 for a body over the limit, 400 for a
// malformed request line or headers, 405/501 for methods, 408 on timeouts. It writes them as an HTML page
// ("<HTML><HEAD>...<H1>reason</H1></BODY></HTML>\n") with Content-Type text/html. This callback watches what is
// queued on each connection's output and rewrites such a page, once it is complete, into the protocol's
// {"error": "..."} with Content-Type application/json, before anything is written to the socket (evhttp queues the
// whole response first; the socket write happens later in the event loop).
void json_error_pages(evbuffer* buf, const evbuffer_cb_info* info, void* arg) {
  static constexpr char kTail[] = "</BODY></HTML>\n";
  constexpr size_t kTailLen = sizeof kTail - 1;
  const size_t len = evbuffer_get_length(buf);
  // The page body arrives in one add of at least ~90 bytes; header lines (short adds) are skipped at once.
  if (info->n_added < 64 || len > 4096) return;
  evbuffer_ptr pos;
  if (evbuffer_ptr_set(buf, &pos, len - kTailLen, EVBUFFER_PTR_SET) != 0) return;
  char tail[kTailLen];
  if (evbuffer_copyout_from(buf, &pos, tail, kTailLen) != static_cast<ev_ssize_t>(kTailLen) ||
      std::memcmp(tail, kTail, kTailLen) != 0)
    return;
  std::string text(reinterpret_cast<const char*>(evbuffer_pullup(buf, -1)), len);
  // Only a buffer that holds exactly one evhttp error page (status line first, text/html, the page as the body).
  size_t head_end = text.find("\r\n\r\n");
  if (text.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos ||
      text.find("Content-Type: text/html\r\n") > head_end || text.compare(head_end + 4, 6, "<HTML>") != 0)
    return;
  size_t h1 = text.find("<H1>", head_end), h1_end = text.find("</H1>", head_end);
  std::string reason = h1 != std::string::npos && h1_end > h1 ? text.substr(h1 + 4, h1_end - h1 - 4) : "error";
  size_t line_end = text.find("\r\n");
  std::string status_line = text.substr(0, line_end);
  int code = 0;
  if (status_line.size() > 12) code = std::atoi(status_line.c_str() + 9);
  std::string message = reason;
  if (code == 413) message = "request body is larger than the server's limit (--http-max-body-size)";
  if (code == 413 && arg && !static_cast<ConnState*>(arg)->framing.error().empty()) {
    // evhttp reports a malformed chunk size line as "too long": it is a malformed request.
    code = 400;
    status_line = "HTTP/1.1 400 Bad Request";
    message = "malformed chunked request body: " + static_cast<ConnState*>(arg)->framing.error();
  }
  std::string body = error_json(message);
  std::string head = status_line + "\r\n";
  size_t p = line_end + 2;
  while (p < head_end) {  // keep every header but the content type and length
    size_t e = text.find("\r\n", p);
    std::string h = text.substr(p, e - p);
    if (h.rfind("Content-Type:", 0) != 0 && h.rfind("Content-Length:", 0) != 0) head += h + "\r\n";
    p = e + 2;
  }
  head += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  evbuffer_drain(buf, len);
  evbuffer_add(buf, head.data(), head.size());  // re-enters this callback: it is not a page any more
  evbuffer_add(buf, body.data(), body.size());
}

}  // namespace kiln::server
