// HTTP handlers of the trace and logging extensions (v2[/models/M]/trace/setting, v2/logging), called from the
// HTTP front end's router; protocol-independent of libevent (path segments and body in, status and JSON out).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "server/inference_server.h"

namespace kiln::server {

// Handles `seg` (the request path split on '/', seg[0] == "v2") when it names a trace or logging endpoint and
// returns true with *code / *body set (200 with the settings, 400/404/405 with {"error": "..."}); returns false
// for any other path. get/post: the request method.
bool handle_http_extension(InferenceServer& server, const std::vector<std::string>& seg, bool get, bool post,
                           std::string_view request_body, int* code, std::string* body);

}  // namespace kiln::server
