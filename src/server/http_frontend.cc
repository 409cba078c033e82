// evhttp front end: N event loops with SO_REUSEPORT listeners; infer replies are built on scheduler threads and
// handed back to the connection's loop with event_base_once (libevent is built thread-safe via evthread).
#include "server/http_frontend.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "server/http_codec.h"
#include "server/http_extensions.h"  // H4
#include "server/trace.h"            // H4: log_verbose_level()
#include "server/scheduler.h"
#include "server/shm_registry.h"

namespace kiln::server {

namespace {

constexpr long kWatchDelayUs = 2000;
constexpr size_t kMaxSingleRead = size_t{1} << 20;

struct Loop {
  HttpFrontend::Impl* owner = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  evhttp_bound_socket* bound = nullptr;
  std::thread thread;
};

// A reply produced off the loop thread (infer, load, unload), delivered on the connection's loop.
struct Deferred {
  Loop* loop = nullptr;
  evhttp_request* req = nullptr;
  // Disconnect detection: a timer (no syscalls) arms the socket watch only for requests still pending after
  // kWatchDelayUs, so fast requests skip the two epoll_ctl calls a watch costs.
  event timer_ev;
  event watch_ev;
  bool timer_set = false, watch_set = false;
  bool gone = false;
  std::shared_ptr<InferHandle> handle;
  int code = 200;
  std::string body;
  const char* content_type = "application/json";
  int64_t header_length = -1;
  OutputPrefs prefs;
  std::string request_id, model, path;
  uint64_t start_ns = 0;
};

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

void add_body(evhttp_request* req, std::string&& body) {
  auto* owned = new std::string(std::move(body));
  evbuffer_add_reference(
      evhttp_request_get_output_buffer(req), owned->data(), owned->size(),
      [](const void*, size_t, void* p) { delete static_cast<std::string*>(p); }, owned);
}

void reply(evhttp_request* req, int code, std::string body, const char* content_type = "application/json") {
  evkeyvalq* h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", content_type);
  add_body(req, std::move(body));
  evhttp_send_reply(req, code, nullptr, nullptr);
}

void reply_error(evhttp_request* req, int code, const std::string& message) { reply(req, code, error_json(message)); }

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

// evhttp answers some errors itself, before any callback of ours runs: 413 for a body over the limit, 400 for a
// malformed request line or headers, 405/501 for methods, 408 on timeouts. It writes them as an HTML page
// ("<HTML><HEAD>...<H1>reason</H1></BODY></HTML>\n") with Content-Type text/html. This callback watches what is
// queued on each connection's output and rewrites such a page, once it is complete, into the protocol's
// {"error": "..."} with Content-Type application/json, before anything is written to the socket (evhttp queues the
// whole response first; the socket write happens later in the event loop).
void json_error_pages(evbuffer* buf, const evbuffer_cb_info* info, void*) {
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

}  // namespace

struct HttpFrontend::Impl {
  InferenceServer* server = nullptr;
  HttpOptions opts;
  bool metrics_only = false;
  int port = 0;
  std::vector<std::unique_ptr<Loop>> loops;
  std::atomic<int64_t> outstanding{0};
  std::atomic<bool> accepting{true};
  bool stopped = false;

