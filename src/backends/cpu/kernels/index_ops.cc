// Indexed-access CPU kernels: GatherElements, GatherND, ScatterElements, ScatterND (element and slice copies, indices
// checked as they are read), TopK (selection per row), CumSum (running sums across rows of the inner dims) and Trilu.
// Results equal the reference kernels' (src/backends/reference/tensor): TopK orders NaN above every number and breaks
// ties by the lower index; scatters apply updates in index order, so a repeated index keeps the last update.
#include "backends/cpu/kernels/index_ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "backends/cpu/kernels/common.h"
#include "ir/op_params.h"
#include "ir/shape_rules.h"

namespace kiln::cpu::kern {
namespace {

bool int_index(DType d) { return d == DType::kInt64 || d == DType::kInt32; }

// Calls f(const I* indices) with the index tensor's element type (int32 or int64).
template <typename F>
Status with_indices(const CpuKernelContext& ctx, const Tensor& t, const char* what, F&& f) {
  if (t.dtype() == DType::kInt64) return f(t.data<int64_t>());
  if (t.dtype() == DType::kInt32) return f(t.data<int32_t>());
  return ctx.error(std::string(what) + " must be int32 or int64, got " + dtype_name(t.dtype()));
}

// Calls f(std::integral_constant<size_t, S>) for the element size S of a fixed-size dtype.
template <typename F>
void with_element_size(size_t es, F&& f) {
  switch (es) {
    case 1: f(std::integral_constant<size_t, 1>{}); break;
    case 2: f(std::integral_constant<size_t, 2>{}); break;
    case 4: f(std::integral_constant<size_t, 4>{}); break;
    default: f(std::integral_constant<size_t, 8>{}); break;
  }
}

// The first bad index found by parallel loops (element position and value), reported after the loop.
struct BadIndex {
  std::atomic<int64_t> at{-1};
  int64_t value = 0;
  void note(int64_t k, int64_t v) {
    int64_t none = -1;
    if (at.compare_exchange_strong(none, k)) value = v;
  }
  bool any() const { return at.load() >= 0; }
};

Status out_of_range_error(const CpuKernelContext& ctx, int64_t v, int64_t dim, const std::string& where) {
  return out_of_range(ctx.node().describe() + ": index " + std::to_string(v) + " is out of range for " + where +
                      " of size " + std::to_string(dim));
}

// ---- GatherElements ----

template <size_t ES, typename I>
void gather_elements_rows(const char* x, char* y, const I* ind, const Dims& id, const std::vector<int64_t>& xs,
                          int64_t axis, int64_t axis_dim, int64_t row0, int64_t row1, BadIndex* bad) {
  const int64_t r = static_cast<int64_t>(id.size()), last = id[r - 1];
  const int64_t step = axis == r - 1 ? 0 : xs[r - 1];  // the last dim's data stride (0: it is the gathered axis)
  for (int64_t row = row0; row < row1; ++row) {
    int64_t base = 0, rest = row;
    for (int64_t d = r - 2; d >= 0; --d) {
      const int64_t i = rest % id[d];
      rest /= id[d];
      if (d != axis) base += i * xs[d];
    }
    for (int64_t j = 0; j < last; ++j) {
      const int64_t k = row * last + j;
      int64_t v = ind[k];
      if (v < 0) v += axis_dim;
      if (v < 0 || v >= axis_dim) {
        bad->note(k, ind[k]);
        return;
      }
      std::memcpy(y + k * ES, x + (base + j * step + v * xs[axis]) * ES, ES);
    }
  }
}

// ---- TopK ----

// Whether a ranks before b (NaN above every number; `largest` false: the smallest first, NaN last).
template <typename T>
inline bool ranks_before(T a, T b, bool largest) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return largest && !std::isnan(b);
    if (std::isnan(b)) return !largest;
  }
  return largest ? a > b : a < b;
}

// Up to this K a row keeps its best K in a sorted array as it scans (one comparison per element for most of them);
// beyond it, a partial sort of the row's positions.
constexpr int64_t kScanTopK = 16;

