// evhttp front end: N event loops with SO_REUSEPORT listeners; infer replies are built on scheduler threads and
// handed back to the connection's loop with event_base_once (libevent is built thread-safe via evthread).
// Large or compressed infer bodies are parsed on a small bounded worker pool, never on a loop. Connections are
// counted per process (each accepted bufferevent carries a reference of ours, released by a sweep once evhttp
// has let go of it) and capped; accept errors (EMFILE) pause the listener instead of spinning.
#include "server/http_frontend.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/cuda_shm.h"  // handle_cuda_shm_http
#include "server/http_codec.h"
#include "server/http_connection.h"
#include "server/control_queue.h"
#include "server/http_compression.h"
#include "server/http_extensions.h"
#include "server/scheduler.h"
#include "server/shm_registry.h"
#include "server/trace.h"  // log_verbose_level()
#include "server/thread_name.h"

namespace kiln::server {

namespace {

constexpr long kWatchDelayUs = 2000;
constexpr size_t kMaxSingleRead = size_t{1} << 20;
constexpr size_t kInlineJsonLimit = 64 * 1024;  // infer JSON above this (or any compressed body): parse pool
constexpr size_t kCompressMin = 1024;           // smaller responses are sent uncompressed
constexpr long kSweepUs = 200 * 1000;           // connection sweep period
constexpr long kAcceptRetryUs = 500 * 1000;     // listener pause after an accept error (EMFILE, ENFILE, ...)
constexpr int kMetricsMaxConnections = 64;

struct Loop {
  HttpFrontend::Impl* owner = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  evhttp_bound_socket* bound = nullptr;
  std::thread thread;
  // Every accepted connection's bufferevent, each holding one reference of ours (see track_connection).
  std::vector<std::pair<bufferevent*, struct ConnState*>> conns;
  std::unordered_map<bufferevent*, ConnState*> state_of;  // the same connections, looked up by a request's bufferevent
  std::vector<bufferevent*> rejects;  // accepted over the cap: to be answered 503 and shut down
  event* sweep_ev = nullptr;          // periodic: releases connections evhttp has freed
  event* reject_ev = nullptr;         // activated when rejects is non-empty
  event* retry_ev = nullptr;          // re-enables the listener after an accept error
};

// The infer handle of a request, shared by the thread that calls infer() and the loop that may cancel it.
struct HandleSlot {
  std::mutex mu;
  std::shared_ptr<InferHandle> handle;
  bool cancelled = false;
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
  std::shared_ptr<HandleSlot> slot = std::make_shared<HandleSlot>();
  int code = 200;
  std::string body;
  const char* content_type = "application/json";
  HttpEncoding encoding = HttpEncoding::kIdentity;  // what Accept-Encoding allows for the reply
  const char* content_encoding = nullptr;           // set when body was compressed
  int64_t header_length = -1;
  OutputPrefs prefs;
  std::string request_id, model, path;
  uint64_t start_ns = 0;
};

void add_body(evhttp_request* req, std::string&& body) {
  auto* owned = new std::string(std::move(body));
  evbuffer_add_reference(
      evhttp_request_get_output_buffer(req), owned->data(), owned->size(),
      [](const void*, size_t, void* p) { delete static_cast<std::string*>(p); }, owned);
}

HttpEncoding response_encoding(evhttp_request* req) {
  return choose_response_encoding(evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding"));
}

// Compresses *body in place when `encoding` is a coding and the body is worth it; returns the coding's name for
// Content-Encoding, or nullptr when the body was left as it is.
const char* compress_for(HttpEncoding encoding, std::string* body) {
  if (encoding == HttpEncoding::kIdentity || body->size() < kCompressMin) return nullptr;
  std::string z;
  if (!compress_body(encoding, body->data(), body->size(), &z)) return nullptr;
  *body = std::move(z);
  return encoding_name(encoding);
}

void reply(evhttp_request* req, int code, std::string body, const char* content_type = "application/json") {
  evkeyvalq* h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", content_type);
  if (const char* ce = compress_for(response_encoding(req), &body)) evhttp_add_header(h, "Content-Encoding", ce);
  add_body(req, std::move(body));
  evhttp_send_reply(req, code, nullptr, nullptr);
}

void reply_error(evhttp_request* req, int code, const std::string& message) { reply(req, code, error_json(message)); }

// After SIGTERM (stop_accepting): new work on a connection that is still open is refused, and the connection closed.
void reply_draining(evhttp_request* req) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
  reply_error(req, 503, "server is shutting down");
}

std::string unsupported_encoding(const char* value) {
  return "unsupported Content-Encoding '" + std::string(value ? value : "") + "' (supported: gzip, deflate, identity)";
}

// The request body, decompressed per its Content-Encoding into *storage when it is compressed (at most `max`
// bytes). On failure replies (415 unknown coding, 413 over the cap, 400 corrupt) and returns false.
bool read_body(evhttp_request* req, size_t max, std::string* storage, const char** data, size_t* size) {
  evbuffer* in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  const char* b = n ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "";
  const char* ce = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
  HttpEncoding enc;
  if (!parse_content_encoding(ce, &enc)) {
    reply_error(req, 415, unsupported_encoding(ce));
    return false;
  }
  if (enc == HttpEncoding::kIdentity || n == 0) {
    *data = b;
    *size = n;
    return true;
  }
  ServerStatus st = decompress_body(enc, b, n, max, storage);
  if (!st.ok()) {
    reply_error(req, http_status_code(st.code), st.message);
    return false;
  }
  *data = storage->data();
  *size = storage->size();
  return true;
}

// Parses a small JSON request document (an object) with the depth and element caps. Replies 400 and returns false
// when it is malformed.
bool parse_json_object(evhttp_request* req, const char* b, size_t n, size_t max_elements, nlohmann::json* out) {
  if (json_nesting_depth(b, n) > 64) {
    reply_error(req, 400, "request JSON is nested too deeply");
    return false;
  }
  if (max_elements > 0 && json_element_bound(b, n) > max_elements) {
    reply_error(req, 400, "request JSON has more values than the server's limit (--http-max-json-elements)");
    return false;
  }
  *out = nlohmann::json::parse(b, b + n, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    reply_error(req, 400, "malformed JSON in the request body");
    return false;
  }
  return true;
}

// More than one Content-Length header makes the body's framing ambiguous (request smuggling): refused.
void release_connection(bufferevent* bev, ConnState* state) {
  bufferevent_disable(bev, EV_READ | EV_WRITE);
  evbuffer_remove_cb(bufferevent_get_input(bev), &sniff_input, state);
  evbuffer_remove_cb(bufferevent_get_output(bev), &json_error_pages, state);
  bufferevent_decref(bev);  // the last reference: closes the socket
  delete state;
}

bool bev_alive(bufferevent* bev) {
  bufferevent_data_cb r = nullptr, w = nullptr;
  bufferevent_event_cb e = nullptr;
  void* arg = nullptr;
  bufferevent_getcb(bev, &r, &w, &e, &arg);
  return r || w || e || arg;  // evhttp_connection_free clears all of them
}

// Listeners -> their loop, for the accept error callback (whose only argument besides the listener is evhttp's).
std::mutex g_listeners_mu;
std::map<void*, Loop*> g_listeners;

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
  std::unique_ptr<ControlQueue> parse_pool;  // large or compressed infer bodies are parsed here
  std::atomic<int> open_conns{0};  // accepted connections not yet released by a sweep (all loops)
  int conn_cap = 1000;
  std::atomic<uint64_t> last_reject_log_ns{0}, last_accept_log_ns{0};