  void handle(Loop* loop, evhttp_request* req);
  void handle_infer(Loop* loop, evhttp_request* req, const std::string& model, const std::string& version,
                    const std::string& path);
  void handle_shm(evhttp_request* req, const std::vector<std::string>& seg, bool get, bool post);
  void run_async(Loop* loop, evhttp_request* req, std::function<ServerStatus()> work);
  static void post(Deferred* d);
  static void deliver(evutil_socket_t, short, void* arg);
  static void client_readable(evutil_socket_t fd, short, void* arg);
  void watch_client(Deferred* d);
};

void HttpFrontend::Impl::post(Deferred* d) {
  if (event_base_once(d->loop->base, -1, EV_TIMEOUT, &Impl::deliver, d, nullptr) != 0) {
    // Only fails when out of memory; the connection then never gets an answer, but nothing leaks into use.
    log_json("error", "cannot schedule an HTTP reply", {{"request_id", d->request_id}});
  }
}

void HttpFrontend::Impl::client_readable(evutil_socket_t fd, short, void* arg) {
  auto* d = static_cast<Deferred*>(arg);
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    d->gone = true;
    if (d->handle) d->handle->cancel();
  }
  // n > 0: a pipelined request; evhttp reads it after our reply. The watch is one-shot either way.
}

void HttpFrontend::Impl::watch_client(Deferred* d) {
  event_assign(
      &d->timer_ev, d->loop->base, -1, 0,
      [](evutil_socket_t, short, void* arg) {
        auto* d = static_cast<Deferred*>(arg);
        evhttp_connection* conn = evhttp_request_get_connection(d->req);
        bufferevent* bev = conn ? evhttp_connection_get_bufferevent(conn) : nullptr;
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        if (fd < 0) return;
        event_assign(&d->watch_ev, d->loop->base, fd, EV_READ, &Impl::client_readable, d);
        d->watch_set = event_add(&d->watch_ev, nullptr) == 0;
      },
      d);
  timeval tv{0, kWatchDelayUs};
  d->timer_set = event_add(&d->timer_ev, &tv) == 0;
}

void HttpFrontend::Impl::deliver(evutil_socket_t, short, void* arg) {
  auto* d = static_cast<Deferred*>(arg);
  Impl* self = d->loop->owner;
  if (d->timer_set) event_del(&d->timer_ev);
  if (d->watch_set) event_del(&d->watch_ev);
  if (d->gone) {
    // The client closed its connection: drop the reply and free the connection (and the request with it).
    if (evhttp_connection* conn = evhttp_request_get_connection(d->req)) evhttp_connection_free(conn);
    if (log_verbose_level() >= 1)  // H4: logging extension (--log-verbose sets the initial level)
      log_json("info", "client disconnected; reply dropped", {{"request_id", d->request_id}, {"model", d->model}});
  } else {
    evkeyvalq* h = evhttp_request_get_output_headers(d->req);
    evhttp_add_header(h, "Content-Type", d->content_type);
    if (d->header_length >= 0)
      evhttp_add_header(h, "Inference-Header-Content-Length", std::to_string(d->header_length).c_str());
    add_body(d->req, std::move(d->body));
    evhttp_send_reply(d->req, d->code, nullptr, nullptr);
    if (log_verbose_level() >= 1)  // H4: logging extension (--log-verbose sets the initial level)
      log_json("info", "request",
               {{"request_id", d->request_id},
                {"model", d->model},
                {"path", d->path},
                {"status", std::to_string(d->code)},
                {"duration_us", std::to_string((now_ns() - d->start_ns) / 1000)}});
  }
  delete d;
  self->outstanding.fetch_sub(1);
}

void HttpFrontend::Impl::run_async(Loop* loop, evhttp_request* req, std::function<ServerStatus()> work) {
  auto* d = new Deferred;
  d->loop = loop;
  d->req = req;
  d->start_ns = now_ns();
  outstanding.fetch_add(1);
  std::thread([d, work = std::move(work)] {
    ServerStatus st = work();
    d->code = http_status_code(st.code);
    d->body = st.ok() ? "{}" : error_json(st.message);
    post(d);
  }).detach();
}

void HttpFrontend::Impl::handle_infer(Loop* loop, evhttp_request* req, const std::string& model,
                                      const std::string& version, const std::string& path) {
  evbuffer* in = evhttp_request_get_input_buffer(req);
  size_t size = evbuffer_get_length(in);
  const char* body = size ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "";
  int64_t header_length = -1;
  if (const char* h = evhttp_find_header(evhttp_request_get_input_headers(req), "Inference-Header-Content-Length")) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(h, &end, 10);
    if (errno || end == h || *end || v < 0) return reply_error(req, 400, "invalid Inference-Header-Content-Length");
    header_length = v;
  }
  InferRequest request;
  auto* d = new Deferred;
  ServerStatus st = parse_infer_request(body, size, header_length, &request, &d->prefs, /*binary_views=*/true);
  if (!st.ok()) {
    delete d;
    log_json("warning", st.message, {{"model", model}, {"path", path}, {"code", "INVALID_ARGUMENT"}});
    return reply_error(req, 400, st.message);
  }
  // Binary tensors are views into the body: move the body's chains (no copy) into a buffer the request owns, so
  // that the batch assembly copies each tensor's bytes once, from the received body into the batch tensor.
  bool any_view = false;
  for (const auto& t : request.inputs) any_view |= t.view != nullptr;
  if (any_view) {
    std::shared_ptr<evbuffer> owned(evbuffer_new(), [](evbuffer* b) { evbuffer_free(b); });
    const char* moved = owned && evbuffer_add_buffer(owned.get(), in) == 0
                            ? reinterpret_cast<const char*>(evbuffer_pullup(owned.get(), -1))
                            : nullptr;
    if (!moved) {
      delete d;
      return reply_error(req, 500, "cannot keep the request body");
    }
    for (auto& t : request.inputs) {
      if (!t.view) continue;
      t.view = moved + (t.view - body);  // pullup of one chain returns the same bytes; else a contiguous copy
      t.hold = owned;
    }
  } else {
    evbuffer_drain(in, size);  // the request owns copies of the tensor bytes now
  }
  request.model_name = model;
  request.model_version = version;
  d->loop = loop;
  d->req = req;
  d->request_id = request.id;
  d->model = model;
  d->path = path;
  d->start_ns = now_ns();
  outstanding.fetch_add(1);
  watch_client(d);
  d->handle = server->infer(std::move(request), [d](ServerStatus status, InferResponse response) {
    if (status.ok()) {
      write_infer_response(response, d->prefs, &d->body, &d->header_length);
      if (d->header_length >= 0) d->content_type = "application/octet-stream";
    } else {
      d->code = http_status_code(status.code);
      d->body = error_json(status.message);
    }
    post(d);
  });
}