template <typename T>
void top_k_row(const T* v, int64_t dim, int64_t k, bool largest, T* vals, int64_t* idx, int64_t* order) {
  if (k <= kScanTopK) {
    int64_t n = 0;
    for (int64_t j = 0; j < dim; ++j) {
      const T x = v[j];
      if (n == k && !ranks_before(x, vals[k - 1], largest)) continue;  // ties keep the lower index
      int64_t p = n < k ? n++ : k - 1;
      while (p > 0 && ranks_before(x, vals[p - 1], largest)) {
        vals[p] = vals[p - 1];
        idx[p] = idx[p - 1];
        --p;
      }
      vals[p] = x;
      idx[p] = j;
    }
    return;
  }
  std::iota(order, order + dim, int64_t{0});
  std::partial_sort(order, order + k, order + dim, [&](int64_t a, int64_t b) {
    if (ranks_before(v[a], v[b], largest)) return true;
    if (ranks_before(v[b], v[a], largest)) return false;
    return a < b;
  });
  for (int64_t j = 0; j < k; ++j) {
    vals[j] = v[order[j]];
    idx[j] = order[j];
  }
}

template <typename T>
Status top_k_typed(CpuKernelContext& ctx, const Tensor& x, int64_t axis, int64_t k, bool largest) {
  Dims od = x.dims();
  od[axis] = k;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  KILN_ASSIGN_OR_RETURN(Tensor * yi, ctx.allocate_output(1, DType::kInt64, od));
  int64_t outer = 1, inner = 1;
  const int64_t dim = x.dim(axis);
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < static_cast<int64_t>(x.rank()); ++d) inner *= x.dim(d);
  const int64_t rows = outer * inner;
  if (rows == 0 || k == 0) return ok_status();
  const int threads = static_cast<int>(std::min<int64_t>(threads_for(ctx, rows * dim), rows));
  // Per thread: the row gathered contiguous (inner > 1), its best K and, past kScanTopK, the positions to sort.
  const int64_t per = (inner > 1 ? dim : 0) + 2 * k + (k > kScanTopK ? dim : 0);
  KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(static_cast<size_t>(threads * per) * 8));
  const T* xs = x.data<T>();
  T* ys = y->data<T>();
  int64_t* is = yi->data<int64_t>();
  parallel_range(threads, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t* scratch = static_cast<int64_t*>(ws) + t * per;
      T* row = reinterpret_cast<T*>(scratch);  // 8 bytes per element reserved: any T fits
      T* vals = reinterpret_cast<T*>(scratch + (inner > 1 ? dim : 0));
      int64_t* idx = scratch + (inner > 1 ? dim : 0) + k;
      int64_t* order = idx + k;
      for (int64_t rr = rows * t / threads; rr < rows * (t + 1) / threads; ++rr) {
        const int64_t o = rr / inner, i = rr % inner;
        const T* src = xs + o * dim * inner + i;
        if (inner > 1) {
          for (int64_t j = 0; j < dim; ++j) row[j] = src[j * inner];
          src = row;
        }
        top_k_row(src, dim, k, largest, vals, idx, order);
        for (int64_t j = 0; j < k; ++j) {
          ys[(o * k + j) * inner + i] = vals[j];
          is[(o * k + j) * inner + i] = idx[j];
        }
      }
    }
  });
  return ok_status();
}

// ---- CumSum ----

// Inner elements one task accumulates at once (a stack buffer of running sums).
constexpr int64_t kCumSumBlock = 256;

template <typename T>
void cum_sum_typed(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool exclusive, bool reverse,
                   int threads) {
  if (inner == 1) {  // along the last axis: one running sum per row
    parallel_range(threads, outer, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* xr = x + o * dim;
        T* yr = y + o * dim;
        T acc = T(0);
        for (int64_t s = 0; s < dim; ++s) {
          const int64_t j = reverse ? dim - 1 - s : s;
          if (exclusive) {
            yr[j] = acc;
            acc += xr[j];
          } else {
            yr[j] = acc += xr[j];
          }
        }
      }
    });
    return;
  }
  const int64_t blocks = (inner + kCumSumBlock - 1) / kCumSumBlock;
  parallel_range(threads, outer * blocks, [&](int64_t b, int64_t e) {
    T acc[kCumSumBlock];
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / blocks, i0 = (task % blocks) * kCumSumBlock;
      const int64_t n = std::min(kCumSumBlock, inner - i0);
      std::fill(acc, acc + n, T(0));
      for (int64_t s = 0; s < dim; ++s) {
        const int64_t j = reverse ? dim - 1 - s : s;
        const T* xr = x + (o * dim + j) * inner + i0;
        T* yr = y + (o * dim + j) * inner + i0;
        if (exclusive) {
          for (int64_t i = 0; i < n; ++i) {
            yr[i] = acc[i];
            acc[i] += xr[i];
          }
        } else {
          for (int64_t i = 0; i < n; ++i) yr[i] = acc[i] += xr[i];
        }
      }
    }
  });
}

