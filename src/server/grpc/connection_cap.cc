// GrpcConnectionCap: counts the gRPC port's connections in /proc/net/tcp{,6} and shuts down those beyond the cap.
#include "server/grpc/connection_cap.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>

#include "server/inference_server.h"

namespace kiln::server {

namespace {

// One /proc/net/tcp{,6} table: columns "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode",
// addresses as HEX_IP:HEX_PORT; st 01 ESTABLISHED or 08 CLOSE_WAIT (a socket some process still holds).
void collect(const char* path, int port, std::vector<uint64_t>* inodes) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    uint64_t inode = 0;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode))
      continue;
    const size_t colon = local.rfind(':');
    if (colon == std::string::npos || inode == 0) continue;
    if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port && (state == "01" || state == "08"))
      inodes->push_back(inode);
  }
}

// This process's descriptors of the given socket inodes.
std::unordered_map<uint64_t, int> fds_of(const std::vector<uint64_t>& inodes) {
  std::unordered_map<uint64_t, int> found;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return found;
  for (dirent* e = readdir(dir); e; e = readdir(dir)) {
    char target[64];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
    if (n <= 8) continue;
    target[n] = '\0';
    uint64_t inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) != 1) continue;
    if (std::find(inodes.begin(), inodes.end(), inode) != inodes.end()) found[inode] = std::atoi(e->d_name);
  }
  closedir(dir);
  return found;
}

}  // namespace

std::vector<uint64_t> connection_inodes_on_port(int port) {
  std::vector<uint64_t> inodes;
  collect("/proc/net/tcp", port, &inodes);
  collect("/proc/net/tcp6", port, &inodes);
  return inodes;
}

GrpcConnectionCap::GrpcConnectionCap(int port, int max_connections) : port_(port), max_connections_(max_connections) {
  if (!std::ifstream("/proc/net/tcp") && !std::ifstream("/proc/net/tcp6")) {
    log_json("warning", "gRPC connection cap disabled: /proc/net/tcp cannot be read",
             {{"max_connections", std::to_string(max_connections_)}});
    return;
  }
  thread_ = std::thread([this] { watch(); });
}

GrpcConnectionCap::~GrpcConnectionCap() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GrpcConnectionCap::watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) enforce();
}

void GrpcConnectionCap::enforce() {
  std::vector<uint64_t> inodes = connection_inodes_on_port(port_);
  ++pass_;
  std::unordered_map<uint64_t, uint64_t> seen;
  for (uint64_t inode : inodes) {
    auto it = first_seen_.find(inode);
    seen[inode] = it == first_seen_.end() ? pass_ : it->second;
  }
  first_seen_.swap(seen);  // connections gone since the last pass are forgotten
  if (static_cast<int>(inodes.size()) <= max_connections_) return;
  // The oldest keep their connections: order by the pass that first saw them, then by inode.
  std::sort(inodes.begin(), inodes.end(), [this](uint64_t a, uint64_t b) {
    const uint64_t sa = first_seen_[a], sb = first_seen_[b];
    return sa != sb ? sa < sb : a < b;
  });
  std::vector<uint64_t> excess(inodes.begin() + max_connections_, inodes.end());
  uint64_t shut = 0;
  for (const auto& [inode, fd] : fds_of(excess)) {
    struct stat st {};
    // The descriptor may have been closed and reused since /proc was read: act only if it is still that socket.
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != inode) continue;
    if (shutdown(fd, SHUT_RDWR) == 0) ++shut;  // gRPC sees the connection end and closes the descriptor
  }
  if (shut == 0) return;
  const uint64_t before = refused_.fetch_add(shut), after = before + shut;
  // Log at the first refusal and whenever the total crosses a power of two: a flood does not flood the log.
  if (std::bit_width(after) > std::bit_width(before))
    log_json("warning", "gRPC connection refused: too many connections",
             {{"open", std::to_string(inodes.size())},
              {"max_connections", std::to_string(max_connections_)},
              {"refused_total", std::to_string(after)}});
}

}  // namespace kiln::server