// v2/systemsharedmemory[/region/NAME]/status (GET), .../region/NAME/register|unregister and
// v2/systemsharedmemory/unregister (POST). Every error is 400 with {"error"}.
void HttpFrontend::Impl::handle_shm(evhttp_request* req, const std::vector<std::string>& seg, bool get, bool post) {
  const std::string path = "/" + [&] {
    std::string p;
    for (size_t i = 0; i < seg.size(); ++i) p += (i ? "/" : "") + seg[i];
    return p;
  }();
  std::string name, action;
  if (seg.size() == 3) {
    action = seg[2];
  } else if (seg.size() == 5 && seg[2] == "region") {
    name = seg[3];
    action = seg[4];
  } else {
    return reply_error(req, 404, "not found: " + path);
  }
  ShmRegistry& shm = server->shared_memory();
  if (action == "status") {
    if (!get) return reply_error(req, 405, "method not allowed for " + path);
    std::vector<ShmRegionStatus> regions;
    ServerStatus st = shm.status(name, &regions);
    if (!st.ok()) return reply_error(req, 400, st.message);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : regions)
      out.push_back({{"name", r.name}, {"key", r.key}, {"offset", r.offset}, {"byte_size", r.byte_size}});
    return reply(req, 200, out.dump());
  }
  if (!post) return reply_error(req, 405, "method not allowed for " + path);
  if (action == "unregister") {
    ServerStatus st = shm.unregister(name);
    return st.ok() ? reply(req, 200, "{}") : reply_error(req, 400, st.message);
  }
  if (action != "register" || name.empty()) return reply_error(req, 404, "not found: " + path);
  evbuffer* in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  const char* b = n ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "";
  if (json_nesting_depth(b, n) > 64) return reply_error(req, 400, "request JSON is nested too deeply");
  auto j = nlohmann::json::parse(b, b + n, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return reply_error(req, 400, "malformed JSON in the request body");
  if (!j.contains("key") || !j["key"].is_string()) return reply_error(req, 400, "'key' must be a string");
  uint64_t offset = 0, byte_size = 0;
  for (auto [field, out] : {std::pair<const char*, uint64_t*>{"offset", &offset}, {"byte_size", &byte_size}}) {
    if (!j.contains(field)) {
      if (std::string(field) == "offset") continue;
      return reply_error(req, 400, "'byte_size' is required");
    }
    if (!j[field].is_number_unsigned() && !(j[field].is_number_integer() && j[field].get<int64_t>() >= 0))
      return reply_error(req, 400, std::string("'") + field + "' must be a non-negative integer");
    *out = j[field].get<uint64_t>();
  }
  ServerStatus st = shm.register_region(name, j["key"].get<std::string>(), offset, byte_size);
  if (!st.ok()) {
    log_json("warning", st.message, {{"path", path}, {"code", server_code_name(st.code)}});
    return reply_error(req, 400, st.message);
  }
  return reply(req, 200, "{}");
}