// ---- scatters ----

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

bool parse_reduction(const std::string& s, Reduction* r) {
  if (s == "none") *r = Reduction::kNone;
  else if (s == "add") *r = Reduction::kAdd;
  else if (s == "mul") *r = Reduction::kMul;
  else if (s == "max") *r = Reduction::kMax;
  else if (s == "min") *r = Reduction::kMin;
  else return false;
  return true;
}

template <typename T>
inline void combine(T* o, const T* u, int64_t n, Reduction red) {
  for (int64_t i = 0; i < n; ++i) {
    switch (red) {
      case Reduction::kNone: o[i] = u[i]; break;
      case Reduction::kAdd: o[i] = static_cast<T>(o[i] + u[i]); break;
      case Reduction::kMul: o[i] = static_cast<T>(o[i] * u[i]); break;
      case Reduction::kMax: o[i] = std::max(o[i], u[i]); break;
      case Reduction::kMin: o[i] = std::min(o[i], u[i]); break;
    }
  }
}

// Applies n elements of updates `u` to `o` with `red` (kNone: a byte copy of any fixed-size dtype).
void apply_update(DType d, char* o, const char* u, int64_t n, Reduction red) {
  const size_t es = dtype_size(d);
  if (red == Reduction::kNone) {
    std::memcpy(o, u, static_cast<size_t>(n) * es);
    return;
  }
  switch (d) {
    case DType::kFloat32: combine(reinterpret_cast<float*>(o), reinterpret_cast<const float*>(u), n, red); break;
    case DType::kInt32: combine(reinterpret_cast<int32_t*>(o), reinterpret_cast<const int32_t*>(u), n, red); break;
    default: combine(reinterpret_cast<int64_t*>(o), reinterpret_cast<const int64_t*>(u), n, red); break;
  }
}

NodeSupport scatter_dtypes(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (!fixed_size_dtype(d)) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  if (input_dtype(g, n, 2) != d) return NodeSupport::no("updates dtype differs from data");
  if (!int_index(input_dtype(g, n, 1))) return NodeSupport::no("indices are not int32/int64");
  Reduction red;
  if (!parse_reduction(n.attrs.get_string("reduction", "none"), &red)) return NodeSupport::no("unknown reduction");
  if (red != Reduction::kNone && d != DType::kFloat32 && d != DType::kInt32 && d != DType::kInt64)
    return NodeSupport::no(std::string("reduction on ") + dtype_name(d));
  return NodeSupport::yes();
}

Result<Reduction> reduction_of(const CpuKernelContext& ctx) {
  const std::string s = ctx.attrs().get_string("reduction", "none");
  Reduction red;
  if (!parse_reduction(s, &red)) return ctx.error("reduction must be none, add, mul, max or min, got '" + s + "'");
  return red;
}

// The output starts as a copy of the data; scatters then write into it.
Result<Tensor*> copy_of_data(CpuKernelContext& ctx, const Tensor& x, const Tensor& upd) {
  if (upd.dtype() != x.dtype())
    return ctx.error(std::string("updates have dtype ") + dtype_name(upd.dtype()) + ", expected " + dtype_name(x.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.dims()));
  const size_t bytes = static_cast<size_t>(x.numel()) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y->raw());
  parallel_range(threads_for(ctx, static_cast<int64_t>(bytes / 8)), static_cast<int64_t>(bytes), [&](int64_t b, int64_t e) {
    std::memcpy(dst + b, src + b, static_cast<size_t>(e - b));
  });
  return y;
}

}  // namespace

NodeSupport gather_elements_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (!fixed_size_dtype(d)) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  if (!int_index(input_dtype(g, n, 1))) return NodeSupport::no("indices are not int32/int64");
  return NodeSupport::yes();
}

Status gather_elements_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const int64_t r = static_cast<int64_t>(x.rank());
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  if (Status st = check_element_indices(x.dims(), ind.dims(), axis); !st.ok()) return ctx.error(st.message());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), ind.dims()));
  if (ind.numel() == 0) return ok_status();
  const std::vector<int64_t> xs = strides(x.dims());
  const int64_t rows = ind.numel() / ind.dim(r - 1);
  BadIndex bad;
  KILN_RETURN_IF_ERROR(with_indices(ctx, ind, "indices", [&](const auto* ip) {
    with_element_size(dtype_size(x.dtype()), [&](auto es) {
      parallel_range(threads_for(ctx, ind.numel()), rows, [&](int64_t b, int64_t e) {
        gather_elements_rows<decltype(es)::value>(static_cast<const char*>(x.raw()), static_cast<char*>(y->raw()), ip,
                                                  ind.dims(), xs, axis, x.dim(axis), b, e, &bad);
      });
    });
    return ok_status();
  }));
  if (bad.any()) return out_of_range_error(ctx, bad.value, x.dim(axis), "axis " + std::to_string(axis));
  return ok_status();
}

