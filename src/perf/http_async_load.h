// Closed-loop HTTP load on a few epoll threads: nonblocking keep-alive connections sending prebuilt requests.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "perf/client.h"

namespace kiln::perf {

// Turns a non-200 response (status, body) into a Status.
using HttpErrorFn = std::function<Status(int status, const std::string& body)>;

// Opens `concurrency` connections (failing if one cannot connect), split over async_lanes(concurrency) threads, and
// keeps one request in flight on each,
// cycling through `requests` (complete HTTP/1.1 requests). Responses must carry Content-Length.
Result<std::unique_ptr<AsyncLoad>> start_http_async_load(const std::string& host, int port,
                                                         std::shared_ptr<const std::vector<std::string>> requests,
                                                         int concurrency, RecordFn record, HttpErrorFn to_error);

}  // namespace kiln::perf