  void handle(Loop* loop, evhttp_request* req);
  void handle_infer(Loop* loop, evhttp_request* req, const std::string& model, const std::string& version,
                    const std::string& path);
  void parse_off_loop(Deferred* d, std::shared_ptr<evbuffer> body, HttpEncoding encoding, int64_t header_length,
                      const std::string& model, const std::string& version);
  void dispatch(Deferred* d, InferRequest request);
  void handle_shm(evhttp_request* req, const std::vector<std::string>& seg, bool get, bool post);
  void handle_control(Loop* loop, evhttp_request* req, const std::string& name, bool load);
  void run_control(Loop* loop, evhttp_request* req, std::function<ServerStatus()> work);
  static bool log_now(std::atomic<uint64_t>* last);
  void track_connection(Loop* loop, bufferevent* bev);
  static void reject_connections(evutil_socket_t, short, void* arg);
  static void sweep_connections(evutil_socket_t, short, void* arg);
  static void accept_error(evconnlistener* listener, void* http);
  static void accept_retry(evutil_socket_t, short, void* arg);
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
    std::lock_guard<std::mutex> lk(d->slot->mu);
    d->slot->cancelled = true;
    if (d->slot->handle) d->slot->handle->cancel();
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
    if (log_verbose_level() >= 1)  // logging extension (--log-verbose sets the initial level)
      log_json("info", "client disconnected; reply dropped", {{"request_id", d->request_id}, {"model", d->model}});
  } else {
    evkeyvalq* h = evhttp_request_get_output_headers(d->req);
    evhttp_add_header(h, "Content-Type", d->content_type);
    if (d->content_encoding) evhttp_add_header(h, "Content-Encoding", d->content_encoding);
    if (d->header_length >= 0)
      evhttp_add_header(h, "Inference-Header-Content-Length", std::to_string(d->header_length).c_str());
    add_body(d->req, std::move(d->body));
    evhttp_send_reply(d->req, d->code, nullptr, nullptr);
    if (log_verbose_level() >= 1)  // logging extension (--log-verbose sets the initial level)
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

// Runs `work` on the server's bounded model-control queue; its status becomes the reply. A full queue is 503.
void HttpFrontend::Impl::run_control(Loop* loop, evhttp_request* req, std::function<ServerStatus()> work) {
  auto* d = new Deferred;
  d->loop = loop;
  d->req = req;
  d->start_ns = now_ns();
  outstanding.fetch_add(1);
  ServerStatus queued = server->submit_control([d, work = std::move(work)] {
    ServerStatus st = work();
    d->code = http_status_code(st.code);
    d->body = st.ok() ? "{}" : error_json(st.message);
    post(d);
  });
  if (!queued.ok()) {
    outstanding.fetch_sub(1);
    delete d;
    reply_error(req, http_status_code(queued.code), queued.message);
  }
}

// POST v2/repository/models/NAME/load|unload. The body is optional: {"parameters": {...}} with string, bool or
// integer values (load: "config" and "file:<path>" as Triton defines them, passed to load_model).
void HttpFrontend::Impl::handle_control(Loop* loop, evhttp_request* req, const std::string& name, bool load) {
  std::string storage;
  const char* b = nullptr;
  size_t n = 0;
  if (!read_body(req, opts.max_body_size, &storage, &b, &n)) return;
  Parameters params;
  if (n > 0) {
    nlohmann::json j;
    if (!parse_json_object(req, b, n, opts.max_json_elements, &j)) return;
    if (j.contains("parameters")) {
      const auto& p = j["parameters"];
      if (!p.is_object()) return reply_error(req, 400, "'parameters' must be an object");
      for (const auto& [k, v] : p.items()) {
        if (v.is_boolean())
          params[k] = v.get<bool>();
        else if (v.is_number_integer() || v.is_number_unsigned())
          params[k] = v.get<int64_t>();
        else if (v.is_string())
          params[k] = v.get<std::string>();
        else
          return reply_error(req, 400, "parameter '" + k + "' must be a string, bool or integer");
      }
    }
  }
  InferenceServer* s = server;
  if (load) return run_control(loop, req, [s, name, params] { return s->load_model(name, params); });
  return run_control(loop, req, [s, name] { return s->unload_model(name); });
}

// A chunked request whose body evhttp read with a framing that is not exact (ChunkedFraming: "0x2", "2 junk", no
// CR LF after a chunk's data...) is answered 400 and its connection closed. Every request restarts its connection's
// framing check: evhttp consumes nothing of the next request before this one is answered.
static bool exact_chunked_framing(Loop* loop, evhttp_request* req) {
  evhttp_connection* evcon = evhttp_request_get_connection(req);
  auto it = loop->state_of.find(evcon ? evhttp_connection_get_bufferevent(evcon) : nullptr);
  if (it == loop->state_of.end()) return true;
  ChunkedFraming& framing = it->second->framing;
  const char* te = evhttp_find_header(evhttp_request_get_input_headers(req), "Transfer-Encoding");
  // evhttp's own test for a chunked body; a check that went out of step with evhttp (no error) lets it pass
  const bool refused = te && evutil_ascii_strcasecmp(te, "chunked") == 0 && !framing.error().empty();
  const std::string why = refused ? framing.error() : "";
  framing.reset();
  if (!refused) return true;
  evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
  reply_error(req, 400, "malformed chunked request body: " + why);
  return false;
}

bool HttpFrontend::Impl::log_now(std::atomic<uint64_t>* last_ns) {  // at most one such warning per second
  uint64_t now = now_ns(), last = last_ns->load();
  return now - last > 1'000'000'000ull && last_ns->compare_exchange_strong(last, now);
}

// Called from evhttp's bufferevent callback for every accepted connection (on its loop). The extra reference
// keeps the bufferevent (and its fd) until sweep_connections sees that evhttp has freed it, which is how
// connections are counted without a close hook in evhttp 2.1.
void HttpFrontend::Impl::track_connection(Loop* loop, bufferevent* bev) {
  auto* state = new ConnState;
  evbuffer_add_cb(bufferevent_get_input(bev), &sniff_input, state);
  evbuffer_add_cb(bufferevent_get_output(bev), &json_error_pages, state);
  bufferevent_incref(bev);
  loop->conns.emplace_back(bev, state);
  loop->state_of[bev] = state;
  if (open_conns.fetch_add(1) + 1 > conn_cap) {
    loop->rejects.push_back(bev);
    event_active(loop->reject_ev, EV_TIMEOUT, 1);
  }
}

// Answers every connection accepted over the cap with a fixed 503 and shuts its socket down; evhttp then reads
// EOF and frees the connection. Nothing of the request is read or parsed.
void HttpFrontend::Impl::reject_connections(evutil_socket_t, short, void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  static const std::string kBody = "{\"error\":\"too many connections\"}";
  static const std::string kReply =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + kBody;
  if (!loop->rejects.empty() && log_now(&loop->owner->last_reject_log_ns))
    log_json("warning", "HTTP connection limit reached: answering 503",
             {{"max_connections", std::to_string(loop->owner->conn_cap)}});
  for (bufferevent* bev : loop->rejects) {
    if (!bev_alive(bev)) continue;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0) continue;
    (void)!::send(fd, kReply.data(), kReply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_RDWR);
  }
  loop->rejects.clear();
}

void HttpFrontend::Impl::sweep_connections(evutil_socket_t, short, void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  reject_connections(-1, 0, loop);  // never leaves a pointer in rejects that this sweep releases
  size_t kept = 0;
  for (auto [bev, state] : loop->conns) {
    if (bev_alive(bev)) {
      loop->conns[kept++] = {bev, state};
      continue;
    }
    loop->state_of.erase(bev);
    release_connection(bev, state);
    loop->owner->open_conns.fetch_sub(1);
  }
  loop->conns.resize(kept);
}

// accept() failed for a reason libevent does not retry (EMFILE, ENFILE, ENOBUFS...): the listener would fire
// again at once and spin a core, so pause it and retry later.
void HttpFrontend::Impl::accept_error(evconnlistener* listener, void*) {
  int err = EVUTIL_SOCKET_ERROR();
  evconnlistener_disable(listener);
  Loop* loop = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_listeners_mu);
    auto it = g_listeners.find(listener);
    if (it != g_listeners.end()) loop = it->second;
  }
  if (!loop) return;
  if (log_now(&loop->owner->last_accept_log_ns))
    log_json("warning", "HTTP accept failed; pausing the listener",
             {{"error", evutil_socket_error_to_string(err)},
              {"connections", std::to_string(loop->owner->open_conns.load())}});
  timeval tv{0, kAcceptRetryUs};
  event_add(loop->retry_ev, &tv);
}