void HttpFrontend::Impl::handle(Loop* loop, evhttp_request* req) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri ? evhttp_uri_get_path(uri) : nullptr;
  std::vector<std::string> seg = split_path(raw_path);
  std::string path = raw_path ? raw_path : "";
  evhttp_cmd_type cmd = evhttp_request_get_command(req);
  bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD, post_ = cmd == EVHTTP_REQ_POST;
  auto method_error = [&] { reply_error(req, 405, "method not allowed for " + path); };
  if (metrics_only) {
    if (seg.size() == 1 && seg[0] == "metrics") {
      if (!get) return method_error();
      return reply(req, 200, server->prometheus_metrics(), "text/plain; version=0.0.4; charset=utf-8");
    }
    return reply_error(req, 404, "not found: " + path);
  }
  if (seg.empty() || seg[0] != "v2") return reply_error(req, 404, "not found: " + path);
  if (seg.size() == 1) {
    if (!get) return method_error();
    return reply(req, 200, server_metadata_json(server->metadata()));
  }
  if (seg[1] == "health" && seg.size() == 3 && (seg[2] == "live" || seg[2] == "ready")) {
    if (!get) return method_error();
    bool ok = seg[2] == "live" ? server->live() : server->ready() && accepting.load();
    return reply(req, ok ? 200 : 400, ok ? "" : error_json("server is not ready"));
  }
  if (seg[1] == "systemsharedmemory") return handle_shm(req, seg, get, post_);
  {  // ---- H4: trace and logging extensions (http_extensions.cc) ----
    int code = 0;
    std::string out;
    evbuffer* in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    std::string_view b(n ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "", n);
    if (handle_http_extension(*server, seg, get, post_, b, &code, &out)) return reply(req, code, out);
  }
  if (seg[1] == "cudasharedmemory") return reply_error(req, 400, "CUDA shared memory is not supported by kiln serve");
  if (seg[1] == "repository") {
    if (!post_) return method_error();
    if (seg.size() == 3 && seg[2] == "index") {
      bool ready_only = false;
      evbuffer* in = evhttp_request_get_input_buffer(req);
      size_t n = evbuffer_get_length(in);
      if (n > 0) {
        const char* b = reinterpret_cast<const char*>(evbuffer_pullup(in, -1));
        if (json_nesting_depth(b, n) > 64) return reply_error(req, 400, "request JSON is nested too deeply");
        auto j = nlohmann::json::parse(b, b + n, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return reply_error(req, 400, "malformed JSON in the request body");
        if (j.contains("ready")) {
          if (!j["ready"].is_boolean()) return reply_error(req, 400, "'ready' must be a bool");
          ready_only = j["ready"].get<bool>();
        }
      }
      return reply(req, 200, repository_index_json(server->repository_index(ready_only)));
    }
    if (seg.size() == 5 && seg[2] == "models" && (seg[4] == "load" || seg[4] == "unload")) {
      std::string name = seg[3];
      InferenceServer* s = server;
      if (seg[4] == "load") return run_async(loop, req, [s, name] { return s->load_model(name); });
      return run_async(loop, req, [s, name] { return s->unload_model(name); });
    }
    return reply_error(req, 404, "not found: " + path);
  }
  if (seg[1] != "models" || seg.size() < 3) return reply_error(req, 404, "not found: " + path);
  if (seg.size() == 3 && seg[2] == "stats") {
    if (!get) return method_error();
    auto stats = server->statistics("", "");
    return reply(req, 200, model_stats_json(stats.value()));
  }
  std::string model = seg[2], version;
  size_t k = 3;
  if (seg.size() >= 5 && seg[3] == "versions") {
    version = seg[4];
    k = 5;
  }
  std::string action = k < seg.size() ? seg[k] : "";
  if (k + 1 < seg.size()) return reply_error(req, 404, "not found: " + path);
  auto not_ready = [&](const Status& st) {
    return reply_error(req, st.code() == StatusCode::kNotFound ? 404 : 503, st.message());
  };
  if (action.empty()) {
    if (!get) return method_error();
    auto md = server->model_metadata(model, version);
    if (!md.ok()) return not_ready(md.status());
    return reply(req, 200, model_metadata_json(md.value()));
  }
  if (action == "ready") {
    if (!get) return method_error();
    bool ok = server->model_ready(model, version);
    return reply(req, ok ? 200 : 400, ok ? "" : error_json("model '" + model + "' is not ready"));
  }
  if (action == "config") {
    if (!get) return method_error();
    auto c = server->model_config(model, version);
    if (!c.ok()) return not_ready(c.status());
    return reply(req, 200, model_config_json(c.value()));
  }
  if (action == "stats") {
    if (!get) return method_error();
    auto stats = server->statistics(model, version);
    if (!stats.ok()) return not_ready(stats.status());
    return reply(req, 200, model_stats_json(stats.value()));
  }
  if (action == "infer") {
    if (!post_) return method_error();
    return handle_infer(loop, req, model, version, path);
  }
  return reply_error(req, 404, "not found: " + path);
}

