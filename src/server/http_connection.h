// HTTP plumbing below evhttp's request handling (http_connection.cc): sockets, descriptor limits, paths, framing
// checks and per-connection buffer watchers. Used by the HTTP front end (http_frontend.cc).
#pragma once
#include <event2/buffer.h>
#include <event2/http.h>

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "server/chunked_framing.h"

namespace kiln::server {

// Per-connection framing state, fed by sniff_input: the strict chunked-body check of the request being read.
struct ConnState {
  char head[64];  // the first bytes not yet consumed by evhttp
  size_t head_len = 0;
  ChunkedFraming framing;
};

// A listening TCP socket on host:port (non-blocking, close-on-exec, SO_REUSEADDR; SO_REUSEPORT when `reuseport`).
Result<int> make_listener(const std::string& host, int port, bool reuseport);
// The port a bound socket listens on.
int bound_port(int fd);

// Raises RLIMIT_NOFILE's soft limit to the hard limit once per process; returns the soft limit in effect.
int open_file_limit();
// The HTTP connection cap: `asked`, lowered so that gRPC, model files and shared-memory regions keep
// max(256, limit/4) descriptors.
int connection_cap(int asked);

// The URI-decoded, non-empty segments of a request path ("/v2//models/a%20b" -> v2, models, "a b").
std::vector<std::string> split_path(const char* path);
// A shared-memory extension path split into its parts: v2/<extension>/ACTION (name "") or
// v2/<extension>/region/NAME/ACTION. False for any other shape.
bool shm_path_parts(const std::vector<std::string>& seg, std::string* name, std::string* action);
// Whether the request carries more than one Content-Length header.
bool duplicate_content_length(evhttp_request* req);

// Input-buffer callback (arg: the connection's ConnState): feeds every removal (evhttp consuming input) to the
// connection's ChunkedFraming.
void sniff_input(evbuffer* buf, const evbuffer_cb_info* info, void* arg);
// Output-buffer callback (arg: the connection's ConnState or null): rewrites evhttp's own HTML error pages into
// {"error": "..."} JSON (a malformed chunk size line, which evhttp reports as 413, becomes a 400 naming it).
void json_error_pages(evbuffer* buf, const evbuffer_cb_info* info, void* arg);

}  // namespace kiln::server
