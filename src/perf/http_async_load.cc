// Closed-loop HTTP load on epoll threads (async_lanes of them): a small state machine per connection (send, then read
// one response).
#include "perf/http_async_load.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>

#include "perf/http_connection.h"

namespace kiln::perf {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Once stopping, in-flight requests get this long to finish before the loop abandons them.
constexpr int64_t kDrainNs = 10'000'000'000;

class HttpAsyncLoad final : public AsyncLoad {
 public:
  HttpAsyncLoad(std::string host, int port, std::shared_ptr<const std::vector<std::string>> requests, RecordFn record,
                HttpErrorFn to_error, int slot_base)
      : host_(std::move(host)),
        port_(port),
        slot_base_(slot_base),
        requests_(std::move(requests)),
        record_(std::move(record)),
        to_error_(std::move(to_error)) {}

  ~HttpAsyncLoad() override {
    stop();
    for (Conn& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (ep_ >= 0) ::close(ep_);
  }

  Status open(int concurrency) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return internal_error(std::string("epoll_create1: ") + std::strerror(errno));
    conns_.resize(static_cast<size_t>(concurrency));
    for (size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].slot = static_cast<int>(i);
      conns_[i].index = i;
      KILN_RETURN_IF_ERROR(attach(conns_[i]));
    }
    active_ = concurrency;
    thread_ = std::thread([this] { loop(); });
    return ok_status();
  }

  void stop() override {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void request_stop() { stopping_ = true; }

 private:
  struct Conn {
    int fd = -1;
    int slot = 0;
    size_t index = 0;
    const std::string* req = nullptr;
    size_t sent = 0;
    bool want_out = false;
    std::string in;  // response bytes; capacity reused
    int64_t start = 0, sent_at = 0, first_byte = 0;
  };

  Status attach(Conn& c) {
    KILN_ASSIGN_OR_RETURN(c.fd, connect_tcp(host_, port_));
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(c.slot);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.want_out = false;
    return ok_status();
  }

  void retire(Conn& c) {
    if (c.fd >= 0) ::close(c.fd);  // closing removes it from the epoll set
    c.fd = -1;
    --active_;
  }

  // Starts the next request on `c`, or retires it when stopping.
  void begin(Conn& c) {
    if (stopping_) {
      retire(c);
      return;
    }
    c.req = &(*requests_)[c.index++ % requests_->size()];
    c.sent = 0;
    c.in.clear();
    c.first_byte = 0;
    c.start = now_ns();
    send_more(c);
  }

  void set_out(Conn& c, bool on) {
    if (c.want_out == on) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.u32 = static_cast<uint32_t>(c.slot);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = on;
  }

  void send_more(Conn& c) {
    while (c.sent < c.req->size()) {
      ssize_t n = ::send(c.fd, c.req->data() + c.sent, c.req->size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_out(c, true);
        return;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        fail(c, std::string("send failed: ") + std::strerror(errno));
        return;
      }
    }
    c.sent_at = now_ns();
    set_out(c, false);
  }

  // Records the failure, then reconnects and goes on; a connection that cannot reconnect is retired.
  void fail(Conn& c, const std::string& message) {
    record_(slot_base_ + c.slot, now_ns() - c.start, CallTiming{},
            failed_precondition("HTTP " + host_ + ":" + std::to_string(port_) + ": " + message));
    ::close(c.fd);
    c.fd = -1;
    if (stopping_ || !attach(c).ok()) {
      --active_;
      return;
    }
    begin(c);
  }

  void read_some(Conn& c) {
    const size_t old = c.in.size();
    c.in.resize(old + 65536);
    ssize_t n = ::recv(c.fd, c.in.data() + old, 65536, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      c.in.resize(old);
      return;
    }
    if (n <= 0) {
      c.in.resize(old);
      fail(c, n == 0 ? "the server closed the connection" : std::string("recv failed: ") + std::strerror(errno));
      return;
    }
    c.in.resize(old + static_cast<size_t>(n));
    if (!c.first_byte) c.first_byte = now_ns();
    parse(c);
  }

  void parse(Conn& c) {
    const size_t header_end = c.in.find("\r\n\r\n");
    if (header_end == std::string::npos) {
      if (c.in.size() > 65536) fail(c, "response headers are too long");
      return;
    }
    std::string_view headers(c.in.data(), header_end);
    if (headers.size() < 12 || headers.substr(0, 7) != "HTTP/1.") {
      fail(c, "malformed HTTP response");
      return;
    }
    const int status = std::atoi(c.in.c_str() + 9);
    int64_t length = -1;
    bool closes = false;
    size_t line = headers.find("\r\n");
    while (line != std::string_view::npos) {
      const size_t next = headers.find("\r\n", line + 2);
      std::string_view l =
          headers.substr(line + 2, (next == std::string_view::npos ? headers.size() : next) - line - 2);
      const size_t colon = l.find(':');
      if (colon != std::string_view::npos) {
        std::string_view key = l.substr(0, colon), value = l.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (iequals(key, "Content-Length")) length = std::strtoll(value.data(), nullptr, 10);
        if (iequals(key, "Connection") && value.size() >= 5 && strncasecmp(value.data(), "close", 5) == 0)
          closes = true;
      }
      line = next;
    }
    if (length < 0) {
      fail(c, "a response without Content-Length (not supported by the asynchronous client)");
      return;
    }
    const size_t total = header_end + 4 + static_cast<size_t>(length);
    if (c.in.size() < total) return;  // more body to come
    const int64_t end = now_ns();
    CallTiming timing;
    timing.send_ns = c.sent_at - c.start;
    timing.recv_ns = end - c.first_byte;
    Status st =
        status == 200 ? ok_status() : to_error_(status, c.in.substr(header_end + 4, static_cast<size_t>(length)));
    record_(slot_base_ + c.slot, end - c.start, timing, st);
    if (closes) {
      ::close(c.fd);
      c.fd = -1;
      if (stopping_ || !attach(c).ok()) {
        --active_;
        return;
      }
    }
    begin(c);
  }

  void loop() {
    for (Conn& c : conns_) begin(c);
    epoll_event events[64];
    int64_t stop_seen = 0;
    while (active_ > 0) {
      if (stopping_ && !stop_seen) stop_seen = now_ns();
      if (stop_seen && now_ns() - stop_seen > kDrainNs) break;  // the server stopped answering: abandon
      const int n = epoll_wait(ep_, events, 64, 50);
      for (int i = 0; i < n; ++i) {
        Conn& c = conns_[events[i].data.u32];
        if (c.fd < 0) continue;
        if ((events[i].events & EPOLLOUT) && c.sent < c.req->size()) send_more(c);
        if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) read_some(c);
      }
    }
  }