// ---- lifecycle --------------------------------------------------------------------------------------------

namespace {

void run_in_loop(Loop* loop, std::function<void()> fn) {
  std::promise<void> done;
  struct Task {
    std::function<void()> fn;
    std::promise<void>* done;
  };
  auto* t = new Task{std::move(fn), &done};
  event_base_once(
      loop->base, -1, EV_TIMEOUT,
      [](evutil_socket_t, short, void* arg) {
        auto* t = static_cast<Task*>(arg);
        t->fn();
        t->done->set_value();
        delete t;
      },
      t, nullptr);
  done.get_future().wait();
}

Result<std::unique_ptr<HttpFrontend::Impl>> start_loops(InferenceServer* server, const HttpOptions& opts,
                                                        bool metrics_only) {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
  auto impl = std::make_unique<HttpFrontend::Impl>();
  impl->server = server;
  impl->opts = opts;
  impl->metrics_only = metrics_only;
  int threads = metrics_only ? 1 : std::max(1, opts.threads);
  int port = opts.port;
  for (int i = 0; i < threads; ++i) {
    if (i == 0 && port != 0) {  // refuse a port another process (even another kiln serve) is using
      KILN_ASSIGN_OR_RETURN(int probe, make_listener(opts.host, port, false));
      ::close(probe);
    }
    KILN_ASSIGN_OR_RETURN(int fd, make_listener(opts.host, port, true));
    if (i == 0) port = bound_port(fd);
    auto loop = std::make_unique<Loop>();
    loop->owner = impl.get();
    loop->base = event_base_new();
    loop->http = loop->base ? evhttp_new(loop->base) : nullptr;
    if (!loop->http) {
      ::close(fd);
      return internal_error("cannot create an HTTP event loop");
    }
    evhttp_set_max_body_size(loop->http, static_cast<ev_ssize_t>(opts.max_body_size));
    evhttp_set_max_headers_size(loop->http, 64 * 1024);
    evhttp_set_allowed_methods(loop->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_timeout(loop->http, 120);
    // Each connection's bufferevent watches its output for evhttp's own HTML error pages (json_error_pages).
    evhttp_set_bevcb(
        loop->http,
        [](event_base* base, void*) -> bufferevent* {
          bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
          if (!bev) return bev;
          evbuffer_add_cb(bufferevent_get_output(bev), &json_error_pages, nullptr);
          // Read large bodies (an image is 600 KB) in up to 1 MiB reads instead of libevent's 16 KiB: fewer
          // syscalls and fewer buffer chains for evbuffer_pullup to join.
          bufferevent_set_max_single_read(bev, kMaxSingleRead);
          return bev;
        },
        nullptr);
    evhttp_set_gencb(
        loop->http,
        [](evhttp_request* req, void* arg) {
          auto* l = static_cast<Loop*>(arg);
          l->owner->handle(l, req);
        },
        loop.get());
    loop->bound = evhttp_accept_socket_with_handle(loop->http, fd);
    if (!loop->bound) {
      ::close(fd);
      return internal_error("cannot accept on the HTTP socket");
    }
    impl->loops.push_back(std::move(loop));
  }
  impl->port = port;
  for (auto& l : impl->loops) {
    Loop* raw = l.get();
    raw->thread = std::thread([raw] { event_base_loop(raw->base, EVLOOP_NO_EXIT_ON_EMPTY); });
  }
  return impl;
}

}  // namespace

HttpFrontend::HttpFrontend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpFrontend::~HttpFrontend() { stop(); }

Result<std::unique_ptr<HttpFrontend>> HttpFrontend::start(InferenceServer* server, const HttpOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto impl, start_loops(server, options, false));
  return std::unique_ptr<HttpFrontend>(new HttpFrontend(std::move(impl)));
}