NodeSupport gather_nd_supports(const Graph& g, const Node& n) { return gather_elements_supports(g, n); }

Status gather_nd_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const int64_t r = static_cast<int64_t>(x.rank()), q = static_cast<int64_t>(ind.rank());
  const int64_t b = ctx.attrs().get_int("batch_dims", 0);
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return ctx.error("batch_dims " + std::to_string(b) + " must be in [0, min(rank(data), rank(indices)))");
  for (int64_t d = 0; d < b; ++d)
    if (x.dim(d) != ind.dim(d))
      return ctx.error("batch dimension " + std::to_string(d) + " differs: data " + dims_to_string(x.dims()) +
                       ", indices " + dims_to_string(ind.dims()));
  const int64_t last = ind.dim(q - 1);
  if (last < 1 || last > r - b)
    return ctx.error("indices last dimension " + std::to_string(last) + " must be in [1, " + std::to_string(r - b) + "]");
  Dims od(ind.dims().begin(), ind.dims().end() - 1);
  od.insert(od.end(), x.dims().begin() + b + last, x.dims().end());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  int64_t slice = 1, batch = 1;
  for (int64_t d = b + last; d < r; ++d) slice *= x.dim(d);
  for (int64_t d = 0; d < b; ++d) batch *= x.dim(d);
  const int64_t tuples = ind.numel() / last;
  if (tuples == 0) return ok_status();
  const std::vector<int64_t> xs = strides(x.dims());
  const int64_t per_batch = batch > 0 ? tuples / batch : 0, batch_stride = b > 0 ? xs[b - 1] : 0;
  const size_t es = dtype_size(x.dtype()), bytes = static_cast<size_t>(slice) * es;
  BadIndex bad;
  KILN_RETURN_IF_ERROR(with_indices(ctx, ind, "indices", [&](const auto* ip) {
    parallel_range(threads_for(ctx, tuples * slice), tuples, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t off = per_batch > 0 ? (t / per_batch) * batch_stride : 0;
        for (int64_t j = 0; j < last; ++j) {
          const int64_t dim = x.dim(b + j);
          int64_t v = ip[t * last + j];
          if (v < 0) v += dim;
          if (v < 0 || v >= dim) {
            bad.note(t * last + j, ip[t * last + j]);
            return;
          }
          off += v * xs[b + j];
        }
        std::memcpy(static_cast<char*>(y->raw()) + t * bytes, static_cast<const char*>(x.raw()) + off * es, bytes);
      }
    });
    return ok_status();
  }));
  if (bad.any()) {
    const int64_t axis = b + bad.at.load() % last;
    return out_of_range_error(ctx, bad.value, x.dim(axis), "axis " + std::to_string(axis));
  }
  return ok_status();
}

NodeSupport scatter_supports(const Graph& g, const Node& n) { return scatter_dtypes(g, n); }

Status scatter_elements_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(Reduction red, reduction_of(ctx));
  const int64_t r = static_cast<int64_t>(x.rank());
  if (upd.dims() != ind.dims())
    return ctx.error("updates shape " + dims_to_string(upd.dims()) + " must equal indices shape " + dims_to_string(ind.dims()));
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  if (Status st = check_element_indices(x.dims(), ind.dims(), axis); !st.ok()) return ctx.error(st.message());
  KILN_ASSIGN_OR_RETURN(Tensor * y, copy_of_data(ctx, x, upd));
  const std::vector<int64_t> xs = strides(x.dims());
  const size_t es = dtype_size(x.dtype());
  const int64_t dim = x.dim(axis);
  return with_indices(ctx, ind, "indices", [&](const auto* ip) -> Status {
    std::vector<int64_t> at(r, 0);  // the update's multi-index, counted up in row-major order
    for (int64_t k = 0; k < ind.numel(); ++k) {
      int64_t v = ip[k];
      if (v < 0) v += dim;
      if (v < 0 || v >= dim) return out_of_range_error(ctx, ip[k], dim, "axis " + std::to_string(axis));
      int64_t off = v * xs[axis];
      for (int64_t d = 0; d < r; ++d)
        if (d != axis) off += at[d] * xs[d];
      apply_update(x.dtype(), static_cast<char*>(y->raw()) + off * es, static_cast<const char*>(upd.raw()) + k * es, 1,
                   red);
      for (int64_t d = r - 1; d >= 0 && ++at[d] == ind.dim(d); --d) at[d] = 0;
    }
    return ok_status();
  });
}

