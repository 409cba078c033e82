// Parsers for kiln perf's structured flags: ranges, --shape and host:port.
#include "perf/perf_options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace kiln::perf {
namespace {

bool to_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(*out);
}

bool to_int64(const std::string& s, int64_t* out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18) return false;
  *out = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (;;) {
    size_t pos = s.find(sep, begin);
    parts.push_back(s.substr(begin, pos == std::string::npos ? std::string::npos : pos - begin));
    if (pos == std::string::npos) return parts;
    begin = pos + 1;
  }
}

}  // namespace

std::vector<double> Range::values() const {
  std::vector<double> out;
  // The tolerance keeps 0.1:0.3:0.1 from losing its last step to rounding.
  for (int64_t i = 0;; ++i) {
    double v = start + static_cast<double>(i) * step;
    if (v > end + step * 1e-9) break;
    out.push_back(v);
  }
  return out;
}

Result<Range> parse_range(const std::string& text, const std::string& flag) {
  std::vector<std::string> parts = split(text, ':');
  Range r;
  bool ok = parts.size() <= 3 && to_double(parts[0], &r.start);
  r.end = r.start;
  if (ok && parts.size() >= 2) ok = to_double(parts[1], &r.end);
  if (ok && parts.size() == 3) ok = to_double(parts[2], &r.step);
  if (!ok) return invalid_argument(flag + " '" + text + "': expected start[:end[:step]] with numbers");
  if (r.start <= 0 || r.end < r.start || r.step <= 0)
    return invalid_argument(flag + " '" + text + "': need 0 < start <= end and step > 0");
  if ((r.end - r.start) / r.step > 100000) return invalid_argument(flag + " '" + text + "': too many steps");
  return r;
}

Result<std::pair<std::string, Dims>> parse_shape(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return invalid_argument("--shape '" + text + "': expected NAME:d0,d1,... (the name ends at the last ':')");
  std::string name = text.substr(0, colon);
  Dims dims;
  for (const std::string& d : split(text.substr(colon + 1), ',')) {
    int64_t v = 0;
    if (!to_int64(d, &v))
      return invalid_argument("--shape '" + text + "': dimension '" + d + "' is not a non-negative integer");
    dims.push_back(v);
  }
  return std::make_pair(std::move(name), std::move(dims));
}

Result<std::pair<std::string, int>> parse_url(const std::string& text, int default_port) {
  std::string s = text;
  for (const char* scheme : {"http://", "grpc://"}) {
    if (s.rfind(scheme, 0) == 0) s = s.substr(std::string(scheme).size());
  }
  while (!s.empty() && s.back() == '/') s.pop_back();
  std::string host = s;
  int port = default_port;
  size_t colon = std::string::npos;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos) return invalid_argument("-u '" + text + "': unterminated '['");
    host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return invalid_argument("-u '" + text + "': expected [host]:port");
      colon = close + 1;
    }
  } else if ((colon = s.rfind(':')) != std::string::npos) {
    host = s.substr(0, colon);
  }
  if (colon != std::string::npos) {
    int64_t p = 0;
    if (!to_int64(s.substr(colon + 1), &p) || p <= 0 || p > 65535)
      return invalid_argument("-u '" + text + "': port must be 1..65535");
    port = static_cast<int>(p);
  }
  if (host.empty()) return invalid_argument("-u '" + text + "': missing host");
  return std::make_pair(host, port);
}

}  // namespace kiln::perf