Result<std::unique_ptr<HttpFrontend>> HttpFrontend::start_metrics(InferenceServer* server, const std::string& host,
                                                                  int port) {
  HttpOptions o;
  o.host = host;
  o.port = port;
  o.max_body_size = 1 << 20;
  KILN_ASSIGN_OR_RETURN(auto impl, start_loops(server, o, true));
  return std::unique_ptr<HttpFrontend>(new HttpFrontend(std::move(impl)));
}

int HttpFrontend::port() const { return impl_->port; }

void HttpFrontend::stop_accepting() {
  if (!impl_->accepting.exchange(false)) return;
  for (auto& l : impl_->loops) {
    Loop* raw = l.get();
    run_in_loop(raw, [raw] {
      if (raw->bound) evhttp_del_accept_socket(raw->http, raw->bound);
      raw->bound = nullptr;
    });
  }
}

bool HttpFrontend::wait_idle(int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (impl_->outstanding.load() > 0) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void HttpFrontend::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  stop_accepting();
  wait_idle(5000);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the loops flush queued replies
  for (auto& l : impl_->loops) event_base_loopexit(l->base, nullptr);
  for (auto& l : impl_->loops)
    if (l->thread.joinable()) l->thread.join();
  for (auto& l : impl_->loops) {
    evhttp_free(l->http);
    event_base_free(l->base);
  }
  impl_->loops.clear();
}

}  // namespace kiln::server