void HttpFrontend::Impl::accept_retry(evutil_socket_t, short, void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  sweep_connections(-1, 0, loop);
  if (loop->bound) evconnlistener_enable(evhttp_bound_socket_get_listener(loop->bound));
}

void HttpFrontend::Impl::handle_infer(Loop* loop, evhttp_request* req, const std::string& model,
                                      const std::string& version, const std::string& path) {
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  int64_t header_length = -1;
  if (const char* h = evhttp_find_header(headers, "Inference-Header-Content-Length")) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(h, &end, 10);
    if (errno || end == h || *end || v < 0) return reply_error(req, 400, "invalid Inference-Header-Content-Length");
    header_length = v;
  }
  const char* ce = evhttp_find_header(headers, "Content-Encoding");
  HttpEncoding encoding;
  if (!parse_content_encoding(ce, &encoding)) return reply_error(req, 415, unsupported_encoding(ce));
  evbuffer* in = evhttp_request_get_input_buffer(req);
  size_t size = evbuffer_get_length(in);
  size_t json_size = header_length >= 0 ? std::min(size, static_cast<size_t>(header_length)) : size;
  auto* d = new Deferred;
  d->loop = loop;
  d->req = req;
  d->model = model;
  d->path = path;
  d->start_ns = now_ns();
  d->encoding = response_encoding(req);
  if (encoding != HttpEncoding::kIdentity || json_size > kInlineJsonLimit) {
    // Off the loop: the body's chains move (no copy) into a buffer the job owns.
    std::shared_ptr<evbuffer> owned(evbuffer_new(), [](evbuffer* b) { evbuffer_free(b); });
    if (!owned || evbuffer_add_buffer(owned.get(), in) != 0) {
      delete d;
      return reply_error(req, 500, "cannot keep the request body");
    }
    outstanding.fetch_add(1);
    const bool queued = parse_pool
                            ->submit([this, d, owned, encoding, header_length, model, version] {
                              parse_off_loop(d, owned, encoding, header_length, model, version);
                            })
                            .ok();
    if (!queued) {
      outstanding.fetch_sub(1);
      delete d;
      server->count_rejected_request("http", "OVERLOADED");
      return reply_error(req, 503,
                         "the server is busy parsing other large request bodies (" +
                             std::to_string(parse_pool->capacity()) + " waiting); retry later or send binary data");
    }
    watch_client(d);  // the job's reply is delivered on this loop, after this function returns
    return;
  }
  const char* body = size ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "";
  InferRequest request;
  ServerStatus st = parse_infer_request(body, size, header_length, &request, &d->prefs, /*binary_views=*/true,
                                        opts.max_json_elements);
  if (!st.ok()) {
    delete d;
    server->count_rejected_request("http", "MALFORMED");
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
  outstanding.fetch_add(1);
  watch_client(d);
  dispatch(d, std::move(request));
}

