// The gRPC front end's connection cap: gRPC 1.51 (Debian's) has no limit on incoming connections, so idle ones could
// exhaust file descriptors. A watcher thread counts the server-side connections of the gRPC port in the kernel's
// socket table every 100 ms and shuts down as many as exceed the cap, the most recently seen first (gRPC then closes
// them; the client sees UNAVAILABLE). Handing accepted sockets to gRPC ourselves (grpc::AddInsecureChannelFromFd) would
// cap them before gRPC sees them, but such channels stalled under concurrent calls in gRPC 1.51, so the cap acts just
// after accept.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace kiln::server {

class GrpcConnectionCap {
 public:
  // Starts watching `port` (the bound gRPC port) for more than `max_connections` open connections.
  GrpcConnectionCap(int port, int max_connections);
  GrpcConnectionCap(const GrpcConnectionCap&) = delete;
  GrpcConnectionCap& operator=(const GrpcConnectionCap&) = delete;
  ~GrpcConnectionCap();  // stops the watcher

  // Connections shut down because of the cap so far.
  uint64_t refused() const { return refused_.load(); }

 private:
  void watch();
  void enforce();

  int port_;
  int max_connections_;
  std::atomic<uint64_t> refused_{0};
  // Socket inode -> the watcher pass that first saw it (inodes are not allocated in order across CPUs).
  std::unordered_map<uint64_t, uint64_t> first_seen_;
  uint64_t pass_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// Socket inodes of the server-side TCP connections of local port `port` that hold a socket open (ESTABLISHED or
// CLOSE_WAIT), from /proc/net/tcp and /proc/net/tcp6.
std::vector<uint64_t> connection_inodes_on_port(int port);

}  // namespace kiln::server