Status scatter_nd_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(Reduction red, reduction_of(ctx));
  const int64_t r = static_cast<int64_t>(x.rank());
  auto want_or = scatter_nd_updates_dims(x.dims(), ind.dims());
  if (!want_or.ok()) return ctx.error(want_or.status().message());
  const Dims& want = *want_or;
  const int64_t last = ind.dim(ind.rank() - 1);
  if (upd.dims() != want) return ctx.error("updates shape " + dims_to_string(upd.dims()) + " must be " + dims_to_string(want));
  KILN_ASSIGN_OR_RETURN(Tensor * y, copy_of_data(ctx, x, upd));
  int64_t slice = 1;
  for (int64_t d = last; d < r; ++d) slice *= x.dim(d);
  const int64_t tuples = last > 0 ? ind.numel() / last : dims_numel(want) / std::max<int64_t>(1, slice);
  const std::vector<int64_t> xs = strides(x.dims());
  const size_t es = dtype_size(x.dtype());
  return with_indices(ctx, ind, "indices", [&](const auto* ip) -> Status {
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = 0;
      for (int64_t j = 0; j < last; ++j) {
        const int64_t dim = x.dim(j);
        int64_t v = ip[t * last + j];
        if (v < 0) v += dim;
        if (v < 0 || v >= dim) return out_of_range_error(ctx, ip[t * last + j], dim, "axis " + std::to_string(j));
        off += v * xs[j];
      }
      apply_update(x.dtype(), static_cast<char*>(y->raw()) + off * es,
                   static_cast<const char*>(upd.raw()) + t * slice * es, slice, red);
    }
    return ok_status();
  });
}

NodeSupport top_k_supports(const Graph& g, const Node& n) {
  if (n.opset > 0 && n.opset < 10) return NodeSupport::no("opset < 10 (K as an attribute)");
  const DType d = input_dtype(g, n, 0);
  if (d != DType::kFloat32 && d != DType::kFloat64 && d != DType::kInt32 && d != DType::kInt64)
    return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  if (!int_index(input_dtype(g, n, 1))) return NodeSupport::no("K is not int32/int64");
  return NodeSupport::yes();
}

Status top_k_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& kt = ctx.input(1);
  if (kt.numel() != 1) return ctx.error("K must hold exactly one value, got " + std::to_string(kt.numel()));
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = 0;
  const int64_t a = ctx.attrs().get_int("axis", -1);
  if (!norm_axis(a, r, &axis)) return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
  const int64_t k = read_ints(kt)[0];
  if (k < 0 || k > x.dim(axis))
    return ctx.error("K = " + std::to_string(k) + " must be in [0, " + std::to_string(x.dim(axis)) + "]");
  const bool largest = ctx.attrs().get_int("largest", 1) != 0;
  switch (x.dtype()) {
    case DType::kFloat32: return top_k_typed<float>(ctx, x, axis, k, largest);
    case DType::kFloat64: return top_k_typed<double>(ctx, x, axis, k, largest);
    case DType::kInt32: return top_k_typed<int32_t>(ctx, x, axis, k, largest);
    case DType::kInt64: return top_k_typed<int64_t>(ctx, x, axis, k, largest);
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  }
}

NodeSupport cum_sum_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (d != DType::kFloat32 && d != DType::kFloat64 && d != DType::kInt32 && d != DType::kInt64)
    return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  if (!int_index(input_dtype(g, n, 1))) return NodeSupport::no("axis is not int32/int64");
  return NodeSupport::yes();
}