// On a parse-pool thread: decompress (capped by --http-max-body-size), parse, then queue the inference. Errors
// are delivered like any reply.
void HttpFrontend::Impl::parse_off_loop(Deferred* d, std::shared_ptr<evbuffer> owned, HttpEncoding encoding,
                                        int64_t header_length, const std::string& model, const std::string& version) {
  auto fail = [&](const ServerStatus& st) {
    server->count_rejected_request("http", st.code == ServerCode::kPayloadTooLarge ? "PAYLOAD_TOO_LARGE" : "MALFORMED");
    log_json("warning", st.message, {{"model", model}, {"path", d->path}, {"code", server_code_name(st.code)}});
    d->code = http_status_code(st.code);
    d->body = error_json(st.message);
    post(d);
  };
  size_t size = evbuffer_get_length(owned.get());
  const char* body = size ? reinterpret_cast<const char*>(evbuffer_pullup(owned.get(), -1)) : "";
  std::shared_ptr<const void> hold = owned;
  if (encoding != HttpEncoding::kIdentity) {
    auto inflated = std::make_shared<std::string>();
    ServerStatus st = decompress_body(encoding, body, size, opts.max_body_size, inflated.get());
    if (!st.ok()) return fail(st);
    evbuffer_drain(owned.get(), size);
    body = inflated->data();
    size = inflated->size();
    hold = inflated;
  }
  InferRequest request;
  ServerStatus st = parse_infer_request(body, size, header_length, &request, &d->prefs, /*binary_views=*/true,
                                        opts.max_json_elements);
  if (!st.ok()) return fail(st);
  for (auto& t : request.inputs)
    if (t.view) t.hold = hold;
  request.model_name = model;
  request.model_version = version;
  dispatch(d, std::move(request));
}

