// Device code of the elementwise binary kernels: one templated kernel per (dtypes, op) with fast paths
// for same-shape (16-byte vectors), scalar and last-dim-vector operands, and a general strided path.
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/elementwise/binary.h"

namespace kiln::cuda {

namespace {

// Compute type of a storage type: float for the float dtypes, the type itself otherwise.
template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<__half> {
  using type = float;
};
template <>
struct ComputeOf<__nv_bfloat16> {
  using type = float;
};

template <typename C, typename T>
__device__ __forceinline__ C load_as(T v) {
  if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
    return static_cast<C>(to_f32(v));
  } else {
    return static_cast<C>(v);
  }
}
template <typename T, typename C>
__device__ __forceinline__ T store_as(C v) {
  if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
    return from_f32<T>(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

template <typename T>
__device__ __forceinline__ T int_pow(T base, int64_t e) {
  using U = typename UIntOf<sizeof(T)>::type;
  if (e < 0) {
    if (base == T(1)) return T(1);
    if (base == T(-1)) return (e % 2 == 0) ? T(1) : T(-1);
    return T(0);
  }
  U result = 1, b = static_cast<U>(base);
  while (e > 0) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<T>(result);
}

// op(a, b) in compute type C (B: the exponent's compute type for Pow). Returns C, or uint8_t for
// comparisons and logic.
template <BinaryOp OP, typename C, typename B>
__device__ __forceinline__ auto binop(C a, B b) {
  constexpr bool kFloat = std::is_floating_point_v<C>;
  using U = typename UIntOf<sizeof(C)>::type;
  if constexpr (OP == BinaryOp::kAdd) {
    if constexpr (kFloat)
      return a + b;
    else
      return static_cast<C>(static_cast<U>(a) + static_cast<U>(b));
  } else if constexpr (OP == BinaryOp::kSub) {
    if constexpr (kFloat)
      return a - b;
    else
      return static_cast<C>(static_cast<U>(a) - static_cast<U>(b));
  } else if constexpr (OP == BinaryOp::kMul) {
    if constexpr (kFloat)
      return a * b;
    else
      return static_cast<C>(static_cast<U>(a) * static_cast<U>(b));
  } else if constexpr (OP == BinaryOp::kDiv) {
    if constexpr (kFloat) {
      return a / b;
    } else {
      if (b == 0) return C(0);
      if (b == C(-1)) return static_cast<C>(U(0) - static_cast<U>(a));
      return static_cast<C>(a / b);
    }
  } else if constexpr (OP == BinaryOp::kMod || OP == BinaryOp::kFMod) {
    if constexpr (kFloat) {
      return fmodf(a, b);  // float Mod requires fmod=1
    } else {
      if (b == 0 || b == C(-1)) return C(0);
      C r = static_cast<C>(a % b);
      if (OP == BinaryOp::kMod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
      return r;
    }
  } else if constexpr (OP == BinaryOp::kPow) {
    if constexpr (kFloat) {
      return powf(a, static_cast<float>(b));
    } else if constexpr (std::is_floating_point_v<B>) {
      // Integer base, float exponent: computed in double, saturated into C.
      double v = pow(static_cast<double>(a), static_cast<double>(b));
      if (isnan(v)) return C(0);
      if (v <= static_cast<double>(std::numeric_limits<C>::lowest())) return std::numeric_limits<C>::lowest();
      if (v >= static_cast<double>(std::numeric_limits<C>::max())) return std::numeric_limits<C>::max();
      return static_cast<C>(v);
    } else {
      return int_pow<C>(a, static_cast<int64_t>(b));
    }
  } else if constexpr (OP == BinaryOp::kMax) {
    if constexpr (kFloat) {
      if (isnan(a) || isnan(b)) return isnan(a) ? a : b;
    }
    return b > a ? b : a;
  } else if constexpr (OP == BinaryOp::kMin) {
    if constexpr (kFloat) {
      if (isnan(a) || isnan(b)) return isnan(a) ? a : b;
    }
    return b < a ? b : a;
  } else if constexpr (OP == BinaryOp::kPRelu) {
    if constexpr (kFloat)
      return a < 0 ? a * b : a;
    else
      return a < 0 ? static_cast<C>(static_cast<U>(a) * static_cast<U>(b)) : a;
  } else if constexpr (OP == BinaryOp::kEqual) {
    return static_cast<uint8_t>(a == b);
  } else if constexpr (OP == BinaryOp::kLess) {
    return static_cast<uint8_t>(a < b);
  } else if constexpr (OP == BinaryOp::kLessOrEqual) {
    return static_cast<uint8_t>(a <= b);
  } else if constexpr (OP == BinaryOp::kGreater) {
    return static_cast<uint8_t>(a > b);
  } else if constexpr (OP == BinaryOp::kGreaterOrEqual) {
    return static_cast<uint8_t>(a >= b);
  } else if constexpr (OP == BinaryOp::kAnd) {
    return static_cast<uint8_t>((a != 0) && (b != 0));
  } else if constexpr (OP == BinaryOp::kOr) {
    return static_cast<uint8_t>((a != 0) || (b != 0));
  } else if constexpr (OP == BinaryOp::kXor) {
    return static_cast<uint8_t>((a != 0) != (b != 0));
  } else if constexpr (OP == BinaryOp::kBitwiseAnd) {
    return static_cast<C>(a & b);
  } else if constexpr (OP == BinaryOp::kBitwiseOr) {
    return static_cast<C>(a | b);
  } else {
    return static_cast<C>(a ^ b);
  }
}

enum Mode : int { kSame = 0, kScalarA = 1, kScalarB = 2, kRowB = 3, kRowA = 4, kGeneral = 5 };

template <BinaryOp OP, typename TA, typename TB, typename TO>
__device__ __forceinline__ TO apply(TA a, TB b) {
  using CA = typename ComputeOf<TA>::type;
  using CB = std::conditional_t<OP == BinaryOp::kPow, typename ComputeOf<TB>::type, CA>;
  return store_as<TO>(binop<OP, CA, CB>(load_as<CA>(a), load_as<CB>(b)));
}

template <BinaryOp OP, typename TA, typename TB, typename TO>
__global__ void binary_kernel(const TA* __restrict__ a, const TB* __restrict__ b, TO* __restrict__ out, int64_t n,
                              int mode, int64_t row, BroadcastDesc<2> d) {
  switch (mode) {
    case kSame: {
      int64_t start = 0;
      if constexpr (std::is_same_v<TA, TB> && std::is_same_v<TA, TO>) {
        constexpr int V = 16 / sizeof(TA);
        if (aligned16_dev(a) && aligned16_dev(b) && aligned16_dev(out)) {
          const int64_t nvec = n / V;
          KILN_GRID_LOOP(i, nvec) {
            uint4 ra = reinterpret_cast<const uint4*>(a)[i];
            const uint4 rb = reinterpret_cast<const uint4*>(b)[i];
            TA* ea = reinterpret_cast<TA*>(&ra);
            const TB* eb = reinterpret_cast<const TB*>(&rb);
#pragma unroll
            for (int v = 0; v < V; ++v) ea[v] = apply<OP, TA, TB, TO>(ea[v], eb[v]);
            reinterpret_cast<uint4*>(out)[i] = ra;
          }
          start = nvec * V;
        }
      }
      for (int64_t i = start + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
           i += static_cast<int64_t>(blockDim.x) * gridDim.x)
        out[i] = apply<OP, TA, TB, TO>(a[i], b[i]);
      break;
    }
    case kScalarA: {
      const TA av = a[0];
      KILN_GRID_LOOP(i, n) out[i] = apply<OP, TA, TB, TO>(av, b[i]);
      break;
    }
    case kScalarB: {
      const TB bv = b[0];
      KILN_GRID_LOOP(i, n) out[i] = apply<OP, TA, TB, TO>(a[i], bv);
      break;
    }
    // The broadcast paths below index with 32 bits when the output has fewer than 2^31 elements (every input
    // offset is then smaller too): 64-bit division and modulo were most of their time.
    case kRowB:
      if (n < INT32_MAX) {
        KILN_GRID_LOOP32(i, n) out[i] = apply<OP, TA, TB, TO>(a[i], b[i % static_cast<uint32_t>(row)]);
      } else {
        KILN_GRID_LOOP(i, n) out[i] = apply<OP, TA, TB, TO>(a[i], b[i % row]);
      }
      break;
    case kRowA:
      if (n < INT32_MAX) {
        KILN_GRID_LOOP32(i, n) out[i] = apply<OP, TA, TB, TO>(a[i % static_cast<uint32_t>(row)], b[i]);
      } else {
        KILN_GRID_LOOP(i, n) out[i] = apply<OP, TA, TB, TO>(a[i % row], b[i]);
      }
      break;
    default:
      if (n < INT32_MAX) {
        KILN_GRID_LOOP32(i, n) {
          uint32_t rem = i, oa = 0, ob = 0;
          for (int r = d.rank - 1; r >= 0; --r) {
            const uint32_t dim = static_cast<uint32_t>(d.dims[r]);
            const uint32_t q = rem / dim, c = rem - q * dim;
            rem = q;
            oa += c * static_cast<uint32_t>(d.strides[0][r]);
            ob += c * static_cast<uint32_t>(d.strides[1][r]);
          }
          out[i] = apply<OP, TA, TB, TO>(a[oa], b[ob]);
        }
      } else {
        KILN_GRID_LOOP(i, n) {
          int64_t off[2];
          broadcast_offsets<2>(d, i, off);
          out[i] = apply<OP, TA, TB, TO>(a[off[0]], b[off[1]]);
        }
      }
      break;
  }
}

// Picks the fastest path that `d` allows.
void choose_mode(const BroadcastDesc<2>& d, int* mode, int64_t* row) {
  *row = 1;
  const bool ca = is_contiguous_input(d, 0), cb = is_contiguous_input(d, 1);
  if (ca && cb) {
    *mode = kSame;
  } else if (cb && is_scalar_input(d, 0)) {
    *mode = kScalarA;
  } else if (ca && is_scalar_input(d, 1)) {
    *mode = kScalarB;
  } else if (d.rank == 2 && ca && d.strides[1][0] == 0 && d.strides[1][1] == 1) {
    *mode = kRowB;
    *row = d.dims[1];
  } else if (d.rank == 2 && cb && d.strides[0][0] == 0 && d.strides[0][1] == 1) {
    *mode = kRowA;
    *row = d.dims[1];
  } else {
    *mode = kGeneral;
  }
}

int64_t desc_numel(const BroadcastDesc<2>& d) {
  int64_t n = 1;
  for (int j = 0; j < d.rank; ++j) n *= d.dims[j];
  return n;
}

template <BinaryOp OP, typename TA, typename TB, typename TO>
cudaError_t launch_typed(const void* a, const void* b, void* out, const BroadcastDesc<2>& d, cudaStream_t s) {
  int mode;
  int64_t row;
  choose_mode(d, &mode, &row);
  const int64_t n = desc_numel(d);
  binary_kernel<OP, TA, TB, TO><<<grid_for(n), kThreads, 0, s>>>(static_cast<const TA*>(a), static_cast<const TB*>(b),
                                                                 static_cast<TO*>(out), n, mode, row, d);
  return cudaGetLastError();
}

template <typename T>
constexpr bool kIsFloatT = std::is_same_v<T, float> || std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
template <typename T>
constexpr bool kIsIntT = std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

// The type rules of each op (see binary.h); the launch when allowed.
template <BinaryOp OP, typename TA, typename TB>
cudaError_t launch_if_allowed(const void* a, const void* b, void* out, const BroadcastDesc<2>& d, cudaStream_t s,
                              bool dry_run) {
  constexpr bool kNum = kIsFloatT<TA> || kIsIntT<TA>;
  constexpr bool kSameT = std::is_same_v<TA, TB>;
  constexpr bool kBoolT = std::is_same_v<TA, uint8_t>;
  if constexpr (OP == BinaryOp::kPow) {
    if constexpr (kNum && (kIsFloatT<TB> || kIsIntT<TB>))
      return dry_run ? cudaSuccess : launch_typed<OP, TA, TB, TA>(a, b, out, d, s);
  } else if constexpr (OP == BinaryOp::kMod) {
    if constexpr (kSameT && kIsIntT<TA>) return dry_run ? cudaSuccess : launch_typed<OP, TA, TA, TA>(a, b, out, d, s);
  } else if constexpr (OP >= BinaryOp::kAdd && OP <= BinaryOp::kPRelu) {
    if constexpr (kSameT && kNum) return dry_run ? cudaSuccess : launch_typed<OP, TA, TA, TA>(a, b, out, d, s);
  } else if constexpr (OP >= BinaryOp::kEqual && OP <= BinaryOp::kGreaterOrEqual) {
    if constexpr (kSameT && (kNum || kBoolT))
      return dry_run ? cudaSuccess : launch_typed<OP, TA, TA, uint8_t>(a, b, out, d, s);
  } else if constexpr (OP >= BinaryOp::kAnd && OP <= BinaryOp::kXor) {
    if constexpr (kSameT && kBoolT) return dry_run ? cudaSuccess : launch_typed<OP, TA, TA, uint8_t>(a, b, out, d, s);
  } else {
    if constexpr (kSameT && kIsIntT<TA>) return dry_run ? cudaSuccess : launch_typed<OP, TA, TA, TA>(a, b, out, d, s);
  }
  return cudaErrorInvalidValue;
}

#define KILN_DTYPE_SWITCH(dt, MACRO) \
  switch (dt) {                      \
    case DType::kFloat32:            \
      MACRO(float)                   \
    case DType::kFloat16:            \
      MACRO(__half)                  \
    case DType::kBFloat16:           \
      MACRO(__nv_bfloat16)           \
    case DType::kInt32:              \
      MACRO(int32_t)                 \
    case DType::kInt64:              \
      MACRO(int64_t)                 \
    case DType::kBool:               \
      MACRO(uint8_t)                 \
    default:                         \
      return cudaErrorInvalidValue;  \
  }

template <BinaryOp OP, typename TA>
cudaError_t launch_a(DType bt, const void* a, const void* b, void* out, const BroadcastDesc<2>& d, cudaStream_t s,
                     bool dry_run) {
  if constexpr (OP == BinaryOp::kPow) {
#define KILN_B_CASE(TB) return launch_if_allowed<OP, TA, TB>(a, b, out, d, s, dry_run);
    KILN_DTYPE_SWITCH(bt, KILN_B_CASE)
#undef KILN_B_CASE
  } else {
    return launch_if_allowed<OP, TA, TA>(a, b, out, d, s, dry_run);
  }
}

template <BinaryOp OP>
cudaError_t launch_op(DType at, DType bt, const void* a, const void* b, void* out, const BroadcastDesc<2>& d,
                      cudaStream_t s, bool dry_run) {
  if (OP != BinaryOp::kPow && at != bt) return cudaErrorInvalidValue;
#define KILN_A_CASE(TA) return launch_a<OP, TA>(bt, a, b, out, d, s, dry_run);
  KILN_DTYPE_SWITCH(at, KILN_A_CASE)
#undef KILN_A_CASE
}

cudaError_t dispatch(BinaryOp op, DType at, DType bt, const void* a, const void* b, void* out,
                     const BroadcastDesc<2>& d, cudaStream_t s, bool dry_run) {
  switch (op) {
#define KILN_BINARY_CASE(name) \
  case BinaryOp::name:         \
    return launch_op<BinaryOp::name>(at, bt, a, b, out, d, s, dry_run);
    KILN_BINARY_CASE(kAdd)
    KILN_BINARY_CASE(kSub)
    KILN_BINARY_CASE(kMul)
    KILN_BINARY_CASE(kDiv)
    KILN_BINARY_CASE(kMod)
    KILN_BINARY_CASE(kFMod)
    KILN_BINARY_CASE(kPow)
    KILN_BINARY_CASE(kMax)
    KILN_BINARY_CASE(kMin)
    KILN_BINARY_CASE(kPRelu)
    KILN_BINARY_CASE(kEqual)
    KILN_BINARY_CASE(kLess)
    KILN_BINARY_CASE(kLessOrEqual)
    KILN_BINARY_CASE(kGreater)
    KILN_BINARY_CASE(kGreaterOrEqual)
    KILN_BINARY_CASE(kAnd)
    KILN_BINARY_CASE(kOr)
    KILN_BINARY_CASE(kXor)
    KILN_BINARY_CASE(kBitwiseAnd)
    KILN_BINARY_CASE(kBitwiseOr)
    KILN_BINARY_CASE(kBitwiseXor)
#undef KILN_BINARY_CASE
  }
  return cudaErrorInvalidValue;
}

template <typename T, BinaryOp OP>
__global__ void fold_kernel(const __grid_constant__ FoldInputs in, T* __restrict__ out, int64_t n, bool mean) {
  using C = typename ComputeOf<T>::type;
  KILN_GRID_LOOP(i, n) {
    int64_t off[kMaxFoldInputs];
    broadcast_offsets<kMaxFoldInputs>(in.desc, i, off);
    C acc = load_as<C>(static_cast<const T*>(in.ptr[0])[off[0]]);
    for (int k = 1; k < in.count; ++k) acc = binop<OP, C, C>(acc, load_as<C>(static_cast<const T*>(in.ptr[k])[off[k]]));
    if constexpr (std::is_floating_point_v<C>) {
      if (mean) acc = acc / static_cast<C>(in.count);
    }
    out[i] = store_as<T>(acc);
  }
}

template <BinaryOp OP>
cudaError_t launch_fold_op(bool mean, DType dt, const FoldInputs& in, void* out, int64_t n, cudaStream_t s) {
  switch (dt) {
#define KILN_FOLD_CASE(kind, T)                                                             \
  case DType::kind:                                                                         \
    fold_kernel<T, OP><<<grid_for(n), kThreads, 0, s>>>(in, static_cast<T*>(out), n, mean); \
    return cudaGetLastError();
    KILN_FOLD_CASE(kFloat32, float)
    KILN_FOLD_CASE(kFloat16, __half)
    KILN_FOLD_CASE(kBFloat16, __nv_bfloat16)
    KILN_FOLD_CASE(kInt32, int32_t)
    KILN_FOLD_CASE(kInt64, int64_t)
#undef KILN_FOLD_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

template <typename E>
__global__ void where_kernel(const uint8_t* __restrict__ c, const E* __restrict__ x, const E* __restrict__ y,
                             E* __restrict__ out, int64_t n, BroadcastDesc<3> d) {
  KILN_GRID_LOOP(i, n) {
    int64_t off[3];
    broadcast_offsets<3>(d, i, off);
    out[i] = c[off[0]] ? x[off[1]] : y[off[2]];
  }
}

}  // namespace

cudaError_t launch_binary(BinaryOp op, DType at, DType bt, const void* a, const void* b, void* out,
                          const BroadcastDesc<2>& d, cudaStream_t s) {
  return dispatch(op, at, bt, a, b, out, d, s, false);
}

bool binary_supported(BinaryOp op, DType at, DType bt) {
  BroadcastDesc<2> d;
  return dispatch(op, at, bt, nullptr, nullptr, nullptr, d, nullptr, true) == cudaSuccess;
}

cudaError_t launch_fold(BinaryOp op, bool mean, DType dt, const FoldInputs& in, void* out, int64_t n, cudaStream_t s) {
  switch (op) {
    case BinaryOp::kAdd:
      return launch_fold_op<BinaryOp::kAdd>(mean, dt, in, out, n, s);
    case BinaryOp::kMax:
      return launch_fold_op<BinaryOp::kMax>(false, dt, in, out, n, s);
    case BinaryOp::kMin:
      return launch_fold_op<BinaryOp::kMin>(false, dt, in, out, n, s);
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_where(size_t es, const uint8_t* c, const void* x, const void* y, void* out,
                         const BroadcastDesc<3>& d, cudaStream_t s) {
  int64_t n = 1;
  for (int j = 0; j < d.rank; ++j) n *= d.dims[j];
  switch (es) {
#define KILN_WHERE_CASE(bytes)                                                                              \
  case bytes: {                                                                                             \
    using E = UIntOf<bytes>::type;                                                                          \
    where_kernel<E><<<grid_for(n), kThreads, 0, s>>>(c, static_cast<const E*>(x), static_cast<const E*>(y), \
                                                     static_cast<E*>(out), n, d);                           \
    break;                                                                                                  \
  }
    KILN_WHERE_CASE(1)
    KILN_WHERE_CASE(2)
    KILN_WHERE_CASE(4)
    KILN_WHERE_CASE(8)
#undef KILN_WHERE_CASE
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