Status cum_sum_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& at = ctx.input(1);
  if (at.numel() != 1) return ctx.error("axis must be a scalar, got " + std::to_string(at.numel()) + " values");
  const int64_t r = static_cast<int64_t>(x.rank()), a = read_ints(at)[0];
  int64_t axis = 0;
  if (!norm_axis(a, r, &axis)) return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.dims()));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  const int64_t dim = x.dim(axis);
  if (x.numel() == 0) return ok_status();
  const bool exclusive = ctx.attrs().get_int("exclusive", 0) != 0, reverse = ctx.attrs().get_int("reverse", 0) != 0;
  const int threads = threads_for(ctx, x.numel());
  switch (x.dtype()) {
    case DType::kFloat32: cum_sum_typed(x.data<float>(), y->data<float>(), outer, dim, inner, exclusive, reverse, threads); break;
    case DType::kFloat64: cum_sum_typed(x.data<double>(), y->data<double>(), outer, dim, inner, exclusive, reverse, threads); break;
    case DType::kInt32: cum_sum_typed(x.data<int32_t>(), y->data<int32_t>(), outer, dim, inner, exclusive, reverse, threads); break;
    case DType::kInt64: cum_sum_typed(x.data<int64_t>(), y->data<int64_t>(), outer, dim, inner, exclusive, reverse, threads); break;
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  }
  return ok_status();
}

NodeSupport trilu_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (!fixed_size_dtype(d)) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  if (n.has_input(1) && input_dtype(g, n, 1) != DType::kInt64) return NodeSupport::no("k is not int64");
  return NodeSupport::yes();
}

Status trilu_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  if (r < 2) return ctx.error("input must have rank >= 2, got " + std::to_string(r));
  int64_t k = 0;
  if (ctx.has_input(1)) {
    const Tensor& kt = ctx.input(1);
    if (kt.numel() != 1) return ctx.error("k must hold exactly one value, got " + std::to_string(kt.numel()));
    k = read_ints(kt)[0];
  }
  const bool upper = ctx.attrs().get_int("upper", 1) != 0;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.dims()));
  const int64_t rows = x.dim(r - 2), cols = x.dim(r - 1);
  if (x.numel() == 0) return ok_status();
  const size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y->raw());
  parallel_range(threads_for(ctx, x.numel()), x.numel() / cols, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t i = row % rows;
      // The kept columns [lo, hi): upper keeps j >= i + k, lower keeps j <= i + k.
      const int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      const int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      char* yr = dst + row * cols * es;
      const char* xr = src + row * cols * es;
      std::memset(yr, 0, static_cast<size_t>(lo) * es);
      std::memcpy(yr + lo * es, xr + lo * es, static_cast<size_t>(std::max<int64_t>(0, hi - lo)) * es);
      if (hi < cols) std::memset(yr + std::max(hi, lo) * es, 0, static_cast<size_t>(cols - std::max(hi, lo)) * es);
    }
  });
  return ok_status();
}

namespace {
// Coordinates of the non-zero elements, row-major order, into y [rank, count]. An element is non-zero when its bits
// under `mask` are: float32 is read as bits without the sign (-0 is zero; NaN and denormals are not, as the
// reference's `value != 0` has it, even where kernels run with denormals as zero).
template <typename T>
Status non_zero_typed(CpuKernelContext& ctx, const Tensor& x, T mask = static_cast<T>(~T(0))) {
  const T* p = static_cast<const T*>(x.raw());
  const int64_t n = x.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += (p[i] & mask) != 0 ? 1 : 0;
  const Dims dims = x.rank() == 0 ? Dims{1} : x.dims();
  const int64_t r = static_cast<int64_t>(dims.size());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {r, count}));
  int64_t* out = y->data<int64_t>();
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    if ((p[i] & mask) == 0) continue;
    int64_t rest = i;
    for (int64_t d = r - 1; d >= 0; --d) {
      out[d * count + j] = rest % dims[d];
      rest /= dims[d];
    }
    ++j;
  }
  return ok_status();
}
}  // namespace

NodeSupport non_zero_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (d == DType::kBool || d == DType::kUInt8 || d == DType::kInt8 || d == DType::kInt32 || d == DType::kInt64 ||
      d == DType::kFloat32)
    return NodeSupport::yes();
  return NodeSupport::no(std::string("dtype ") + dtype_name(d));
}

Status non_zero_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  switch (x.dtype()) {
    case DType::kBool:
    case DType::kUInt8: return non_zero_typed<uint8_t>(ctx, x);
    case DType::kInt8: return non_zero_typed<int8_t>(ctx, x);
    case DType::kInt32: return non_zero_typed<int32_t>(ctx, x);
    case DType::kInt64: return non_zero_typed<int64_t>(ctx, x);
    case DType::kFloat32: return non_zero_typed<uint32_t>(ctx, x, 0x7fffffffu);  // bits: immune to DAZ
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  }
}

}  // namespace kiln::cpu::kern