  std::string host_;
  int port_;
  int slot_base_;  // this loop's first slot among all the lanes' (record_ gets global slots)
  std::shared_ptr<const std::vector<std::string>> requests_;
  RecordFn record_;
  HttpErrorFn to_error_;
  int ep_ = -1;
  std::vector<Conn> conns_;  // sized once in open()
  int active_ = 0;           // connections not retired; touched only by the loop thread after open()
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Several HttpAsyncLoads, one thread each, stopped together.
class HttpLanes final : public AsyncLoad {
 public:
  explicit HttpLanes(std::vector<std::unique_ptr<HttpAsyncLoad>> lanes) : lanes_(std::move(lanes)) {}
  ~HttpLanes() override { stop(); }
  void stop() override {
    for (auto& l : lanes_) l->request_stop();  // every lane drains at once
    for (auto& l : lanes_) l->stop();
  }

 private:
  std::vector<std::unique_ptr<HttpAsyncLoad>> lanes_;
};

}  // namespace

Result<std::unique_ptr<AsyncLoad>> start_http_async_load(const std::string& host, int port,
                                                         std::shared_ptr<const std::vector<std::string>> requests,
                                                         int concurrency, RecordFn record, HttpErrorFn to_error) {
  const int lanes = async_lanes(concurrency);
  std::vector<std::unique_ptr<HttpAsyncLoad>> loads;
  for (int i = 0, base = 0; i < lanes; ++i) {
    const int n = concurrency / lanes + (i < concurrency % lanes ? 1 : 0);
    auto load = std::make_unique<HttpAsyncLoad>(host, port, requests, record, to_error, base);
    KILN_RETURN_IF_ERROR(load->open(n));
    loads.push_back(std::move(load));
    base += n;
  }
  return std::unique_ptr<AsyncLoad>(std::make_unique<HttpLanes>(std::move(loads)));
}

}  // namespace kiln::perf
