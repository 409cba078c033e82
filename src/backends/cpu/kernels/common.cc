// Shared plumbing of the hand-written CPU kernels (see common.h).
#include "backends/cpu/kernels/common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "core/float_formats.h"

namespace kiln::cpu::kern {

// float32 -> bf16 (round to nearest even), 16 values per instruction where the CPU has AVX512-BF16.
#if defined(__x86_64__) && defined(__GNUC__)
static __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void to_bf16_avx512(const float* x, uint16_t* y,
                                                                                   int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), reinterpret_cast<const __m256i&>(v));
  }
  for (; i < n; ++i) y[i] = float_to_bf16(x[i]);
}
#endif
void floats_to_bf16(const float* x, uint16_t* y, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512bf16 = __builtin_cpu_supports("avx512bf16");
  if (avx512bf16) return to_bf16_avx512(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}


const TypeInfo* input_type(const Graph& g, const Node& n, size_t i) {
  if (!n.has_input(i)) return nullptr;
  const TypeInfo* t = g.type_of(n.inputs[i]);
  return t && t->is_tensor() ? t : nullptr;
}

const TypeInfo* output_type(const Graph& g, const Node& n, size_t i) {
  if (!n.has_output(i)) return nullptr;
  const TypeInfo* t = g.type_of(n.outputs[i]);
  return t && t->is_tensor() ? t : nullptr;
}

DType input_dtype(const Graph& g, const Node& n, size_t i) {
  const TypeInfo* t = input_type(g, n, i);
  return t ? t->dtype : DType::kUndefined;
}

int64_t input_rank(const Graph& g, const Node& n, size_t i) {
  const TypeInfo* t = input_type(g, n, i);
  return t && t->shape.rank_known ? static_cast<int64_t>(t->shape.rank()) : -1;
}

const Tensor* input_constant(const Graph& g, const Node& n, size_t i) {
  if (!n.has_input(i)) return nullptr;
  auto it = g.initializers.find(n.inputs[i]);
  return it == g.initializers.end() ? nullptr : &it->second;
}

NodeSupport require_dtypes(const Graph& g, const Node& n, const std::vector<size_t>& idx,
                           const std::vector<DType>& ok) {
  for (size_t i : idx) {
    if (!n.has_input(i)) continue;
    const DType d = input_dtype(g, n, i);
    if (d == DType::kUndefined) return NodeSupport::no("input " + std::to_string(i) + " has no inferred type");
    if (std::find(ok.begin(), ok.end(), d) == ok.end())
      return NodeSupport::no("input " + std::to_string(i) + " is " + dtype_name(d));
  }
  return NodeSupport::yes();
}

bool fixed_size_dtype(DType d) {
  if (d == DType::kUndefined || d == DType::kString) return false;
  const size_t s = dtype_size(d);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

int threads_for(const CpuKernelContext& ctx, int64_t work) {
  const int64_t most = work / kMinParallelWork;
  const int t = ctx.num_threads();
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(t, most)));
}

void set_gemm_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int64_t Bcast::rows() const {
  int64_t r = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) r *= shape[d];
  return r;
}

void Bcast::row_offsets(int64_t r, int64_t* offs) const {
  const size_t k = stride.size();
  for (size_t i = 0; i < k; ++i) offs[i] = 0;
  for (size_t d = shape.size() - 1; d-- > 0;) {
    const int64_t idx = r % shape[d];
    r /= shape[d];
    for (size_t i = 0; i < k; ++i) offs[i] += idx * stride[i][d];
  }
}

bool make_bcast(const std::vector<const Dims*>& ins, Bcast* b) {
  size_t rank = 0;
  for (const Dims* d : ins) rank = std::max(rank, d->size());
  Dims out(rank, 1);
  for (const Dims* d : ins) {
    const size_t off = rank - d->size();
    for (size_t j = 0; j < d->size(); ++j) {
      const int64_t v = (*d)[j];
      int64_t& o = out[off + j];
      if (v == o || v == 1) continue;
      if (o == 1) {
        o = v;
        continue;
      }
      return false;
    }
  }
  b->out = out;
  const size_t k = ins.size();
  // Per-input strides in output-dim space (0 where broadcast).
  std::vector<std::vector<int64_t>> st(k, std::vector<int64_t>(rank, 0));
  for (size_t i = 0; i < k; ++i) {
    const Dims& d = *ins[i];
    const size_t off = rank - d.size();
    int64_t s = 1;
    for (size_t j = d.size(); j-- > 0;) {
      st[i][off + j] = d[j] == 1 ? 0 : s;
      s *= d[j];
    }
  }
  b->shape.clear();
  b->stride.assign(k, {});
  for (size_t j = 0; j < rank; ++j) {
    if (out[j] == 1) continue;
    bool merge = !b->shape.empty();
    for (size_t i = 0; i < k && merge; ++i) merge = b->stride[i].back() == st[i][j] * out[j];
    if (merge) {
      b->shape.back() *= out[j];
      for (size_t i = 0; i < k; ++i) b->stride[i].back() = st[i][j];
    } else {
      b->shape.push_back(out[j]);
      for (size_t i = 0; i < k; ++i) b->stride[i].push_back(st[i][j]);
    }
  }
  if (b->shape.empty()) {
    b->shape.push_back(1);
    for (size_t i = 0; i < k; ++i) b->stride[i].push_back(0);
  }
  return true;
}

std::vector<int64_t> strides(const Dims& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

bool norm_axis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

std::vector<int64_t> read_ints(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kInt64) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<int64_t>()[i];
  } else if (t.dtype() == DType::kInt32) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<int32_t>()[i];
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.as_int64(i);
  }
  return v;
}

}  // namespace kiln::cpu::kern