// Queues the inference (any thread). The reply is written and compressed on the thread that completes it, then
// delivered on the connection's loop. `d` must not be touched here after infer() returns: the reply may already
// have been delivered and `d` freed; the handle goes to the shared slot.
void HttpFrontend::Impl::dispatch(Deferred* d, InferRequest request) {
  d->request_id = request.id;
  request.protocol = "http";
  std::shared_ptr<HandleSlot> slot = d->slot;
  auto handle = server->infer(std::move(request), [d](ServerStatus status, InferResponse response) {
    if (status.ok()) {
      write_infer_response(response, d->prefs, &d->body, &d->header_length);
      if (d->header_length >= 0) d->content_type = "application/octet-stream";
      d->content_encoding = compress_for(d->encoding, &d->body);
    } else {
      d->code = http_status_code(status.code);
      d->body = error_json(status.message);
    }
    post(d);
  });
  std::lock_guard<std::mutex> lk(slot->mu);
  if (slot->cancelled) {
    if (handle) handle->cancel();
  } else {
    slot->handle = std::move(handle);
  }
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
  if (!shm_path_parts(seg, &name, &action)) return reply_error(req, 404, "not found: " + path);
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
  std::string storage;
  const char* b = nullptr;
  size_t n = 0;
  if (!read_body(req, opts.max_body_size, &storage, &b, &n)) return;
  nlohmann::json j;
  if (!parse_json_object(req, b, n, opts.max_json_elements, &j)) return;
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
  if (!exact_chunked_framing(loop, req)) return;
  if (duplicate_content_length(req)) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    return reply_error(req, 400, "duplicate Content-Length header");
  }
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
    // Triton's clients look at the status only; KServe's parse {"live": bool} / {"ready": bool}.
    if (!get) return method_error();
    bool live = seg[2] == "live";
    bool ok = live ? server->live() : server->ready() && accepting.load();
    nlohmann::json doc = {{live ? "live" : "ready", ok}};
    if (!ok) doc["error"] = live ? "server is not live" : "server is not ready";
    return reply(req, ok ? 200 : 400, doc.dump());
  }
  if (seg[1] == "systemsharedmemory") return handle_shm(req, seg, get, post_);
  {  // ---- trace and logging extensions (http_extensions.cc) ----
    int code = 0;
    std::string out;
    evbuffer* in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    std::string_view b(n ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "", n);
    if (handle_http_extension(*server, seg, get, post_, b, &code, &out)) return reply(req, code, out);
  }
  if (seg[1] == "cudasharedmemory") {  // ---- CUDA shared memory extension (cuda_shm_http.cc) ----
    int code = 0;
    std::string out;
    evbuffer* in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    std::string_view b(n ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "", n);
    handle_cuda_shm_http(*server, seg, get, post_, b, &code, &out);
    return reply(req, code, out);
  }
  if (seg[1] == "repository") {
    if (!post_) return method_error();
    if (seg.size() == 3 && seg[2] == "index") {
      bool ready_only = false;
      std::string storage;
      const char* b = nullptr;
      size_t n = 0;
      if (!read_body(req, opts.max_body_size, &storage, &b, &n)) return;
      if (n > 0) {
        nlohmann::json j;
        if (!parse_json_object(req, b, n, opts.max_json_elements, &j)) return;
        if (j.contains("ready")) {
          if (!j["ready"].is_boolean()) return reply_error(req, 400, "'ready' must be a bool");
          ready_only = j["ready"].get<bool>();
        }
      }
      return reply(req, 200, repository_index_json(server->repository_index(ready_only)));
    }
    if (seg.size() == 5 && seg[2] == "models" && (seg[4] == "load" || seg[4] == "unload")) {
      if (!accepting.load()) return reply_draining(req);
      return handle_control(loop, req, seg[3], seg[4] == "load");
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
  if (action == "infer" && post_ && !accepting.load()) return reply_draining(req);
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
    nlohmann::json doc = {{"name", model}};
    if (!version.empty()) doc["version"] = version;
    doc["ready"] = ok;
    if (!ok) doc["error"] = "model '" + model + "'" + (version.empty() ? "" : " version " + version) + " is not ready";
    return reply(req, ok ? 200 : 400, doc.dump());
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
  impl->conn_cap = connection_cap(metrics_only ? kMetricsMaxConnections : std::max(1, opts.max_connections));
  if (!metrics_only) {
    impl->parse_pool = std::make_unique<ControlQueue>(static_cast<size_t>(std::max(1, opts.parse_queue)),
                                                      std::max(1, opts.parse_threads), "HTTP parse queue");
    log_json("info", "HTTP limits",
             {{"max_connections", std::to_string(impl->conn_cap)},
              {"open_file_limit", std::to_string(open_file_limit())},
              {"idle_timeout_secs", std::to_string(opts.idle_timeout_secs)},
              {"max_json_elements", std::to_string(opts.max_json_elements)}});
  }
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
    evhttp_set_timeout(loop->http, std::max(1, opts.idle_timeout_secs));
    Loop* lp = loop.get();
    lp->sweep_ev = event_new(lp->base, -1, EV_PERSIST, &HttpFrontend::Impl::sweep_connections, lp);
    lp->reject_ev = event_new(lp->base, -1, 0, &HttpFrontend::Impl::reject_connections, lp);
    lp->retry_ev = event_new(lp->base, -1, 0, &HttpFrontend::Impl::accept_retry, lp);
    if (!lp->sweep_ev || !lp->reject_ev || !lp->retry_ev) {
      ::close(fd);
      return internal_error("cannot create the HTTP connection events");
    }
    timeval sweep_tv{0, kSweepUs};
    event_add(lp->sweep_ev, &sweep_tv);
    // Each connection's bufferevent watches its output for evhttp's own HTML error pages (json_error_pages), its
    // input for malformed chunk sizes (sniff_input), and is counted against the connection cap (track_connection).
    evhttp_set_bevcb(
        loop->http,
        [](event_base* base, void* arg) -> bufferevent* {
          bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
          if (!bev) return bev;
          // Read large bodies (an image is 600 KB) in up to 1 MiB reads instead of libevent's 16 KiB: fewer
          // syscalls and fewer buffer chains for evbuffer_pullup to join.
          bufferevent_set_max_single_read(bev, kMaxSingleRead);
          auto* l = static_cast<Loop*>(arg);
          l->owner->track_connection(l, bev);
          return bev;
        },
        lp);
    evhttp_set_gencb(
        loop->http,
        [](evhttp_request* req, void* arg) {
          auto* l = static_cast<Loop*>(arg);
          // No exception may unwind into libevent (it would abort the process): an allocation that fails while a
          // request is handled answers that request 500, unless a reply is already on its way.
          try {
            l->owner->handle(l, req);
          } catch (const std::exception& e) {
            log_json("error", std::string("HTTP handler failed: ") + e.what());
            if (evhttp_request_get_response_code(req) == 0)
              reply_error(req, 500, dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : "internal error");
          }
        },
        loop.get());
    loop->bound = evhttp_accept_socket_with_handle(loop->http, fd);
    if (!loop->bound) {
      ::close(fd);
      return internal_error("cannot accept on the HTTP socket");
    }
    evconnlistener* listener = evhttp_bound_socket_get_listener(loop->bound);
    {
      std::lock_guard<std::mutex> lk(g_listeners_mu);
      g_listeners[listener] = lp;
    }
    evconnlistener_set_error_cb(listener, &HttpFrontend::Impl::accept_error);
    impl->loops.push_back(std::move(loop));
  }
  impl->port = port;
  for (auto& l : impl->loops) {
    Loop* raw = l.get();
    raw->thread = std::thread([raw] {
      name_this_thread("kiln-http");
      event_base_loop(raw->base, EVLOOP_NO_EXIT_ON_EMPTY);
    });
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
int HttpFrontend::max_connections() const { return impl_->conn_cap; }

void HttpFrontend::stop_accepting() {
  if (!impl_->accepting.exchange(false)) return;
  for (auto& l : impl_->loops) {
    Loop* raw = l.get();
    run_in_loop(raw, [raw] {
      if (raw->bound) {
        std::lock_guard<std::mutex> lk(g_listeners_mu);
        g_listeners.erase(evhttp_bound_socket_get_listener(raw->bound));
        evhttp_del_accept_socket(raw->http, raw->bound);
      }
      raw->bound = nullptr;
    });
  }
}

bool HttpFrontend::wait_idle(int timeout_ms) {
  if (timeout_ms < 0) timeout_ms = std::max(0, impl_->opts.exit_timeout_secs) * 1000;
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
  wait_idle(-1);
  impl_->parse_pool.reset();  // runs what is still queued (replies go to the loops, still running)
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the loops flush queued replies
  for (auto& l : impl_->loops) event_base_loopexit(l->base, nullptr);
  for (auto& l : impl_->loops)
    if (l->thread.joinable()) l->thread.join();
  for (auto& l : impl_->loops) {
    evhttp_free(l->http);  // frees every connection; our references then release the bufferevents
    for (auto [bev, state] : l->conns) release_connection(bev, state);
    l->conns.clear();
    l->state_of.clear();
    for (event* ev : {l->sweep_ev, l->reject_ev, l->retry_ev})
      if (ev) event_free(ev);
    event_base_free(l->base);
  }
  impl_->loops.clear();
}

}  // namespace kiln::server
