// Reference kernels for the string ops: StringConcat, StringNormalizer, StringSplit and RegexFullMatch.
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "backends/reference/common.h"
#include "backends/reference/control/control_util.h"

namespace kiln {

namespace {

Status require_strings(const KernelContext& ctx, size_t i) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  if (ctx.input(i).dtype() != DType::kString)
    return ctx.error("input " + std::to_string(i) + " must be a string tensor, got " + control::describe_tensor(ctx.input(i)));
  return ok_status();
}

// Decodes one UTF-8 code point at s[*i] (advancing *i); invalid bytes decode as themselves (Latin-1).
uint32_t next_code_point(const std::string& s, size_t* i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(*i);
  int extra = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  if (c >= 0x80 && c < 0xC0) extra = 0;
  if (extra && *i + extra >= s.size()) extra = 0;  // truncated sequence: take the lead byte alone
  uint32_t cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k <= extra; ++k) {
    if ((b(*i + k) & 0xC0) != 0x80) {  // malformed: take the lead byte alone
      ++*i;
      return c;
    }
    cp = (cp << 6) | (b(*i + k) & 0x3F);
  }
  *i += 1 + extra;
  return cp;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Case mapping for ASCII, Latin-1 Supplement and Latin Extended-A; other code points are unchanged.
uint32_t to_lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
  }
  return c;
}

uint32_t to_upper_cp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
  }
  return c;
}

std::string change_case(const std::string& s, bool upper) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = next_code_point(s, &i);
    append_utf8(upper ? to_upper_cp(cp) : to_lower_cp(cp), &out);
  }
  return out;
}

bool is_py_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Python str.split(): on whitespace runs when `sep` is empty, else on each occurrence of `sep`.
std::vector<std::string> py_split(const std::string& s, const std::string& sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep.empty()) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t end = s.size();
        while (end > i && is_py_space(s[end - 1])) --end;
        parts.push_back(s.substr(i, end - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !is_py_space(s[j])) ++j;
      parts.push_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) break;
    size_t p = s.find(sep, start);
    if (p == std::string::npos) break;
    parts.push_back(s.substr(start, p - start));
    start = p + sep.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

}  // namespace

Status string_concat_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_strings(ctx, 0));
  KILN_RETURN_IF_ERROR(require_strings(ctx, 1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Dims od;
  if (!broadcast_dims(a.dims(), b.dims(), &od))
    return ctx.error("inputs " + control::describe_tensor(a) + " and " + control::describe_tensor(b) + " cannot be broadcast");
  auto ma = broadcast_index_map(a.dims(), od);
  auto mb = broadcast_index_map(b.dims(), od);
  Tensor out(DType::kString, od);
  for (int64_t i = 0; i < out.numel(); ++i) out.strings()[i] = a.strings()[ma[i]] + b.strings()[mb[i]];
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status string_normalizer_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_strings(ctx, 0));
  const Tensor& x = ctx.input(0);
  if (!(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1)))
    return ctx.error("input 0 must have shape [C] or [1, C], got " + control::describe_tensor(x));
  const std::string action = ctx.attrs().get_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER")
    return ctx.error("attribute 'case_change_action' must be NONE, LOWER or UPPER, got '" + action + "'");
  const bool case_sensitive = ctx.attrs().get_int("is_case_sensitive", 0) != 0;
  std::set<std::string> stops;
  for (const auto& w : ctx.attrs().get_strings("stopwords")) stops.insert(case_sensitive ? w : change_case(w, false));
  std::vector<std::string> kept;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const std::string& s = x.strings()[i];
    if (stops.count(case_sensitive ? s : change_case(s, false))) continue;
    kept.push_back(action == "NONE" ? s : change_case(s, action == "UPPER"));
  }
  if (kept.empty()) kept.push_back("");
  const int64_t c = static_cast<int64_t>(kept.size());
  Tensor out(DType::kString, x.rank() == 1 ? Dims{c} : Dims{1, c});
  for (int64_t i = 0; i < c; ++i) out.strings()[i] = kept[i];
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status string_split_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_strings(ctx, 0));
  const Tensor& x = ctx.input(0);
  const std::string delim = ctx.attrs().get_string("delimiter", "");
  const int64_t maxsplit = ctx.attrs().has("maxsplit") ? ctx.attrs().get_int("maxsplit") : -1;
  if (ctx.attrs().has("maxsplit") && maxsplit < 0)
    return ctx.error("attribute 'maxsplit' must be non-negative, got " + std::to_string(maxsplit));
  std::vector<std::vector<std::string>> parts(x.numel());
  int64_t widest = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    parts[i] = py_split(x.strings()[i], delim, maxsplit);
    widest = std::max<int64_t>(widest, static_cast<int64_t>(parts[i].size()));
  }
  Dims yd = x.dims();
  yd.push_back(widest);
  auto y_or = Tensor::allocate(DType::kString, yd, size_t{1} << 34);
  if (!y_or.ok()) return ctx.error("split output " + dims_to_string(yd) + " is too large");
  Tensor y = std::move(y_or).value();
  Tensor z(DType::kInt64, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) {
    for (size_t k = 0; k < parts[i].size(); ++k) y.strings()[i * widest + k] = parts[i][k];
    z.data<int64_t>()[i] = static_cast<int64_t>(parts[i].size());
  }
  ctx.set_output(0, std::move(y));
  ctx.set_output(1, std::move(z));
  return ok_status();
}

Status regex_full_match_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_strings(ctx, 0));
  const Tensor& x = ctx.input(0);
  if (!ctx.attrs().has("pattern")) return ctx.error("attribute 'pattern' is required");
  const std::string pattern = ctx.attrs().get_string("pattern");
  // std::regex reports bad patterns (and runaway backtracking) only by throwing, so both are caught here.
  Tensor out(DType::kBool, x.dims());
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    for (int64_t i = 0; i < x.numel(); ++i) out.data<uint8_t>()[i] = std::regex_match(x.strings()[i], re) ? 1 : 0;
  } catch (const std::regex_error& e) {
    return ctx.unsupported("pattern '" + pattern + "' failed in the ECMAScript regex engine: " + e.what());
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
