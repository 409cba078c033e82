// Reference kernel for TfIdfVectorizer: counts pooled n-grams (with skips) per row and weights them.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "backends/reference/control/control_util.h"

namespace kiln {

Status tfidf_vectorizer_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const bool is_string = x.dtype() == DType::kString;
  if (!is_string && x.dtype() != DType::kInt32 && x.dtype() != DType::kInt64)
    return ctx.error(std::string("input 0 must be string, int32 or int64, got ") + dtype_name(x.dtype()));
  if (x.rank() != 1 && x.rank() != 2) return ctx.error("input 0 must be 1-D [C] or 2-D [N, C], got " + control::describe_tensor(x));
  const Attrs& a = ctx.attrs();
  const int64_t min_n = a.get_int("min_gram_length", 0);
  const int64_t max_n = a.get_int("max_gram_length", 0);
  const int64_t max_skip = a.get_int("max_skip_count", 0);
  const std::string mode = a.get_string("mode", "");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF")
    return ctx.error("attribute 'mode' must be TF, IDF or TFIDF, got '" + mode + "'");
  if (min_n < 1 || max_n < min_n)
    return ctx.error("need 1 <= min_gram_length <= max_gram_length, got " + std::to_string(min_n) + " and " +
                     std::to_string(max_n));
  if (max_skip < 0) return ctx.error("attribute 'max_skip_count' must be >= 0");
  const std::vector<int64_t> counts = a.get_ints("ngram_counts");
  const std::vector<int64_t> indexes = a.get_ints("ngram_indexes");
  const std::vector<float> weights = a.get_floats("weights");

  // Pool tokens as ids: integers directly; strings through a dictionary (input strings outside it never match).
  std::vector<int64_t> pool;
  std::map<std::string, int64_t> string_ids;
  if (is_string) {
    for (const auto& s : a.get_strings("pool_strings")) {
      auto it = string_ids.emplace(s, static_cast<int64_t>(string_ids.size())).first;
      pool.push_back(it->second);
    }
  } else {
    pool = a.get_ints("pool_int64s");
  }
  if (pool.empty()) return ctx.error(std::string("attribute '") + (is_string ? "pool_strings" : "pool_int64s") +
                                     "' is required and must be non-empty");

  // n-gram (as ids) -> output column.
  std::map<std::vector<int64_t>, int64_t> column_of;
  size_t ordinal = 0;
  for (size_t g = 0; g < counts.size(); ++g) {
    const int64_t n = static_cast<int64_t>(g) + 1;
    const int64_t start = counts[g];
    const int64_t end = g + 1 < counts.size() ? counts[g + 1] : static_cast<int64_t>(pool.size());
    if (start < 0 || end < start || end > static_cast<int64_t>(pool.size()) || (end - start) % n != 0)
      return ctx.error("attribute 'ngram_counts' does not describe the pool (entry " + std::to_string(g) + ")");
    for (int64_t p = start; p < end; p += n, ++ordinal) {
      if (ordinal >= indexes.size()) return ctx.error("attribute 'ngram_indexes' has fewer entries than the pool's n-grams");
      column_of[std::vector<int64_t>(pool.begin() + p, pool.begin() + p + n)] = indexes[ordinal];
    }
  }
  int64_t width = 0;
  for (int64_t idx : indexes) {
    if (idx < 0) return ctx.error("attribute 'ngram_indexes' has a negative entry");
    width = std::max(width, idx + 1);
  }
  if (!weights.empty() && static_cast<int64_t>(weights.size()) < width)
    return ctx.error("attribute 'weights' has " + std::to_string(weights.size()) + " entries, need " +
                     std::to_string(width));

  const int64_t rows = x.rank() == 2 ? x.dim(0) : 1;
  const int64_t cols = x.rank() == 2 ? x.dim(1) : x.dim(0);
  if (width > (int64_t{1} << 28) || (rows > 0 && width > (int64_t{1} << 28) / rows))
    return ctx.error("output of " + std::to_string(rows) + " x " + std::to_string(width) + " is too large");
  std::vector<int64_t> tokens(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (is_string) {
      auto it = string_ids.find(x.strings()[i]);
      tokens[i] = it == string_ids.end() ? -1 : it->second;
    } else {
      tokens[i] = x.as_int64(i);
    }
  }
  std::vector<int64_t> freq(rows * width, 0);
  std::vector<int64_t> key;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* row = tokens.data() + r * cols;
    for (int64_t n = min_n; n <= max_n; ++n) {
      for (int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip) {
        const int64_t step = skip + 1;
        for (int64_t s = 0; s + (n - 1) * step < cols; ++s) {
          key.clear();
          for (int64_t k = 0; k < n; ++k) key.push_back(row[s + k * step]);
          auto it = column_of.find(key);
          if (it != column_of.end()) ++freq[r * width + it->second];
        }
      }
    }
  }
  Tensor out(DType::kFloat32, x.rank() == 2 ? Dims{rows, width} : Dims{width});
  float* y = out.data<float>();
  for (int64_t i = 0; i < rows * width; ++i) {
    const float w = weights.empty() ? 1.f : weights[i % width];
    const float f = static_cast<float>(freq[i]);
    y[i] = mode == "TF" ? f : mode == "IDF" ? (freq[i] > 0 ? w : 0.f) : f * w;
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
